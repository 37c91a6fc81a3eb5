"""The CLI: every command has help and is documented; user errors are one line and exit 1."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from shopgraph.cli import COMMANDS_HELP, build_parser, main
from tests.helpers import REPO


@pytest.mark.parametrize("command", sorted(COMMANDS_HELP))
def test_every_command_has_help_and_is_in_readme(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert COMMANDS_HELP[command] in capsys.readouterr().out
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"shopgraph {command}\b", readme), f"`shopgraph {command}` is not in README.md"


def test_parser_knows_exactly_the_documented_commands():
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(subparsers.choices) == set(COMMANDS_HELP)


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_search_prints_a_table_and_json(demo_graph, capsys):
    code, out, _ = run(["search", "backpack", "--db", str(demo_graph.db), "-k", "3"], capsys)
    lines = out.strip().splitlines()
    assert code == 0 and "score" in out and "strength" in lines[0] and len(lines) == 6
    assert lines[-1].endswith("matching products (showing 1-3)")
    code, out, _ = run(["search", "zzzzqqq", "--db", str(demo_graph.db), "-k", "2", "--facets"], capsys)
    assert code == 0 and "no close match" in out and "0 matching products" in out and "\nbrand: " in out
    code, out, _ = run(["search", "backpack", "--db", str(demo_graph.db), "-k", "2", "--json", "--platform", "shop_b"], capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 2 and all(r["product"]["platform"] == "shop_b" for r in rows)


def test_search_with_where_and_params(demo_graph, capsys):
    code, out, err = run(["search", "backpack", "--db", str(demo_graph.db), "--json", "-k", "50",
                          "--where", "p.price < $cap", "--param", "cap=60"], capsys)
    assert code == 0, err
    assert all(json.loads(line)["product"]["price"] < 60 for line in out.splitlines())


def test_similar_and_stats_and_cypher(demo_graph, capsys):
    a_id, b_id = demo_graph.truth[0]
    code, out, _ = run(["similar", a_id, "--db", str(demo_graph.db), "--platform", "shop_b", "--json", "-k", "3"], capsys)
    ids = [json.loads(line)["product"]["id"] for line in out.splitlines()]
    assert code == 0 and len(ids) == 3 and b_id in ids
    code, out, _ = run(["stats", "--db", str(demo_graph.db)], capsys)
    assert code == 0 and re.search(r"^Product\s+\d+", out, re.M)
    code, out, _ = run(["cypher", "MATCH (p:Platform) RETURN p.name AS name ORDER BY name", "--db", str(demo_graph.db)], capsys)
    assert code == 0 and "shop_a" in out and "shop_b" in out


@pytest.mark.parametrize("argv, message", [
    (["cypher", "MATCH (p:Product) DETACH DELETE p"], "query refused"),
    (["similar", "shop_a:no-such-product"], "no product with id"),
    (["search"], "search needs text, an image, or both"),
    (["search", "x", "--set", "nosuch.key=1"], "unknown setting"),
    (["search", "x", "-k", "0"], "k must be"),
    (["search", "--image", "/nonexistent/photo.jpg"], "photo.jpg"),
])
def test_user_errors_are_one_line(demo_graph, capsys, argv, message):
    code, out, err = run(argv + ["--db", str(demo_graph.db)], capsys)
    assert code == 1
    assert message in err and len(err.strip().splitlines()) == 1


def test_missing_database_is_one_line(tmp_path, capsys):
    code, _, err = run(["stats", "--db", str(tmp_path / "none.db")], capsys)
    assert code == 1 and "no shopgraph database" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [
    ["stats", "--db", "bolt://u:pw-4711@db.example:abc"],
    ["stats", "--db", "neo4j://u:pw-4711@db.example:99999"],
    ["migrate", "--from", "bolt://u:pw-4711@db.example:abc", "--to", "copy.db"],
])
def test_bad_neo4j_port_is_one_line_without_the_password(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(argv, capsys)
    assert code == 1 and "bad port in Neo4j URI" in err and len(err.strip().splitlines()) == 1
    assert "pw-4711" not in out + err and "Traceback" not in err


def test_ingest_errors_name_the_file(tmp_path, capsys):
    db = str(tmp_path / "x.db")
    code, _, err = run(["ingest", str(tmp_path / "missing.csv"), "--db", db, "--platform", "p",
                        "--id-col", "id", "--title-col", "title"], capsys)
    assert code == 1 and "missing.csv" in err and len(err.strip().splitlines()) == 1
    good = tmp_path / "c.csv"
    good.write_text("id,title\n1,Widget\n", encoding="utf-8")
    code, _, err = run(["ingest", str(good), "--db", db, "--platform", "p", "--id-col", "id", "--title-col", "name"], capsys)
    assert code == 1 and "c.csv" in err and "name" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(["ingest", str(good), "--db", db], capsys)
    assert code == 1 and "--mapping" in err


def test_ingest_by_flags_then_search(tmp_path, capsys):
    catalog = tmp_path / "c.jsonl"
    catalog.write_text('{"sku": "1", "name": "Steel kettle 1.7 L", "cost": "29.90"}\n'
                       '{"sku": "2", "name": "Trail running shoe", "cost": "-3"}\n'
                       'not json at all\n', encoding="utf-8")
    db = str(tmp_path / "f.db")
    code, out, err = run(["ingest", str(catalog), "--db", db, "--platform", "shop", "--id-col", "sku",
                          "--title-col", "name", "--price-col", "cost", "--default-currency", "EUR", "--no-progress"], capsys)
    assert code == 0, err
    # Issue 15: the negative price keeps its product (no price, counted); the broken line is quarantined.
    assert re.search(r"products written\s+2\b", out) and re.search(r"quarantined rows\s+1\b", out)
    assert re.search(r"prices unreadable\s+1\b", out) and "shop:2: '-3': negative" in out
    code, out, _ = run(["search", "kettle", "--db", db, "--json"], capsys)
    hit = json.loads(out.splitlines()[0])
    assert hit["product"]["id"] == "shop:1" and hit["product"]["price"] == 29.9 and hit["product"]["currency"] == "EUR"


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "shopgraph", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("shopgraph ")


@pytest.mark.parametrize("argv, message", [
    (["search", "x", "--price-min", "nan"], "price_min must be a finite number >= 0, got nan"),
    (["search", "x", "--price-max", "inf"], "price_max must be a finite number >= 0, got inf"),
    (["search", "x", "--where", "p.price < $x", "--param", "x={bad json"], "x={bad json".split("=", 1)[1]),
    (["search", "x", "--where", "p.price < $x", "--param", "x=1.2.3"], "is not valid JSON"),
    (["cypher", "RETURN $x AS x", "--param", "x=[1, 2"], "quote it as JSON: --param 'x=\"[1, 2\"'"),
    (["search", "x", "--platform", "shop_a", "--where", "p.platform = $_f_platforms",
      "--param", "_f_platforms=\"shop_b\""], "names starting with '_' are reserved"),
])
def test_bad_filters_and_parameters_are_refused(demo_graph, capsys, argv, message):
    """Issue 13, finding 11: --price-min nan was accepted, --param x={bad json silently became a string,
    and a user parameter named _f_... was overwritten by the structured filters."""
    code, out, err = run(argv + ["--db", str(demo_graph.db)], capsys)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1, err


def test_bare_words_and_json_strings_are_still_parameters(demo_graph, capsys):
    code, out, err = run(["cypher", "RETURN $a AS a, $b AS b, $c AS c", "--json", "--param", "a=brakmoor",
                          "--param", 'b="{not json}"', "--param", "c=[1, 2]", "--db", str(demo_graph.db)], capsys)
    assert code == 0, err
    assert json.loads(out) == {"a": "brakmoor", "b": "{not json}", "c": [1, 2]}


@pytest.mark.parametrize("platform", ["../../escaped", "/tmp/escaped", "a\nb", ".."])
def test_ingest_refuses_a_platform_name_that_could_reach_a_path(tmp_path, capsys, platform):
    """Issue 13, finding 3: the CLI wrote <platform>-<file>.jsonl wherever the platform pointed."""
    data = tmp_path / "c.csv"
    data.write_text("sku,name,price\nA-1,Bad price,abc\n", encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = run(["ingest", str(data), "--platform", platform, "--id-col", "sku", "--title-col", "name",
                        "--price-col", "price", "--db", str(tmp_path / "g.db"), "--no-progress"], capsys)
    assert code == 1 and "platform" in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
