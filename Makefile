# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCK := requirements.lock
LINT_DIR := tools/cypher-lint
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test test-fast chromium bench lint setup lock clean

setup: $(STAMP)

# The whole environment comes from the committed lock, every package pinned with its
# hashes (torch is the 2.13.0 CPU build); kdcvg itself is then installed editable on top.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes -r $(LOCK)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Regenerate the lock after changing pyproject.toml: the base install plus the dev and
# ray extras, so that `make test` runs the Ray tests (pins already in it are kept;
# `make lock LOCK_ARGS=--upgrade` moves every package to its newest allowed release).
lock: $(STAMP)
	$(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --extra dev --extra ray --strip-extras \
	  --no-emit-find-links --no-emit-index-url $(LOCK_ARGS) -o $(LOCK) pyproject.toml

$(LINT_DIR)/node_modules: $(LINT_DIR)/package.json
	cd $(LINT_DIR) && npm install --silent --no-audit --no-fund
	touch $(LINT_DIR)/node_modules

# Chromium renders the HTML report in its test; installed only when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "chromium could not be installed: the report screenshot test will skip"; }

demo: $(STAMP)
	$(PY) -m kdcvg.demo

# Everything; tests that need a Neo4j server (NEO4J_URI) or a GPU skip and say why.
test: $(STAMP) $(LINT_DIR)/node_modules chromium lint
	$(PY) -m pytest -q

# The quick loop while developing: slow tests left out.
test-fast: $(STAMP) $(LINT_DIR)/node_modules
	$(PY) -m pytest -m "not slow" -q

bench: $(STAMP)
	$(PY) bench/ingest.py
	$(PY) bench/motion.py
	$(PY) bench/retrieval.py --threads 1 --epoch-steps 4
	$(PY) bench/sar_quality.py
	$(PY) bench/sar_quality.py --set examples/sar/large
	$(PY) bench/generate.py
	$(PY) bench/ray_batch.py
	$(PY) bench/mkr.py

lint: $(STAMP)
	$(PY) -m ruff check kdcvg tests bench
	$(PY) -m mypy kdcvg

clean:
	rm -rf $(VENV) $(LINT_DIR)/node_modules .kdcvg out
