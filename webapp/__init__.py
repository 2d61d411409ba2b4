"""Financial-news semantic search: the Flask application factory."""

from __future__ import annotations

import logging
import os

from flask import Flask

# A gunicorn worker once spun forever inside MKL's own memory manager (mkl_serv_allocate ->
# mm_account_ptr_by_tid) during concurrent bfloat16 matrix products, every other search thread
# waiting behind it. With this set, MKL takes its buffers from malloc instead; it must be set
# before torch loads MKL, so here, where every entry point (gunicorn, flask, tests) starts.
os.environ.setdefault("MKL_DISABLE_FAST_MM", "1")

# Read from the environment as they are: JSON parsing would turn a password such as "123456" or
# "true" into a number or a boolean.
VERBATIM_SETTINGS = ("ES_API_KEY", "ES_USERNAME", "ES_PASSWORD", "API_TOKENS")


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.json.sort_keys = False  # keep the schemas' field order in responses
    app.config.from_object("webapp.config")
    if test_config is None:
        app.config.from_prefixed_env("FINNEWS")
        app.config.update(
            {key: os.environ[f"FINNEWS_{key}"] for key in VERBATIM_SETTINGS if f"FINNEWS_{key}" in os.environ}
        )
    else:
        app.config.update(test_config)
    app.config["STORE_PATH"] = app.config["STORE_PATH"] or os.path.join(app.instance_path, "index")
    app.config["MODEL_CACHE_DIR"] = app.config["MODEL_CACHE_DIR"] or os.path.join(app.instance_path, "models")
    if not app.debug:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from webapp import api, auth, cli, errors, metrics, ui
    from webapp.service import SearchService, process_registry
    from webapp.store import open_store

    # Models start loading on the first request, or when gunicorn's master preloads the app
    # (webapp/wsgi.py); CLI commands that need no models never load them.
    app.extensions["search_service"] = SearchService(
        registry=process_registry(app.config["MODEL_CACHE_DIR"], app.config["QUERY_CACHE_SIZE"]),
        store=open_store(app.config),
        version=app.config["APP_VERSION"],
    )

    errors.register_error_handlers(app)
    auth.init_app(app)
    metrics.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(ui.bp)
    cli.init_app(app)
    return app
