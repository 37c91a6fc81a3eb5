"""Readers in other processes beside a writer (issue 13, finding 1): the bounded form of
`python -m bench.concurrency`.

One writer process writes small batches (new products, re-written vectors, deleted batches, Cypher
writes) for a few seconds while three reader processes read: text search through the API, raw
vector_search / Cypher / get_nodes on a long-lived read-only store, and a fresh open per search as
the CLI does. No reader may crash, fail with anything but a retryable error, or see a half-written
batch; afterwards the vector indexes, loaded from disk in a fresh process, must equal exact scoring
over the nodes. On the code before the access lock, readers failed ("String dictionary index is
outside the offset table", "WAL file is corrupted", "checkpoint recovery is pending") and a reader
saved an index missing most products.
"""

from __future__ import annotations

from bench.concurrency import problems, stress, verify_in_fresh_process


def test_readers_beside_a_writer_never_fail_and_the_index_equals_the_graph(tmp_path):
    db = tmp_path / "stress.db"
    phase = stress(db, tmp_path / "run", seconds=8, kinds=("api", "store", "cli"), batch=10)

    assert problems(phase) == []
    assert phase["writer"]["batches"] >= 5 and phase["writer"]["deleted_batches"] >= 0
    reads = {name: sum(len(ms) for ms in tally["ms"].values()) for name, tally in phase["readers"].items()}
    assert len(reads) == 3 and all(n > 0 for n in reads.values()), reads

    check = verify_in_fresh_process(db, tmp_path / "run")
    assert check["problems"] == []
    assert check["checked"]["text_vec self-search"] == check["text_vec vectors"] > 0
