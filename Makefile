# make demo / make test create .venv when absent, install through constraints.txt, then run.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test install bench clean

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or run: make PYTHON=python3 ...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[test,neo4j]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/shopgraph demo

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m bench.ingest
	$(PY) -m bench.vector
	$(PY) -m bench.store_search
	$(PY) -m bench.flipkart
	$(PY) -m bench.grocery
	$(PY) -m bench.recommend
	$(PY) -m bench.matching
	$(PY) -m bench.match_scale

clean:
	rm -rf $(VENV) shopgraph.db shopgraph.db.* .pytest_cache
