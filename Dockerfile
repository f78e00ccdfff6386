# One image for both processes: `journeys api` and `journeys worker` (see docker-compose.yml).
# All configuration comes from JOURNEYS_* environment variables (journeys/config/settings.py).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
# Build the wheel and install that wheel into a venv: the image holds exactly what
# tests/test_wheel.py installs (package data included), never the source tree.
# No [dev] extra: pytest, the test server binary and ruff stay out of the image.
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/venv && /opt/venv/bin/pip install /wheels/journeys-*.whl

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
COPY --from=build /opt/venv /opt/venv
# Unprivileged user. /app is its home and working directory, so the SQLite default
# (.journeys/journeys.db) would still be writable; deployments point JOURNEYS_DATABASE_URL at PostgreSQL.
RUN useradd --system --user-group --uid 10001 --home-dir /app --create-home \
        --shell /usr/sbin/nologin journeys
WORKDIR /app
USER journeys
EXPOSE 8000
# Exec form: `journeys` is PID 1 and gets SIGTERM itself; the CLI turns it into a graceful stop.
# No HEALTHCHECK here: the worker serves no HTTP, so the API's check lives in docker-compose.yml.
ENTRYPOINT ["journeys"]
CMD ["api", "--host", "0.0.0.0"]
