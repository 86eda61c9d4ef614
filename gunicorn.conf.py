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
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
# The tokens of e-mailed links are written as "[token]" (consular/access_log.py).
logger_class = "consular.access_log.TokenRedactingLogger"
errorlog = "-"


# A deploy is `systemctl reload consular-web` (deploy/README.md): HUP starts new workers, which
# import the new code (preload_app stays off), while the old ones finish their requests. The
# access logger above brought the app's package into this master; the new workers would
# inherit it as it was when the master started, so it is forgotten first.
def on_reload(arbiter: object) -> None:
    for name in [name for name in sys.modules if name.partition(".")[0] == "consular"]:
        del sys.modules[name]
