# Terminrelay relay and practice client in one image.
#   docker build -t terminrelay .
#   docker run --env-file .env terminrelay            # relay serve
#   docker run --entrypoint practice-client terminrelay --help
# docker-compose.yml beside this file runs it with Redis; see .env.example for settings.

# --- builder: exactly requirements/relay.lock and the project, installed under /install ---
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src
# .dockerignore keeps .git, .venv, caches and any .env out of this copy.
COPY . .
# The lock twice: here, for the setuptools that builds the project's wheel (no build
# isolation, so nothing unpinned is fetched), and under /install for the image. Every
# file's hash is checked, wheels only; the project itself adds no dependency (--no-deps).
RUN pip install --require-hashes --no-deps --only-binary :all: -r requirements/relay.lock \
 && pip install --require-hashes --no-deps --only-binary :all: --prefix /install \
      -r requirements/relay.lock \
 && pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
 && pip install --no-deps --no-index --prefix /install /wheels/terminrelay-*.whl

# --- runtime: slim Python, no compilers, no build tree, no wheels, not root ---
FROM python:3.11-slim

LABEL org.opencontainers.image.title="terminrelay" \
      org.opencontainers.image.description="End-to-end encrypted relay for appointment requests to medical practices" \
      org.opencontainers.image.licenses="AGPL-3.0-or-later"

# RELAY_HOST: inside a container the relay must listen beyond loopback; compose publishes
# the port on the host's loopback only, for the TLS-terminating proxy in front.
ENV RELAY_HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# A fixed uid, so volume ownership and file modes (the practice key is 0600) stay stable.
# /keys and /bookings exist owned by that user, so fresh named volumes mounted there are
# initialised with this owner (the practice client writes both).
RUN groupadd --system --gid 10001 relay \
 && useradd --system --uid 10001 --gid relay --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin relay \
 && mkdir /keys /bookings \
 && chown relay:relay /keys /bookings \
 && chmod 0700 /keys

COPY --from=builder /install /usr/local

USER 10001:10001
WORKDIR /tmp

EXPOSE 8080

# slim has no curl: ask /readyz (Redis reachable) with the standard library; any status
# other than 2xx, a refused connection or a timeout raises and marks the container unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('RELAY_PORT', '8080'), timeout=4)"]

# aiohttp's run_app shuts down cleanly on SIGTERM; compose waits 15 s before SIGKILL.
STOPSIGNAL SIGTERM

ENTRYPOINT ["relay"]
CMD ["serve"]
