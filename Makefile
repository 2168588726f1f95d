# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LINT_DIR := tools/cypher-lint
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test test-fast chromium bench lint setup clean

setup: $(STAMP)

# torch is installed alone and pinned first: any later package that asks for an
# unpinned torch then finds it satisfied instead of pulling a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

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
test: $(STAMP) $(LINT_DIR)/node_modules chromium
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
	$(PY) bench/mkr.py

lint: $(STAMP)
	$(PY) -m ruff check kdcvg tests bench
	$(PY) -m mypy kdcvg

clean:
	rm -rf $(VENV) $(LINT_DIR)/node_modules .kdcvg out
