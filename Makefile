# Kejian: `make run` serves the demo on the embedded defaults; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
SWIFT_DIR ?= /tmp/kejian-swift
OPENEDX_VENV ?= .venv-openedx
NPM ?= npm

.PHONY: install run demo test test-quick bench clean build assets translations

$(BIN)/kejian: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/kejian

install: $(BIN)/kejian

# What the pages need beside the Python package: compiled catalogues and npm packages.
build: translations assets

# The committed .po catalogues compiled to .mo (scripts/catalogues.py updates the .po).
translations: install
	$(BIN)/pybabel compile -d repo_app/translations

# Front-end packages from the npm registry, copied into repo_app/static/vendor by
# frontend/build.mjs; nothing is fetched from a CDN when pages run.
assets: repo_app/static/vendor/manifest.json

repo_app/static/vendor/manifest.json: frontend/package.json frontend/package-lock.json frontend/build.mjs
	cd frontend && $(NPM) ci --no-audit --no-fund && $(NPM) run build

demo: install
	$(BIN)/kejian db upgrade
	$(BIN)/kejian demo

run: build demo
	$(BIN)/kejian run --host $(HOST) --port $(PORT) --with-threads

# The whole suite: SQLite and PostgreSQL, local disk, nanio and Swift's S3, tantivy,
# and LTI launches from Open edX's consumer (in its own environment, OPENEDX_VENV).
test: install build
	KEJIAN_TEST_SWIFT_URL="$$(bash scripts/swift-s3.sh start $(SWIFT_DIR))" \
	KEJIAN_TEST_OPENEDX_PYTHON="$$(bash scripts/openedx-venv.sh $(OPENEDX_VENV))" \
	  $(BIN)/python -m pytest -n 2 -q -p no:cacheprovider --durations=25

# Without Swift: what a laptop without root can run.
test-quick: install build
	$(BIN)/python -m pytest -n 2 -q -p no:cacheprovider --durations=25

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) $(OPENEDX_VENV) instance .pytest_cache frontend/node_modules repo_app/static/vendor
