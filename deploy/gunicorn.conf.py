"""gunicorn's settings for Fund Circle, the same in the container, under systemd and in the tests:
`gunicorn --config deploy/gunicorn.conf.py 'fundcircle:create_app()'`.

The timeout is longer than the longest request the app can make: a treasurer's final approval requests the payout
from Open Collective in the same request, and reads are tried three times, each up to the connect and read
timeouts. A worker killed in the middle of that call would leave the payout's outcome unknown.
"""

import os
import shutil
from pathlib import Path

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
_connect = float(os.environ.get("OPENCOLLECTIVE_CONNECT_TIMEOUT", "5"))
_read = float(os.environ.get("OPENCOLLECTIVE_READ_TIMEOUT", "30"))
timeout = int(3 * (_connect + _read) + 30)
graceful_timeout = 30
# The app writes the access log itself (fundcircle/observability.py: JSON, a request id, secrets in URLs redacted);
# gunicorn's would print the webhook's secret as sent.
accesslog = None
errorlog = "-"
# The proxy in front (nginx, Caddy) on the same machine or network; the app trusts PROXY_COUNT hops of X-Forwarded-*.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server):
    """prometheus-client's files of several workers (PROMETHEUS_MULTIPROC_DIR) start empty with each server."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        Path(directory).mkdir(parents=True, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
