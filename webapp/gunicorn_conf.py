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
import logging
import os
import shutil
import signal
import sys

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
# The client's address (REMOTE_ADDR, taken from X-Forwarded-For by the app: webapp/__init__.py),
# the caller's label (a person's sub, a token's fingerprint, never a secret: webapp/auth.py) and
# the request's id, under which the service logs what failed (webapp/request_id.py).
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss %({finnews.caller}e)s %({x-request-id}o)s'


def when_ready(server):
    # Everything preloading created (the models above all) moves to the garbage collector's
    # permanent generation, before the workers are forked: their collections then never walk
    # those objects, so they neither spend time there nor write to (and so un-share) the pages.
    gc.freeze()


def pre_fork(server, worker):
    from webapp import SEARCH_SERVICE
    from webapp.wsgi import app

    # Runtimes that own threads are let go before forking: a worker would inherit them dead.
    # Those that compile leave the compiled model for the workers to import (webapp/encoders.py).
    app.extensions[SEARCH_SERVICE].registry.before_fork()


def post_fork(server, worker):
    from webapp import SEARCH_SERVICE
    from webapp.service import worker_threads
    from webapp.wsgi import app

    # Until the worker sets its own signal handlers (after this hook) it runs the master's,
    # which would swallow a stop: a booting worker told to stop holds no request and ends now,
    # instead of the master waiting out graceful_timeout for it.
    for stop in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(stop, _end_booting_worker)
    # Split the cores between the workers instead of every worker using all of them; the
    # encoders whose runtimes do not survive a fork get one of their own (webapp/encoders.py).
    # This runs before the worker accepts a connection, so a worker that is booting (a start,
    # a recycle after max_requests) takes no request it cannot answer: until it is ready the
    # other workers take them, or they wait in the listen queue. It must end well within
    # `timeout`, after which the master kills a worker that has not reported.
    app.extensions[SEARCH_SERVICE].registry.for_worker(worker_threads(server.cfg.workers))


def _end_booting_worker(signum, frame):
    os._exit(0)


def worker_exit(server, worker):
    # A worker that served ends here, its requests answered, without the interpreter's teardown:
    # destroying ONNX Runtime's thread pools in a forked child either waits forever for a thread
    # to join (the master then waits out graceful_timeout: every stop and recycle 30 s late) or
    # aborts the process (SIGABRT), whichever thread made them. Nothing is lost: the logs are
    # flushed, the metric samples are the master's to retire (child_exit). A worker that failed
    # to boot exits as gunicorn decides, so that its exit code still stops the master.
    if worker.booted:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def on_exit(server):
    from webapp import SEARCH_SERVICE

    # The metric samples and compiled models of a server that stopped are read by nobody: the
    # directories made for it go with it, or every start would leave them in the temporary
    # directory (the compiled models are hundreds of MB).
    if metrics_dir_made_here:
        shutil.rmtree(metrics_dir_made_here, ignore_errors=True)
    if (wsgi := sys.modules.get("webapp.wsgi")) is not None:  # absent when the app failed to load
        wsgi.app.extensions[SEARCH_SERVICE].registry.remove_compiled_cache()


def child_exit(server, worker):
    from webapp.metrics import retire_process

    retire_process(worker.pid)
