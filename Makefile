# Kejian: `make run` serves the demo on the embedded defaults; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
SWIFT_DIR ?= /tmp/kejian-swift

.PHONY: install run demo test test-quick bench clean

$(BIN)/kejian: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/kejian

install: $(BIN)/kejian

demo: install
	$(BIN)/kejian db upgrade
	$(BIN)/kejian demo

run: demo
	$(BIN)/kejian run --host $(HOST) --port $(PORT) --with-threads

# The whole suite: SQLite and PostgreSQL, local disk, nanio and Swift's S3, tantivy.
test: install
	KEJIAN_TEST_SWIFT_URL="$$(bash scripts/swift-s3.sh start $(SWIFT_DIR))" \
	  $(BIN)/python -m pytest -n 2 -q -p no:cacheprovider

# Without Swift: what a laptop without root can run.
test-quick: install
	$(BIN)/python -m pytest -n 2 -q -p no:cacheprovider

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) instance .pytest_cache
