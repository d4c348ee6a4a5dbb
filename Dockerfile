# Kejian: the same install as CI (.ci/run), in two stages, served by gunicorn as a
# non-root user. Mount a volume at /data for the instance folder (SQLite, objects,
# index) or point KEJIAN_DATABASE_URL / KEJIAN_STORAGE_URL / KEJIAN_SEARCH_URL at
# servers.

# The pages' npm packages (pdf.js, tus-js-client), copied to repo_app/static/vendor.
FROM node:20-bookworm-slim AS assets
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json frontend/build.mjs ./
RUN npm ci --no-audit --no-fund && npm run build

FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libmagic1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY repo_app repo_app
COPY storage storage
COPY indexer indexer
COPY lti lti
COPY config config
COPY migrations migrations
COPY --from=assets /src/repo_app/static/vendor repo_app/static/vendor
# The catalogues are compiled before the install so that the package carries the .mo.
RUN python -m venv /opt/kejian \
 && /opt/kejian/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/kejian/bin/pip install --no-cache-dir babel \
 && /opt/kejian/bin/pybabel compile -d repo_app/translations \
 && /opt/kejian/bin/pip install --no-cache-dir .

FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmagic1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --create-home kejian
COPY --from=build /opt/kejian /opt/kejian
ENV PATH=/opt/kejian/bin:$PATH \
    KEJIAN_HOME=/data \
    FLASK_APP=repo_app:create_app \
    PYTHONUNBUFFERED=1
USER kejian
WORKDIR /app
VOLUME ["/data"]
EXPOSE 8000
CMD ["sh", "-c", "kejian db upgrade && exec gunicorn --bind 0.0.0.0:8000 --workers 2 --threads 4 --timeout 300 'repo_app:create_app()'"]
