"""gunicorn settings for the search service: ``gunicorn -c webapp/gunicorn_conf.py webapp.wsgi:app``.

Bind address, worker count and the like can still be given on the command line or in
GUNICORN_CMD_ARGS; the values here are what the service needs to behave as designed.
"""

import gc
import multiprocessing
import os
import tempfile

# Load the app (and its models) once in the master, then fork: workers share the weights.
preload_app = True
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count())))
# Threads let a worker wait on the network while another request computes; the encoders'
# locks and torch's own threads keep the CPU busy without oversubscribing it.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", 4))
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
timeout = 60
graceful_timeout = 30
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss'

# Workers write their Prometheus samples here so /metrics can add them up.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="finnews-prometheus-"))


def when_ready(server):
    # Everything preloading created (the models above all) moves to the garbage collector's
    # permanent generation, before the workers are forked: their collections then never walk
    # those objects, so they neither spend time there nor write to (and so un-share) the pages.
    gc.freeze()


def post_fork(server, worker):
    import torch

    # Split the cores between the workers instead of every worker using all of them.
    torch.set_num_threads(max(1, multiprocessing.cpu_count() // server.cfg.workers))


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
