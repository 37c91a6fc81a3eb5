"""Training on a real (small) store: the demo graph copied, trained once, then searched,
recommended from, grown and re-embedded; and the train / embed / recommend commands."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from shopgraph.cli import main
from shopgraph.config import Config, with_overrides
from shopgraph.errors import BadArgumentError
from shopgraph.gnn.checkpoint import load_checkpoint
from shopgraph.ingest.interactions import InteractionMapping
from shopgraph.ingest.mapping import ColumnMapping
from shopgraph.queries.api import ShopGraph

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def copy_store(db: Path, directory: Path) -> Path:
    """The database with its models and encoder cache (not its index mirrors), in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    copy = directory / db.name
    shutil.copyfile(db, copy)
    for suffix in (".models", ".cache.sqlite"):
        source = Path(f"{db}{suffix}")
        if source.is_dir():
            shutil.copytree(source, f"{copy}{suffix}")
        elif source.exists():
            shutil.copyfile(source, f"{copy}{suffix}")
    return copy


@pytest.fixture(scope="module")
def trained(demo_graph, tmp_path_factory):
    """A copy of the demo graph after ShopGraph.train() with the default settings: (db, reports)."""
    db = copy_store(demo_graph.db, tmp_path_factory.mktemp("trained"))
    with ShopGraph.open(db) as sg:
        reports = sg.train()
    return db, reports


def gnn_vectors(sg: ShopGraph, label: str) -> dict[str, np.ndarray]:
    ids = [r["id"] for batch in sg.store.iter_nodes(label, ["id"]) for r in batch]
    got, vectors = sg.store.get_vectors(label, "gnn_vec", ids)
    return dict(zip(got, vectors))


def busiest_user(sg: ShopGraph) -> tuple[str, set[str]]:
    user = sg.cypher("MATCH (u:User)-[:INTERACTED]->(p:Product) RETURN u.id AS id, count(DISTINCT p) AS n "
                     "ORDER BY n DESC, id LIMIT 1")[0]["id"]
    seen = {r["id"] for r in sg.cypher("MATCH (u:User {id: $u})-[:INTERACTED]->(p:Product) RETURN p.id AS id",
                                       {"u": user})}
    return user, seen


# -- ShopGraph.train -----------------------------------------------------------------------------
def test_trained_graph_embeds_queries_with_the_numpy_aligner(trained):
    """The aligner loads from the numpy weights saved beside its checkpoint and gives the vectors the
    torch model wrote: a search on a trained graph needs no torch."""
    from shopgraph.gnn.aligner_numpy import NumpyAligner
    from shopgraph.gnn.training import alignment_data

    db, _ = trained
    with ShopGraph.open(db, read_only=True) as sg:
        assert isinstance(sg.aligner, NumpyAligner)
        ids, data = alignment_data(sg)
        out = sg.aligner.embed(data.text, data.image, data.has_text, data.has_image)
        got, stored = sg.store.get_vectors("Product", "mm_vec", ids)
        np.testing.assert_allclose(out["fused"][[ids.index(i) for i in got]], stored, atol=1e-5)


def test_cli_text_search_on_a_trained_graph_imports_no_torch(trained):
    import os
    import subprocess
    import sys

    db, _ = trained
    code = ("import sys\nfrom shopgraph.cli import main\n"
            f"code = main(['search', 'wireless headphones', '--db', {str(db)!r}, '-k', '3'])\n"
            "print('CODE', code, 'TORCH', 'torch' in sys.modules)")
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=repo, env=dict(os.environ, PYTHONPATH=str(repo)),
                            capture_output=True, text=True, timeout=300)
    assert "CODE 0 TORCH False" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]


def test_train_writes_learned_vectors_for_every_product_and_user(trained):
    db, reports = trained
    with ShopGraph.open(db, read_only=True) as sg:
        stats = sg.stats()
        n_products, n_users = stats["Product"], stats["User"]
        assert [r.model for r in reports] == ["align", sg.config.gnn.model]
        assert reports[0].written == n_products and reports[1].written == n_products + n_users
        for prop in ("txt_emb", "mm_vec", "gnn_vec"):
            assert sg.store.count_with_vector(prop) == n_products, prop
        assert sg.store.count_with_vector("img_emb") == sg.store.count_with_vector("image_vec") > 0
        assert sg.cypher("MATCH (u:User) WHERE u.gnn_vec IS NULL RETURN count(u) AS n")[0]["n"] == 0
        assert len(gnn_vectors(sg, "User")) == n_users
        ids = [r["id"] for r in sg.cypher("MATCH (p:Product) RETURN p.id AS id ORDER BY id")]
        _, mm = sg.store.get_vectors("Product", "mm_vec", ids)
        np.testing.assert_allclose(np.linalg.norm(mm, axis=1), 1.0, atol=1e-4)
        _, gnn = sg.store.get_vectors("Product", "gnn_vec", ids)
        assert gnn.shape == (n_products, sg.store.dims.gnn) and np.isfinite(gnn).all()


