"""The WSGI entry point for gunicorn (webapp/gunicorn_conf.py preloads it in the master).

Loading the models here, before gunicorn forks its workers, means every worker shares the
weights' memory pages, and no worker accepts a request before its models are ready. If the
models cannot be loaded (missing or corrupt cache) the server refuses to start, loudly.
"""

from webapp import SEARCH_SERVICE, create_app

app = create_app()
app.extensions[SEARCH_SERVICE].registry.wait_until_loaded()
