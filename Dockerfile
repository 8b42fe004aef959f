# Scheduler API container image.
#
#   docker build -t scheduler-api:1.0.0 .
#
# Dependencies come from requirements.lock (hash-pinned, written by `make lock`); the Redis-
# compatible server of local runs (the `embedded` extra) and the test tools are not installed.
#
# BASE_IMAGE must provide Python 3.11+ with venv as `python3` (the official python image does).
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python3 -m venv /opt/venv
# Dependencies first, from the lock file alone, so that a code change does not reinstall them.
# Every file is pinned and hash-checked (`make lock` writes requirements.lock from uv.lock):
# two builds of one commit install the same bytes. setuptools is in the lock to build the
# package below without fetching an unpinned build backend.
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
# README.md is the package long description; the glob keeps a checkout without it buildable.
COPY pyproject.toml README.md* LICENSE ./
COPY service ./service
# Byte-code is compiled here, at build time: the runtime root filesystem is read-only. pip and
# setuptools are removed last: nothing installs anything at run time.
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation . \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib \
    && /opt/venv/bin/python -m pip uninstall --yes --quiet setuptools pip

FROM ${BASE_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    API_HOST=0.0.0.0 \
    API_PORT=8000
# A fixed, unprivileged identity that matches the Kubernetes securityContext (runAsUser 10001).
RUN groupadd --system --gid 10001 scheduler \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin scheduler
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# The service handles SIGTERM itself: it turns unready, drains, then exits.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('API_PORT', '8000'), timeout=2)"]
CMD ["python", "-m", "service"]
