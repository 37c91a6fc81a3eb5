# make demo / make test create .venv when absent, install through constraints.txt, then run.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test install browser bench clean neo4j-up neo4j-down test-neo4j

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or run: make PYTHON=python3 ...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[test,neo4j]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/shopgraph demo

# Headless Chromium for the browser tests (tests/serve/test_browser.py), from Debian's packages.
# Installed when missing and we are root with apt-get; otherwise those tests skip and say why.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium and chromium-driver (apt-get) for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium chromium-driver >/dev/null || echo "could not install chromium: the browser tests will skip"; \
	else echo "chromium/chromedriver missing and not root: the browser tests will skip"; fi

test: $(STAMP) browser
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
	$(PY) -m bench.serve

# Neo4j backend: a local Neo4j 5 Community in Docker, and the live suite against it.
NEO4J_URI      ?= bolt://localhost:7687
NEO4J_USERNAME ?= neo4j
NEO4J_PASSWORD ?= shopgraph-test
COMPOSE        := docker compose -f docker/docker-compose.yml

# The password reaches the commands through the environment, never their text, so make never prints it.
neo4j-up test-neo4j: export NEO4J_PASSWORD := $(NEO4J_PASSWORD)

neo4j-up:
	$(COMPOSE) up -d --wait neo4j

neo4j-down:
	$(COMPOSE) down

# The contract suite on both stores, the live migration round trip and the Neo4j unit tests.
# It empties the database it points at: use the one neo4j-up starts (or a scratch one).
test-neo4j: $(STAMP)
	NEO4J_URI=$(NEO4J_URI) NEO4J_USERNAME=$(NEO4J_USERNAME) \
		$(PY) -m pytest -q -rs tests/contract tests/graph/test_neo4j_store.py tests/graph/test_neo4j_cypher_parse.py tests/graph/test_migrate.py

clean:
	rm -rf $(VENV) shopgraph.db shopgraph.db.* .pytest_cache
