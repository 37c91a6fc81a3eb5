"""`--format table|csv|tsv|json|jsonl|parquet`, `--output`, `--wide` on the commands that print results:
full precision in machine formats, no rounding of written prices in tables, wide characters aligned."""

from __future__ import annotations

import io
import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from shopgraph.cli import main
from shopgraph.queries.format import cut, display_width, render_table
from shopgraph.queries.frames import CypherRows

QUERY = ("RETURN 399.99 AS price, 0.12345678901234566 AS score, 'shop_a:00123' AS id, 7 AS n, "
         "'日本語の商品タイトル、とても長い名前の商品です。さらに長く長く長く' AS title, [1.5, 2.25] AS v")


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_table_keeps_written_digits_and_aligns_wide_characters(demo_graph, capsys):
    code, out, err = run(["cypher", QUERY, "--db", str(demo_graph.db)], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert "399.99" in lines[2] and "400 " not in lines[2]
    assert "0.123457" in lines[2]                       # a long decimal is rounded to 6 places in a table
    widths = {display_width(line) for line in lines[:3]}
    assert max(widths) - min(widths) <= len("v") + 12  # the header, rule and row line up by display width
    header, rule = lines[0], lines[1]
    # Every column starts at the same display offset on the rule and on the row.
    assert display_width(header[:header.index("title")]) == display_width(lines[2][:lines[2].index("日")])
    assert "…" in lines[2]                              # cut at 40 cells
    code, out, _ = run(["cypher", QUERY, "--db", str(demo_graph.db), "--wide"], capsys)
    assert "さらに長く長く長く" in out and "0.12345678901234566" in out and "…" not in out


@pytest.mark.parametrize("fmt, sep", [("csv", ","), ("tsv", "\t")])
def test_delimited_formats_read_back_exactly(demo_graph, capsys, fmt, sep):
    code, out, err = run(["cypher", QUERY, "--db", str(demo_graph.db), "--format", fmt], capsys)
    assert code == 0, err
    frame = pd.read_csv(io.StringIO(out), sep=sep, dtype={"id": str})
    assert frame["price"][0] == 399.99 and frame["score"][0] == 0.12345678901234566
    assert frame["id"][0] == "shop_a:00123" and json.loads(frame["v"][0]) == [1.5, 2.25]


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_formats_keep_full_precision(demo_graph, capsys, fmt):
    code, out, _ = run(["cypher", QUERY, "--db", str(demo_graph.db), "--format", fmt], capsys)
    rows = json.loads(out) if fmt == "json" else [json.loads(line) for line in out.splitlines()]
    assert rows[0]["score"] == 0.12345678901234566 and rows[0]["price"] == 399.99


def test_parquet_is_typed_and_needs_an_output_file(demo_graph, capsys, tmp_path):
    target = tmp_path / "rows.parquet"
    code, _, err = run(["cypher", QUERY, "--db", str(demo_graph.db), "--format", "parquet", "-o", str(target)], capsys)
    assert code == 0, err
    table = pq.read_table(target)
    assert str(table.schema.field("n").type) == "int64" and table.column("price").to_pylist() == [399.99]
    assert not list(tmp_path.glob("*.part"))
    code, out, err = run(["cypher", QUERY, "--db", str(demo_graph.db), "--format", "parquet"], capsys)
    assert code == 1 and err.strip() == "error: --format parquet needs --output FILE" and out == ""


def test_search_review_and_match_write_every_format(demo_graph, capsys, tmp_path):
    db = str(demo_graph.db)
    code, out, err = run(["search", "backpack", "--db", db, "-k", "3", "--format", "csv"], capsys)
    assert code == 0, err
    frame = pd.read_csv(io.StringIO(out), dtype={"id": str, "source_id": str})
    assert len(frame) == 3 and {"rank", "score", "id", "price", "matched_by"} <= set(frame.columns)
    target = tmp_path / "hits.parquet"
    assert run(["search", "backpack", "--db", db, "-k", "3", "--format", "parquet", "-o", str(target)], capsys)[0] == 0
    assert pq.read_table(target).num_rows == 3
    code, out, _ = run(["review", "--db", db, "--format", "csv"], capsys)
    assert code == 0 and out.splitlines()[0].startswith("src,dst,score")
    code, _, err = run(["search", "backpack", "--db", db, "--json", "--format", "csv"], capsys)
    assert code == 1 and "disagree" in err


def test_output_file_and_bad_output_folder(demo_graph, capsys, tmp_path):
    target = tmp_path / "rows.csv"
    code, out, _ = run(["cypher", QUERY, "--db", str(demo_graph.db), "--format", "csv", "--output", str(target)], capsys)
    assert code == 0 and "399.99" in target.read_text(encoding="utf-8")
    assert out == f"{len(target.read_text(encoding='utf-8').splitlines()) - 1} rows written to {target} (csv)\n"
    code, _, err = run(["cypher", QUERY, "--db", str(demo_graph.db), "-o", str(tmp_path / "no" / "x.csv")], capsys)
    assert code == 1 and "does not exist" in err


def test_cut_and_width_count_display_cells():
    assert display_width("日本") == 4 and display_width("e\u0301") == 1
    assert display_width(cut("日本語日本語", 7)) <= 7 and cut("abc", 3) == "abc"
    table = CypherRows([{"a": "日本語", "b": 1}, {"a": "x", "b": 22}]).to_arrow()
    lines = render_table(table).splitlines()
    assert len({display_width(line.rstrip()) for line in lines[1:]}) == 1
