"""Training a graph with nothing to learn from (no photos, no links) says so plainly, at once, in one
line: not a GNN objective error about 'auto'."""

from __future__ import annotations

import pytest

from shopgraph.cli import main
from shopgraph.config import Config, with_overrides
from shopgraph.errors import ConfigError, NothingToTrainError
from shopgraph.ingest.mapping import ColumnMapping
from shopgraph.queries.api import ShopGraph


@pytest.fixture(scope="module")
def bare_graph(tmp_path_factory):
    """Six products with a title and a price only: no image, brand, category, user or match."""
    root = tmp_path_factory.mktemp("bare")
    path = root / "items.csv"
    path.write_text("sku,name,price\n" + "".join(f"S-{i},Steel bottle {i} litre,{i}.50\n" for i in range(6)),
                    encoding="utf-8")
    db = root / "bare.db"
    with ShopGraph.open(db) as sg:
        sg.ingest(path, ColumnMapping(platform="shop", id="sku", title="name", price="price"), progress=False)
    return db


def test_cli_train_says_there_is_nothing_to_train_and_why(bare_graph, capsys):
    code = main(["train", "--db", str(bare_graph), "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith("error: nothing to train: no product has an image"), line
    assert "the GNN needs at least 10 links of one kind" in line and "this graph has none of them" in line
    assert "objectives" not in line and "Traceback" not in err


def test_alignment_alone_on_a_graph_without_images_is_an_error_not_an_empty_success(bare_graph):
    with ShopGraph.open(bare_graph) as sg:
        with pytest.raises(NothingToTrainError, match="no product has an image"):
            sg.train(gnn=False)  # returned [] before: nothing trained, nothing said
        with pytest.raises(NothingToTrainError, match="neither model"):
            sg.train(align=False, gnn=False)


def test_named_objectives_the_graph_lacks_stay_a_configuration_error(bare_graph, capsys):
    code = main(["train", "--db", str(bare_graph), "--skip-align", "--no-progress", "--set", "gnn.objectives=link"])
    err = capsys.readouterr().err
    assert code == 1 and "no edges for the objectives 'link'" in err and len(err.strip().splitlines()) == 1
    config = with_overrides(Config(), {"gnn.objectives": "link"})
    with ShopGraph.open(bare_graph, config=config) as sg, pytest.raises(ConfigError):
        sg.train(align=False)
