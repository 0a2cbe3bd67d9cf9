# syntax=docker/dockerfile:1
# The dossierflow worker image: `docker compose up` runs it as `worker` and, with
# `command: ["topics"]`, as the one-shot topic creator. See docs/monitoring.md.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY events ./events
COPY workflows ./workflows
COPY agents ./agents
COPY monitoring ./monitoring
# Every dependency ships a manylinux wheel: no compiler needed.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/dossierflow dossierflow
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER dossierflow
WORKDIR /var/lib/dossierflow
# The web port serves the status API (docs/security.md "Reads"): loopback unless the one
# who runs the image says otherwise. docker-compose.yml listens on its private network
# (for Prometheus) and publishes the port on the host's 127.0.0.1 only.
ENV PYTHONUNBUFFERED=1 \
    DOSSIERFLOW_WEB_HOST=127.0.0.1 \
    DOSSIERFLOW_WEB_PORT=6066 \
    DOSSIERFLOW_DATA_DIR=/var/lib/dossierflow/data
EXPOSE 6066
# /health answers 200 once the worker has its partitions and recovered its tables; it is on
# the ops port when DOSSIERFLOW_OPS_PORT gives one.
HEALTHCHECK --interval=10s --timeout=5s --start-period=90s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + (os.environ.get('DOSSIERFLOW_OPS_PORT') or os.environ.get('DOSSIERFLOW_WEB_PORT', '6066')) + '/health', timeout=4)"
ENTRYPOINT ["dossierflow"]
CMD ["worker"]
