#!/usr/bin/env bash
# Build and serve Kejian the way the Dockerfile does, without Docker (this machine has
# no Docker engine): a non-editable `pip install .` into a fresh virtual environment,
# run from a folder outside the source tree, `kejian db upgrade`, then the image's
# gunicorn command. It fails when the installed package misses a module or a data file
# (vocabularies, migrations, templates, index mappings) that the source tree has.
#
#   scripts/check-dist.sh [WORKDIR]      (default: a new temporary folder, removed)
set -euo pipefail

src="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d /tmp/kejian-dist.XXXXXX)}"
[ -n "${1:-}" ] || trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
port="${KEJIAN_DIST_PORT:-18123}"

echo "check-dist: installing into $work/venv"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --upgrade pip
# Copy what the Dockerfile's build stage copies, so a file it forgets is missed here.
mkdir -p "$work/src"
for part in pyproject.toml README.md repo_app storage indexer lti config migrations; do
    cp -r "$src/$part" "$work/src/"
done
"$work/venv/bin/pip" install -q "$work/src"

# The image's environment: an instance folder of its own, no source tree in sight.
export KEJIAN_HOME="$work/data" FLASK_APP=repo_app:create_app PYTHONUNBUFFERED=1
mkdir -p "$KEJIAN_HOME" "$work/app"
cd "$work/app"
"$work/venv/bin/kejian" db upgrade
"$work/venv/bin/kejian" check-config
"$work/venv/bin/gunicorn" --bind "127.0.0.1:$port" --workers 1 --threads 2 \
    --timeout 60 'repo_app:create_app()' >"$work/gunicorn.log" 2>&1 &
server=$!

for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/api/v1/health" >/dev/null 2>&1 && break
    sleep 0.1
done
# The pages need the compiled catalogues and the npm build (make build) in the package.
for path in /api/v1/health /api/v1/vocabularies "/api/v1/search?q=%E6%95%B0%E5%AD%A6" / \
        /login /static/vendor/manifest.json /static/vendor/pdfjs/pdf.min.mjs; do
    code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$path")"
    if [ "$code" != 200 ]; then
        echo "check-dist: GET $path answered $code" >&2
        tail -n 40 "$work/gunicorn.log" >&2
        exit 1
    fi
done
# (Read whole before grep: with pipefail, grep -q closing the pipe early fails curl.)
login_page="$(curl -s -H 'Accept-Language: zh-CN' "http://127.0.0.1:$port/login")"
if [[ "$login_page" != *用户名* ]]; then
    echo "check-dist: /login is not in Chinese: the .mo catalogues are missing" >&2
    exit 1
fi
kill "$server"
wait "$server" 2>/dev/null || true
echo "check-dist: the installed package migrates and serves (health, vocabularies, search, home)"
