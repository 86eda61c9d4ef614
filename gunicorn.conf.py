"""gunicorn settings for production (README, "Production"); each can be set from the
environment. The worker model was chosen by `make bench` (README, "Performance")."""

import os

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
