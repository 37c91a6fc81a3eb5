"""LexicalIndex: BM25 over fields, exact identifier lookup, identity, atomic rebuild, kill safety."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shopgraph.config import LexicalIndexConfig
from shopgraph.errors import BadArgumentError
from shopgraph.search.lexical_index import MANIFEST, LexicalIndex, LexicalIndexUnavailable

REPO = Path(__file__).resolve().parents[2]
DOCS = {
    "a": {"title": "Sony WM-330S Walkman cassette player", "brand": "Sony"},
    "b": {"title": "Sony WM-330 cassette player", "brand": "Sony"},
    "c": {"title": "飞利浦 电动剃须刀 S5000", "brand": "飞利浦", "identifiers": ["PH-5000"]},
    "d": {"title": "连衣裙 女 夏季 碎花", "attributes": {"颜色": "红色"}},
    "e": {"title": "Red cotton summer dress", "description": "a light dress for warm days"},
}


def fill(index):
    index.upsert(list(DOCS), list(DOCS.values()), revision=1)
    return index


def test_search_ranks_by_bm25_and_finds_chinese_without_spaces():
    index = fill(LexicalIndex.memory())
    assert index.search("walkman")[0][0] == "a"
    assert [i for i, _ in index.search("剃须刀")] == ["c"]
    assert index.search("连衣裙")[0][0] == "d"
    top = index.search("red dress")
    assert top[0][0] == "e" and all(score > 0 for _, score in top)
    assert index.search("zzzzqqq") == [] and index.search("   ") == []


def test_model_number_query_finds_its_listing_first_in_any_spelling():
    index = fill(LexicalIndex.memory())
    for query in ("WM-330S", "wm330s", "wm 330s"):
        assert index.search(query)[0][0] == "a", query
    for query in ("WM-330S", "wm330s", "WM 330 S", "wm-330-s"):
        assert index.lookup(query) == [("a", 1)], query
    assert index.lookup("ph 5000") == [("c", 1)]  # an identifier given in the identifiers field
    assert index.lookup("sony wm-330s walkman")[0][0] == "a"  # a model number inside a longer query
    assert index.lookup("cassette") == []


def test_field_weights_decide_between_title_and_description():
    docs = [{"title": "garden hose", "description": "fits any lamp"}, {"title": "desk lamp"}]
    heavy_title = LexicalIndex.memory(LexicalIndexConfig(title_weight=5.0, description_weight=0.1))
    heavy_title.upsert(["hose", "lamp"], docs)
    assert heavy_title.search("lamp")[0][0] == "lamp"
    heavy_desc = LexicalIndex.memory(LexicalIndexConfig(title_weight=0.1, description_weight=5.0))
    heavy_desc.upsert(["hose", "lamp"], docs)
    assert heavy_desc.search("lamp")[0][0] == "hose"


def test_allowed_restricts_results():
    index = fill(LexicalIndex.memory())
    assert [i for i, _ in index.search("sony cassette", allowed={"b", "e"})] == ["b"]
    assert index.search("sony", allowed=set()) == []


def test_upsert_replaces_and_remove_deletes_everywhere():
    index = fill(LexicalIndex.memory())
    index.upsert(["a"], [{"title": "Panasonic RQ-2102 recorder"}], revision=2)
    assert "a" not in [i for i, _ in index.search("walkman")]
    assert index.lookup("wm330s") == [] and index.lookup("rq2102") == [("a", 1)]
    assert index.remove(["a", "unknown"], revision=3) == 1
    assert index.lookup("rq2102") == [] and "a" not in index and len(index) == 4
    assert index.revision == 3


def test_bad_arguments_are_refused():
    index = LexicalIndex.memory()
    with pytest.raises(BadArgumentError):
        index.upsert(["a"], [{"colour": "red"}])
    with pytest.raises(BadArgumentError):
        index.upsert(["a", "b"], [{"title": "x"}])
    with pytest.raises(BadArgumentError):
        index.search("x", k=0)


def test_query_text_is_never_fts_syntax():
    index = fill(LexicalIndex.memory())
    for hostile in ('"', 'sony" OR "', "NEAR(a b)", "title:sony", "*", "a AND", "^sony", "') --"):
        index.search(hostile)  # must not raise an FTS5 syntax error
        index.lookup(hostile)


def test_saved_index_keeps_revision_and_refuses_another_database(tmp_path):
    with fill(LexicalIndex.open(tmp_path, database_id="db-1")) as index:
        assert index.revision == 1
    with LexicalIndex.open(tmp_path, database_id="db-1") as again:
        assert len(again) == 5 and again.database_id == "db-1" and again.search("walkman")[0][0] == "a"
    with pytest.raises(LexicalIndexUnavailable, match="mirrors database"):
        LexicalIndex.open(tmp_path, database_id="db-2")
    with pytest.raises(LexicalIndexUnavailable, match="cjk_unigrams"):
        LexicalIndex.open(tmp_path, database_id="db-1", config=LexicalIndexConfig(cjk_unigrams=False))
    with pytest.raises(LexicalIndexUnavailable, match="no lexical index"):
        LexicalIndex.open(tmp_path / "empty", database_id="db-1", create=False)


def test_replace_publishes_a_new_version_atomically(tmp_path):
    old = fill(LexicalIndex.open(tmp_path, database_id="db-1"))
    old_file = old.path
    new = LexicalIndex.replace(tmp_path, database_id="db-2", docs=[(["z"], [{"title": "zebra"}])], revision=9)
    assert json.loads((tmp_path / MANIFEST).read_text())["version"] == new.path.name
    assert not old_file.exists()  # older versions are removed after the switch
    with LexicalIndex.open(tmp_path, database_id="db-2") as reopened:
        assert reopened.ids() == ["z"] and reopened.revision == 9


def test_reader_sees_committed_batches_while_writer_writes(tmp_path):
    writer = fill(LexicalIndex.open(tmp_path, database_id="db"))
    reader = LexicalIndex.open(tmp_path, database_id="db", read_only=True)
    assert len(reader) == 5
    writer.upsert(["f"], [{"title": "walkman headphones"}], revision=2)
    assert reader.revision == 2 and {"a", "f"} <= {i for i, _ in reader.search("walkman")}
    with pytest.raises(BadArgumentError):
        reader.upsert(["g"], [{"title": "x"}])


_KILLED_WRITER = textwrap.dedent("""
    import sys
    from shopgraph.search.lexical_index import LexicalIndex
    index = LexicalIndex.open(sys.argv[1], database_id="db")
    print("ready", flush=True)
    n = 0
    while True:
        ids = [f"p{n}-{i}" for i in range(200)]
        index.upsert(ids, [{"title": f"product {n} {i} model X{n}Y{i}"} for i in range(200)], revision=n)
        n += 1
""")


def test_sigkill_during_writes_leaves_a_consistent_index(tmp_path):
    LexicalIndex.open(tmp_path, database_id="db").close()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(tmp_path)], stdout=subprocess.PIPE, env=env)
    assert proc.stdout.readline().strip() == b"ready"
    import time
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with LexicalIndex.open(tmp_path, database_id="db") as index:
        revision = index.revision
        assert revision is not None and len(index) == 200 * (revision + 1)  # whole batches only
        last = revision
        assert index.lookup(f"x{last}y199") == [(f"p{last}-199", 1)]


def test_a_second_writer_is_refused_with_one_line(tmp_path):
    from shopgraph.search.lexical_index import LexicalIndexLocked

    first = fill(LexicalIndex.open(tmp_path, database_id="db"))
    second = LexicalIndex.open(tmp_path, database_id="db")
    with pytest.raises(LexicalIndexLocked, match="being written"):
        second.upsert(["z"], [{"title": "zebra"}])
    first.close()  # releases the lock
    second.upsert(["z"], [{"title": "zebra"}])
    assert "z" in second
