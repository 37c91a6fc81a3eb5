"""Property-based fuzzing of the OpenAPI schema with schemathesis: generated requests, valid and
invalid, to every operation, with the API key, on a private copy of the small real graph.

The bar is no 5xx; responses must also match the schema's status codes, content types and bodies.
Bounded in count and in time: SHOPGRAPH_FUZZ_EXAMPLES examples per operation and mode (default 40),
and no new request once SHOPGRAPH_FUZZ_SECONDS (default 10) have passed in one operation and mode
(the remaining examples are drawn but not sent). The whole file takes about a minute. Each operation
and mode is its own test, so a failure names it.
"""

from __future__ import annotations

import os
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

from tests.serve.conftest import KEY, copy_graph, make_app

EXAMPLES = int(os.environ.get("SHOPGRAPH_FUZZ_EXAMPLES", "40"))
SECONDS = float(os.environ.get("SHOPGRAPH_FUZZ_SECONDS", "10"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def cases() -> list[tuple[str, GenerationMode]]:
    """(operation, mode) for every operation of the schema, read from an app built without a graph
    (routes need none); invalid requests only for operations that take some input."""
    from shopgraph.serve.app import create_app
    from shopgraph.serve.host import GraphHost, ServeSettings

    openapi = create_app(GraphHost(None, ServeSettings(api_key=KEY)), warm_up=False).openapi()
    out = []
    for path, methods in openapi["paths"].items():
        for method, spec in methods.items():
            out.append((f"{method.upper()} {path}", GenerationMode.POSITIVE))
            if spec.get("parameters") or spec.get("requestBody"):
                out.append((f"{method.upper()} {path}", GenerationMode.NEGATIVE))
    return out


READ_QUERIES = [
    "MATCH (p:Product) RETURN p.id AS id, p.price AS price ORDER BY id LIMIT $n",
    "MATCH (p:Product)-[:OF_BRAND]->(b:Brand) RETURN b.name AS brand, count(p) AS n ORDER BY n DESC",
    "MATCH (a:Product)-[e:SAME_AS]->(b:Product) RETURN a.id, b.id, e.score, e.evidence LIMIT 5",
    "RETURN $n AS n, $n * 2.5 AS x",
]


@pytest.fixture(scope="module")
def fuzz_schema(matched_graph, demo_graph, tmp_path_factory):
    """(schema over a private copy, real values to mix into generated requests)."""
    db = copy_graph(matched_graph.db, tmp_path_factory.mktemp("fuzz"))
    app, host = make_app(db, cypher_timeout=1.0, image_root=matched_graph.photos)
    ids = [i for pair in demo_graph.truth[:6] for i in pair]
    users = [r["id"] for r in host.graph.cypher("MATCH (u:User) RETURN u.id AS id ORDER BY id LIMIT 3")]
    photo = next(host.graph.image_file(p).read_bytes() for p in map(host.graph.product, ids) if not p.image_missing)
    real = {"id": ids, "platform": ["shop_a", "shop_b"], "user": users, "src": [a for a, _ in matched_graph.review],
            "dst": [b for _, b in matched_graph.review], "image": [photo], "query": READ_QUERIES,
            "mapping": ['platform = "shop_f"\nid = "sku"\ntitle = "name"\n'],
            "file": [b"sku,name\nF-1,Fuzzed kettle\nF-2,Fuzzed toaster\n", b'{"sku": "F-3", "name": "Fuzzed lamp"}\n']}
    yield schemathesis.openapi.from_asgi("/openapi.json", app), real
    host.close()


def mix_in_real_values(case, data, real: dict) -> None:
    """Generated ids almost never exist; replace some generated values with real ones so the
    fuzzing also reaches the code behind the lookups (product pages, matching, decisions, Cypher)."""
    for container in (case.query, case.body):
        if not isinstance(container, dict):
            continue
        for name in list(container):
            if name in real and data.draw(st.booleans(), label=f"real {name}"):
                container[name] = data.draw(st.sampled_from(real[name]), label=name)
        if "query" in container and "params" in container and isinstance(container["params"], dict):
            container["params"]["n"] = data.draw(st.integers(0, 20), label="n")


@pytest.mark.slow
@pytest.mark.parametrize("label, mode", cases(), ids=lambda v: v if isinstance(v, str) else v.value)
def test_fuzzed_requests_never_get_a_server_error(fuzz_schema, label, mode):
    schema, real = fuzz_schema
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    statuses: list[int] = []
    stop_at = time.monotonic() + SECONDS

    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case, data):
        if statuses and time.monotonic() > stop_at:
            return  # the time budget of this operation is spent: no more requests
        if mode is GenerationMode.POSITIVE:
            mix_in_real_values(case, data, real)
        statuses.append(case.call_and_validate(headers={"X-API-Key": KEY}, checks=CHECKS).status_code)

    run()
    assert statuses and max(statuses) < 500
    if mode is GenerationMode.NEGATIVE:
        # Invalid input is refused; a generated "invalid" value the API may still accept (an
        # unknown extra query parameter) is fine, so only most of them need a 4xx.
        assert sum(400 <= s < 500 for s in statuses) >= len(statuses) // 2, statuses
