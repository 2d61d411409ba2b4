"""Financial-news semantic search: the Flask application factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from flask import Flask, current_app
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp.settings import Settings, configure_process, load_settings

if TYPE_CHECKING:
    from webapp.deadline import DeadlineRunner
    from webapp.service import SearchService

# Where the app keeps its settings, its search service and its request deadline (app.extensions).
SETTINGS = "finnews.settings"
SEARCH_SERVICE = "finnews.search_service"
DEADLINE = "finnews.deadline"


def create_app(test_config: Mapping[str, object] | None = None) -> Flask:
    """The app, configured from the FINNEWS_* environment, or (tests) from ``test_config`` and the
    defaults alone (webapp.settings)."""
    # The `flask` and `python -m tools` commands and the WSGI app all start here, before anything
    # loads torch (gunicorn's configuration has already prepared its process for serving).
    configure_process(serving=False)
    app = Flask(__name__, instance_relative_config=True)
    app.json.sort_keys = False  # keep the schemas' field order in responses
    settings = load_settings(test_config).with_instance_paths(app.instance_path)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    # REMOTE_ADDR becomes the client's address as the trusted proxies saw it, in the environ that
    # gunicorn's access log reads too. Only X-Forwarded-For: the scheme is read for HSTS alone
    # (webapp.headers), and the host and port are the service's own.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies, x_proto=0)
    if not app.debug:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from webapp import api, auth, cli, errors, headers, metrics, ratelimit, request_id, ui
    from webapp.deadline import DeadlineRunner, SharedCall
    from webapp.service import SearchService, process_registry
    from webapp.store import open_store

    app.extensions[SETTINGS] = settings
    deadline = app.extensions[DEADLINE] = DeadlineRunner(settings.threads, settings.request_timeout)
    # Models start loading on the first request, or when gunicorn's master preloads the app
    # (webapp/wsgi.py); CLI commands that need no models never load them.
    app.extensions[SEARCH_SERVICE] = SearchService(
        registry=process_registry(settings),
        store=open_store(settings),
        version=settings.app_version,
        ask_store_health=SharedCall(deadline, "the store's health check", settings.health_max_age),
    )

    errors.register_error_handlers(app)
    headers.init_app(app)
    request_id.init_app(app)
    auth.init_app(app)
    ratelimit.init_app(app)  # after auth: an unauthenticated search is 401, not 429
    metrics.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(ui.bp)
    cli.init_app(app)
    return app


def current_settings() -> Settings:
    return current_app.extensions[SETTINGS]


def current_service() -> SearchService:
    return current_app.extensions[SEARCH_SERVICE]


def current_deadline() -> DeadlineRunner:
    return current_app.extensions[DEADLINE]
