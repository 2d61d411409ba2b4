"""gunicorn settings for the search service: ``gunicorn -c webapp/gunicorn_conf.py webapp.wsgi:app``.

Workers, threads and the bind address are settings of the service (FINNEWS_WORKERS,
FINNEWS_THREADS, FINNEWS_BIND; webapp/settings.py); the rest is what the service needs to behave
as designed. The command line and GUNICORN_CMD_ARGS still override any of it.
"""

import gc

from webapp.settings import configure_process, load_settings

configure_process(serving=True)
settings = load_settings()

# Load the app (and its models) once in the master, then fork: workers share the weights.
preload_app = True
workers = settings.workers
# Threads let a worker wait on the network while another request computes; the encoders'
# locks and torch's own threads keep the CPU busy without oversubscribing it.
worker_class = "gthread"
threads = settings.threads
bind = settings.bind
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


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
