"""gunicorn settings for production (README, "Production"); each can be set from the
environment. The worker model was chosen by `make bench` (README, "Performance")."""

import os
import sys

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# nginx in front keeps the clients' connections open; these are its connections here.
keepalive = 2
timeout = 30
graceful_timeout = 30
# A worker is replaced now and then, so that no slow leak can grow for weeks.
max_requests = 20000
max_requests_jitter = 2000
# The app writes one JSON line per request (README, "Health, metrics and logs"): gunicorn's
# own access log is off unless asked for, so a request is not logged twice.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
# The tokens of e-mailed links are written as "[token]" (consular/access_log.py).
logger_class = "consular.access_log.TokenRedactingLogger"
errorlog = "-"
# gunicorn's own lines (workers started, killed, timed out) in the app's format, on stderr;
# the root logger is left to the app, which adds its handler when each worker loads it.
_LOG_FORMAT = os.environ.get("LOG_FORMAT", "").strip().lower() or "json"
logconfig_dict = {
    "root": {"level": "INFO", "handlers": []},
    "loggers": {
        "gunicorn.error": {"handlers": ["consular"], "propagate": False},
    },
    "handlers": {
        "consular": {
            "()": "consular.observability.logs.handler",
            "log_format": _LOG_FORMAT,
        },
    },
    "formatters": {},
}


def child_exit(_server, worker):
    """Let prometheus_client forget the live gauges of a worker that has exited (its
    counters stay in PROMETHEUS_MULTIPROC_DIR and still add up)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# A deploy is `systemctl reload consular-web` (deploy/README.md): HUP starts new workers, which
# import the new code (preload_app stays off), while the old ones finish their requests. The
# access logger above brought the app's package into this master; the new workers would
# inherit it as it was when the master started, so it is forgotten first.
def on_reload(arbiter: object) -> None:
    for name in [name for name in sys.modules if name.partition(".")[0] == "consular"]:
        del sys.modules[name]
