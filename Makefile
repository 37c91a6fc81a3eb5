# make demo / make test create .venv when absent, install through constraints.txt, then run.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test install bench-install browser bench clean neo4j-jars neo4j-local neo4j-up neo4j-down test-neo4j

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or run: make PYTHON=python3 ...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[test,neo4j]"
	touch $(STAMP)

install: $(STAMP)

# The benchmarks' references (LanceDB beside bench.scale, bm25s beside bench.lexical_engines): the
# bench extra, through the same constraints, on top of what make install gives.
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install -q -c constraints.txt -e ".[test,neo4j,bench]"
	touch $(BENCH_STAMP)

bench-install: $(BENCH_STAMP)

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

# The live Neo4j tests run on a local Neo4j Community the test session starts (tools/neo4j_local.py)
# from jars neo4j-jars caches, or on $$NEO4J_URI when set; without java and mvn they skip, saying so.
test: $(STAMP) browser neo4j-jars
	$(PY) -m pytest -q

bench: $(BENCH_STAMP)
	$(PY) -m bench.ingest
	$(PY) -m bench.vector
	$(PY) -m bench.store_search
	$(PY) -m bench.flipkart
	$(PY) -m bench.grocery
	$(PY) -m bench.recommend
	$(PY) -m bench.matching
	$(PY) -m bench.match_scale
	$(PY) -m bench.serve

# Neo4j Community (the version pinned in tools/neo4j/pom.xml) from Maven Central, no Docker:
# neo4j-jars copies its jars into ~/.cache/shopgraph/neo4j-<version>/lib (needs java 17+ and mvn;
# without them it says so in one line and the live tests skip); neo4j-local runs a server on
# 127.0.0.1 in the foreground until Ctrl-C, printing how to use it.
neo4j-jars: $(STAMP)
	$(PY) -m tools.neo4j_local fetch --if-possible

neo4j-local: $(STAMP)
	$(PY) -m tools.neo4j_local run

# The same in Docker (docker/docker-compose.yml), for those who have it.
NEO4J_PASSWORD ?= shopgraph-test
COMPOSE        := docker compose -f docker/docker-compose.yml

# The password reaches the commands through the environment, never their text, so make never prints it.
neo4j-up test-neo4j: export NEO4J_PASSWORD := $(NEO4J_PASSWORD)

neo4j-up:
	$(COMPOSE) up -d --wait neo4j

neo4j-down:
	$(COMPOSE) down

# The Neo4j tests alone (every test with neo4j in its name or parameters): on $$NEO4J_URI when it is
# set (which they empty: a scratch server only), else on the local server the session starts.
test-neo4j: $(STAMP) neo4j-jars
	$(PY) -m pytest -q -rs -k neo4j

clean:
	rm -rf $(VENV) shopgraph.db shopgraph.db.* .pytest_cache
