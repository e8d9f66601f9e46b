# syntax=docker/dockerfile:1
# ailayer's container image (docs/deploy.md, "Container image").
#   docker build --build-arg EXTRAS=s3,otel -t ailayer:0.1.0 .
# Two stages: the builder compiles wheels for ailayer and every dependency; the final
# stage installs only those wheels, so it carries no compiler and no build cache.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
ARG EXTRAS=""
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".${EXTRAS:+[$EXTRAS]}"

FROM ${PYTHON_IMAGE} AS runtime
ARG EXTRAS=""
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AILAYER_HOME=/data \
    AILAYER_HOST=0.0.0.0 \
    AILAYER_PORT=8000
RUN groupadd --system --gid 10001 ailayer \
    && useradd --system --uid 10001 --gid ailayer --home-dir /home/ailayer --create-home ailayer \
    && mkdir -p /data \
    && chown ailayer:ailayer /data
# hadolint ignore=DL3013
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels "ailayer${EXTRAS:+[$EXTRAS]}"
USER 10001:10001
WORKDIR /home/ailayer
VOLUME ["/data"]
EXPOSE 8000
# Liveness of the HTTP roles (`serve`, `up`); Kubernetes uses its own probes instead.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('AILAYER_PORT', '8000') + '/healthz', timeout=4)"]
ENTRYPOINT ["ailayer"]
CMD ["serve"]
