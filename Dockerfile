# syntax=docker/dockerfile:1
# ibbot's image: a virtual environment built with uv in one stage, copied into a slim Python image
# that runs `ibbot` as an unprivileged user. No secret is baked in: credentials and settings arrive
# at run time (environment, a mounted settings.toml, Docker secrets for the gateway).
#
# No uv.lock is committed (and .dockerignore keeps a local one out of the build context), so the
# build resolves from pyproject.toml; `[tool.uv] exclude-newer` there pins that resolution to what
# the registries held on one date, so every build picks the same versions.

# The builder and the final stage must use the same image: the virtual environment's interpreter
# is a link to the base image's Python.
ARG PYTHON_IMAGE=python:3.11-slim
ARG UV_VERSION=0.13.9

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

FROM ${PYTHON_IMAGE} AS builder
COPY --from=uv /uv /uvx /bin/
# Compile bytecode once here (the final file system may be read-only); copy files out of the cache
# mount rather than hard-linking into it; use the base image's interpreter, never download one.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Dependencies first, in their own layer: rebuilt only when pyproject.toml changes.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --no-dev --no-install-project
COPY pyproject.toml README.md ./
COPY ibbot ./ibbot
# Non-editable: the package itself goes into the environment, so the final stage needs nothing else.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --no-dev --no-editable

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="ibbot" \
      org.opencontainers.image.description="An asyncio-native trading service for Interactive Brokers" \
      org.opencontainers.image.licenses="MIT"
# The data directory exists, owned by the service user, before it becomes a volume: a new named
# volume is initialised from it and so starts writable by that user.
RUN groupadd --system --gid 10001 ibbot \
    && useradd --system --no-log-init --uid 10001 --gid ibbot --home-dir /app \
        --shell /usr/sbin/nologin ibbot \
    && mkdir -p /app/data \
    && chown ibbot:ibbot /app/data
COPY --from=builder /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1
WORKDIR /app
USER 10001:10001
VOLUME ["/app/data"]
# `docker stop` sends SIGTERM: ibbot stops taking new work, drains, saves its state and disconnects
# (the two-phase shutdown); give it the time for that (compose: stop_grace_period).
STOPSIGNAL SIGTERM
# Healthy when the configured gateway accepts an API session (`ibbot check` connects with its own
# client id, ib.client_id + 100, so it never collides with the running service's session).
HEALTHCHECK --interval=60s --timeout=30s --start-period=60s --start-interval=5s --retries=3 \
    CMD ["ibbot", "check"]
ENTRYPOINT ["ibbot"]
CMD ["run"]