def test_train_saves_checkpoints_and_curves(trained):
    db, reports = trained
    models = Path(f"{db}.models")
    with ShopGraph.open(db, read_only=True) as sg:  # the graph names the models its vectors come from
        align_id, gnn_id = sg.store.get_meta("model.align"), sg.store.get_meta("model.gnn")
    align_file, gnn_file = models / f"align-{align_id}.pt", models / f"gnn-{gnn_id}.pt"
    assert {p.name for p in models.iterdir()} == {align_file.name, gnn_file.name, "align_curves.png", "gnn_curves.png",
                                                  f"align-{align_id}.npz"}  # the aligner's numpy weights
    for name in ("align_curves.png", "gnn_curves.png"):
        assert (models / name).read_bytes()[:8] == PNG_SIGNATURE
    assert [r.checkpoint for r in reports] == [align_file, gnn_file]
    align, gnn = load_checkpoint(align_file, kind="align"), load_checkpoint(gnn_file, kind="gnn")
    assert align["extra"]["model_id"] == align_id and gnn["extra"]["model_id"] == gnn_id
    assert align["metrics"]["recall@10"] > 0 and "score" in gnn["metrics"]
    assert gnn["extra"]["product_vector"] == "mm_vec"  # the GNN read the aligned vectors
    assert len(gnn["extra"]["learned_ids"]["user"]) == reports[1].written - reports[0].written
    assert "recall@10" in reports[0].render() and str(gnn_file) in reports[1].render()


