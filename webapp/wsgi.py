"""The WSGI entry point for gunicorn (webapp/gunicorn_conf.py preloads it in the master).

Loading the models here, before gunicorn forks its workers, means every worker shares the
weights' memory pages, and no worker accepts a request before its models are ready. If the
models cannot be loaded (missing or corrupt cache) the server refuses to start, loudly; so it
does without API tokens, unless FINNEWS_ALLOW_ANONYMOUS says it may serve everyone (webapp.auth).
"""

import logging

from webapp import SEARCH_SERVICE, SETTINGS, create_app
from webapp.settings import SettingsError

app = create_app()
refusal = app.extensions[SETTINGS].serving_refusal()
if refusal:
    raise SettingsError(f"the service will not start: {refusal}")
if app.extensions[SETTINGS].allow_anonymous and not app.extensions[SETTINGS].api_tokens:
    logging.getLogger(__name__).warning("FINNEWS_ALLOW_ANONYMOUS: serving everyone without a token (development)")
app.extensions[SEARCH_SERVICE].registry.wait_until_loaded()
