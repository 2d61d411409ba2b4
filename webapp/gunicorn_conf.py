"""gunicorn settings for the search service: ``gunicorn -c webapp/gunicorn_conf.py webapp.wsgi:app``.

What an operator may tune is a setting of the service (FINNEWS_WORKERS, _THREADS, _BIND,
_KEEPALIVE, _MAX_REQUESTS, _MAX_REQUESTS_JITTER, _WORKER_CONNECTIONS, _BACKLOG; webapp/settings.py
says why each default is what it is); the rest is what the service needs to behave as designed.
The command line and GUNICORN_CMD_ARGS still override any of it.

Behind an ALB: idle connections outlive the balancer's idle timeout (keepalive), workers are
replaced now and then (max_requests with jitter), and each worker holds a bounded number of
connections (worker_connections) above a bounded listen queue (backlog). gthread's heartbeat
does not notice a hung request, so each search and health request has its own deadline
(FINNEWS_REQUEST_TIMEOUT, webapp/deadline.py), answered 503 when it passes.
"""

import gc
import shutil

from webapp.settings import configure_process, load_settings

metrics_dir_made_here = configure_process(serving=True)
settings = load_settings()

# Load the app (and its models) once in the master, then fork: workers share the weights.
preload_app = True
workers = settings.workers
# Threads let a worker wait on the network while another request computes; the encoders'
# locks and torch's own threads keep the CPU busy without oversubscribing it.
worker_class = "gthread"
threads = settings.threads
bind = settings.bind
keepalive = settings.keepalive
max_requests = settings.max_requests
max_requests_jitter = settings.max_requests_jitter
worker_connections = settings.worker_connections
backlog = settings.backlog
# A worker that stops answering its master (a sync worker's hung request, a stuck process) is
# killed and replaced after this long; gthread's requests have their own deadline.
timeout = 60
graceful_timeout = 30
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss'


def when_ready(server):
    # Everything preloading created (the models above all) moves to the garbage collector's
    # permanent generation, before the workers are forked: their collections then never walk
    # those objects, so they neither spend time there nor write to (and so un-share) the pages.
    gc.freeze()


def pre_fork(server, worker):
    from webapp import SEARCH_SERVICE
    from webapp.wsgi import app

    # Runtimes that own threads are let go before forking: a worker would inherit them dead.
    app.extensions[SEARCH_SERVICE].registry.before_fork()


def post_fork(server, worker):
    from webapp import SEARCH_SERVICE
    from webapp.service import worker_threads
    from webapp.wsgi import app

    # Split the cores between the workers instead of every worker using all of them; the
    # encoders whose runtimes do not survive a fork get one of their own (webapp/encoders.py).
    app.extensions[SEARCH_SERVICE].registry.for_worker(worker_threads(server.cfg.workers))


def on_exit(server):
    # The metric samples of a server that stopped are read by nobody: a directory made for it
    # goes with it, or every start would leave one behind in the temporary directory.
    if metrics_dir_made_here:
        shutil.rmtree(metrics_dir_made_here, ignore_errors=True)


def child_exit(server, worker):
    from webapp.metrics import retire_process

    retire_process(worker.pid)