def test_text_search_ranked_by_image(trained):
    db, _ = trained
    with ShopGraph.open(db, read_only=True) as sg:
        hits = sg.search(text="electric kettle", rank_by="image", k=5)
        assert len(hits) == 5
        assert all({"image", "text"} <= set(h.channels) for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        # A product's own title finds its photo. Measured: 71 of the 73 products with an image
        # in the top 10 (chance 10/73); the bar is for the first 20.
        rows = sg.cypher("MATCH (p:Product) WHERE p.img_emb IS NOT NULL RETURN p.id AS id, p.title AS title "
                         "ORDER BY id LIMIT 20")
        found = sum(r["id"] in [h.product.id for h in sg.search(text=r["title"], rank_by="image", k=10)]
                    for r in rows)
        assert found >= 12
        for rank_by in ("text", "fused", "auto"):
            assert len(sg.search(text="electric kettle", rank_by=rank_by, k=3)) == 3


def test_training_adds_the_learned_channel_and_keeps_exact_lookup_and_own_photo_first(trained, graph):
    from shopgraph.search.analysis import model_numbers

    db, _ = trained
    with ShopGraph.open(db, read_only=True) as sg:
        rows = sg.cypher("MATCH (p:Product) RETURN p.id AS id, p.title AS title ORDER BY id")
        key = next(k for r in rows for k in model_numbers(r["title"]))
        carriers = {r["id"] for r in rows if key in model_numbers(r["title"])}
        for searched in (graph, sg):  # before and after training
            hits = searched.search(key.upper(), k=10)
            assert {h.product.id for h in hits[:len(carriers)]} == carriers
            assert hits[0].strength == "exact"
        text = sg.search("electric kettle", k=10)
        assert "learned" in {c for h in text for c in h.channels}  # training added a channel
        assert {"bm25", "vector"} <= {c for h in text for c in h.channels}  # and removed none
        pictured = [r for r in sg.cypher("MATCH (p:Product) WHERE p.img_emb IS NOT NULL "
                                         "RETURN p.id AS id ORDER BY id LIMIT 8")]
        for r in pictured:  # a catalogue photo finds its own product first, before and after training
            photo = graph.image_file(graph.product(r["id"]))  # the copy's catalog folder is not beside it
            for searched in (graph, sg):
                hits = searched.search(image=photo, k=5)
                assert hits[0].product.id == r["id"] and hits[0].strength == "exact", r["id"]


def test_rank_by_image_before_training_is_an_error(graph):
    with pytest.raises(BadArgumentError, match="needs a trained alignment model"):
        graph.search(text="electric kettle", rank_by="image")
    with pytest.raises(BadArgumentError, match="rank_by must be one of"):
        graph.search(text="electric kettle", rank_by="colour")


# -- recommend -----------------------------------------------------------------------------------
def test_recommend_leaves_out_what_the_user_saw(trained):
    db, _ = trained
    with ShopGraph.open(db, read_only=True) as sg:
        user, seen = busiest_user(sg)
        assert len(seen) >= 5
        hits = sg.recommend(user, k=6)
        ids = [h.product.id for h in hits]
        assert len(ids) == 6 == len(set(ids)) and not set(ids) & seen
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        # The ranking is the inner product of the user's and the products' GNN vectors.
        user_vector = gnn_vectors(sg, "User")[user]
        scores = {i: float(v @ user_vector) for i, v in gnn_vectors(sg, "Product").items() if i not in seen}
        best = sorted(scores, key=scores.get, reverse=True)[:6]
        assert ids == best
        for h in hits:
            assert h.score == pytest.approx(scores[h.product.id], rel=1e-4, abs=1e-4)
        with_seen = [h.product.id for h in sg.recommend(user, k=30, exclude_seen=False)]
        assert set(with_seen) & seen  # the same ranking without the filter does hold seen products


def test_recommend_unknown_user_is_an_error(trained):
    db, _ = trained
    with ShopGraph.open(db, read_only=True) as sg:
        with pytest.raises(BadArgumentError, match="no user with id 'shop_a:nobody'"):
            sg.recommend("shop_a:nobody")
        with pytest.raises(BadArgumentError, match="k must be"):
            sg.recommend(busiest_user(sg)[0], k=0)


# -- growing the graph after training -------------------------------------------------------------
def test_new_product_gets_aligned_vectors_at_ingest_and_gnn_vec_from_embed(trained, demo_graph, tmp_path):
    db = copy_store(trained[0], tmp_path)
    shop_a = demo_graph.catalog.sources[0][0].parent
    with open(demo_graph.catalog.sources[0][0], newline="", encoding="utf-8") as f:
        template = next(csv.DictReader(f))
    new_file = tmp_path / "new.csv"
    with open(new_file, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(template))
        writer.writeheader()
        writer.writerow({**template, "sku": "NEW-1", "name": "Brand-new " + template["name"]})
    mapping = ColumnMapping(platform="shop_a", id="sku", title="name", description=("description",),
                            price="price", currency="currency", brand="brand", category="category",
                            category_separator=">", image="image", image_dir=str(shop_a / "images"))
    with ShopGraph.open(db) as sg:
        before = gnn_vectors(sg, "Product")
        users_before = gnn_vectors(sg, "User")
        sg.ingest(new_file, mapping, progress=False)
        new_id = "shop_a:NEW-1"
        for prop in ("txt_emb", "img_emb", "mm_vec"):
            assert sg.store.get_vectors("Product", prop, [new_id])[0] == [new_id], prop
        assert sg.store.get_vectors("Product", "gnn_vec", [new_id])[0] == []
        assert sg.embed() == 1
        after = gnn_vectors(sg, "Product")
        assert new_id in after and np.isfinite(after[new_id]).all() and np.abs(after[new_id]).sum() > 0
        assert set(after) == set(before) | {new_id}
        for product_id, vector in before.items():
            np.testing.assert_array_equal(after[product_id], vector)
        users_after = gnn_vectors(sg, "User")
        for user_id, vector in users_before.items():
            np.testing.assert_array_equal(users_after[user_id], vector)
        assert sg.embed() == 0  # nothing new since


def test_new_user_is_recommended_to_after_embed(trained, tmp_path):
    db = copy_store(trained[0], tmp_path)
    with ShopGraph.open(db) as sg:
        _, seen = busiest_user(sg)
        items = sorted(seen)[:3]
        interactions = tmp_path / "more.csv"
        interactions.write_text("user,item,kind,timestamp\n" + "".join(
            f"newcomer,{i.split(':', 1)[1]},purchase,{1_800_000_000 + n}\n" for n, i in enumerate(items)),
            encoding="utf-8")
        sg.ingest_interactions(interactions, InteractionMapping(namespace="shop_a", user="user", item="item",
                                                                kind="kind", timestamp="timestamp"),
                               progress=False)
        with pytest.raises(BadArgumentError, match="has no learned vector yet"):
            sg.recommend("shop_a:newcomer")
        assert sg.embed() == 1
        hits = sg.recommend("shop_a:newcomer", k=4)
        assert len(hits) == 4 and not {h.product.id for h in hits} & set(items)


def test_embed_all_reproduces_the_trained_vectors(trained, tmp_path):
    db = copy_store(trained[0], tmp_path)
    with ShopGraph.open(db) as sg:
        products, users = gnn_vectors(sg, "Product"), gnn_vectors(sg, "User")
        assert sg.embed(all_nodes=True) == len(products) + len(users)
        again_products, again_users = gnn_vectors(sg, "Product"), gnn_vectors(sg, "User")
    for before, after in ((products, again_products), (users, again_users)):
        assert set(after) == set(before)
        for node_id in before:
            np.testing.assert_allclose(after[node_id], before[node_id], atol=1e-4, rtol=1e-4)


def test_gnn_trains_on_a_catalog_without_users(demo_graph, tmp_path):
    db = copy_store(demo_graph.db, tmp_path)
    with ShopGraph.open(db) as sg:
        sg.cypher("MATCH (u:User) DETACH DELETE u", allow_write=True)
        reports = sg.train(align=False)
        assert reports[0].written == sg.stats()["Product"]
        assert sg.store.count_with_vector("gnn_vec") == sg.stats()["Product"]


# -- the command line ----------------------------------------------------------------------------
def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_train_embed_recommend(demo_graph, tmp_path, capsys):
    db = str(copy_store(demo_graph.db, tmp_path))
    code, out, err = run(["train", "--db", db, "--no-progress", "--set", "align.epochs=3",
                          "--set", "gnn.epochs=3", "--set", "gnn.model=rgcn"], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("align: best epoch") and lines[1].startswith("rgcn: best epoch")
    assert all("vectors written" in line for line in lines) and "/3," in lines[1]
    for line, png in zip(lines, ("align_curves.png", "gnn_curves.png")):  # train says where its curves went
        shown = Path(line.rsplit("; curves ", 1)[1])
        assert shown.name == png and shown.is_file(), line
    code, out, err = run(["embed", "--db", db], capsys)
    assert code == 0 and out.strip() == "0 GNN vectors written", err
    code, out, err = run(["embed", "--db", db, "--all"], capsys)
    assert code == 0 and out.strip().endswith("GNN vectors written") and int(out.split()[0]) > 0, err
    with ShopGraph.open(db, read_only=True) as sg:
        user, seen = busiest_user(sg)
    code, out, err = run(["recommend", user, "--db", db, "-k", "3", "--json"], capsys)
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 3 and not {r["product"]["id"] for r in rows} & seen
    code, out, err = run(["recommend", user, "--db", db, "-k", "3"], capsys)
    assert code == 0 and "score" in out
    code, _, err = run(["recommend", "shop_a:nobody", "--db", db], capsys)
    assert code == 1 and "no user with id" in err and len(err.strip().splitlines()) == 1


def test_cli_train_refuses_to_skip_everything(demo_graph, capsys):
    code, _, err = run(["train", "--db", str(demo_graph.db), "--skip-align", "--skip-gnn"], capsys)
    assert code == 1 and "nothing to train" in err


def test_cli_train_on_a_catalog_without_images_or_edges_says_there_is_nothing_to_train(tmp_path, capsys):
    import pandas as pd

    db = tmp_path / "titles.db"
    titles = pd.DataFrame({"id": [str(i) for i in range(30)], "title": [f"blue widget number {i}" for i in range(30)]})
    with ShopGraph.open(db) as sg:
        sg.ingest(titles, {"platform": "shop", "id": "id", "title": "title"}, progress=False)
    code, out, err = run(["train", "--db", str(db), "--no-progress"], capsys)
    assert code == 1 and not out
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: nothing to train: ")
    assert "no product has an image" in err and "the GNN needs at least 10 links of one kind" in err
    code, _, err = run(["train", "--db", str(db), "--no-progress", "--skip-gnn"], capsys)
    assert code == 1 and err.startswith("error: nothing to train: no product has an image")
    with ShopGraph.open(db, read_only=True) as sg:
        assert sg.store.count_with_vector("gnn_vec") == 0 and not list(Path(f"{db}.models").glob("*"))


def test_train_keeps_the_alignment_when_the_gnn_has_nothing_to_learn_from(demo_graph, tmp_path):
    db = copy_store(demo_graph.db, tmp_path)
    with ShopGraph.open(db, config=with_overrides(Config(), {"align.epochs": "1"})) as sg:
        for label in ("User", "Brand", "Category"):  # no interactions, brands or categories
            sg.cypher(f"MATCH (n:{label}) DETACH DELETE n", allow_write=True)
        sg.cypher("MATCH (:Product)-[r]->(:Product) DELETE r", allow_write=True)  # no co-purchases or pairs
        reports = sg.train()
        assert [r.model for r in reports] == ["align"] and reports[0].written > 0
