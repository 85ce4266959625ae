# Fund Circle's image: the wheel of this checkout, its dependencies exactly as locked (requirements/runtime.txt,
# with hashes), run by gunicorn as an unprivileged user. compose.yaml runs the same image as the app, the worker
# and the one-shot migration.
FROM python:3.11-slim-bookworm AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY fundcircle ./fundcircle
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
# pg_dump and pg_restore for `flask backup` and `flask restore` (the server in compose.yaml is PostgreSQL 15).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/*
COPY requirements/runtime.txt /tmp/runtime.txt
RUN pip install --no-cache-dir --require-hashes -r /tmp/runtime.txt && rm /tmp/runtime.txt
COPY --from=wheel /wheels /wheels
RUN pip install --no-cache-dir --no-deps /wheels/*.whl && rm -rf /wheels
COPY deploy/gunicorn.conf.py /etc/fundcircle/gunicorn.conf.py
# Flask's instance folder of an installed package (sys.prefix/var/fundcircle-instance), writable by the app only.
RUN useradd --system --uid 10001 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin fundcircle \
    && mkdir -p /usr/local/var/fundcircle-instance /backups \
    && chown fundcircle:fundcircle /usr/local/var/fundcircle-instance /backups
USER fundcircle
ENV FUNDCIRCLE_ENV=production \
    PYTHONUNBUFFERED=1 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/fundcircle-metrics
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["gunicorn", "--config", "/etc/fundcircle/gunicorn.conf.py", "fundcircle:create_app()"]
