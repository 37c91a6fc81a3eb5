"""docs/example.ipynb runs top to bottom in a real IPython kernel (nbclient, offline): results as HTML
tables and DataFrames, full-precision prices, the schema, an export, and the ingest bar shown as a
tqdm.auto widget (a notebook, not a terminal)."""

from __future__ import annotations

import os

import pytest

from tests.helpers import REPO

NOTEBOOK = REPO / "docs" / "example.ipynb"


def _text(output) -> str:
    if output.get("output_type") == "stream":
        return output["text"]
    return "".join(output.get("data", {}).get("text/plain", ""))


def test_example_notebook_runs(tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient", reason="the notebook test needs the test extra (nbclient)")
    import nbformat

    # The kernel (ipykernel's python3 spec: the interpreter it is installed in) with this checkout first
    # on its path, whatever is installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()

    cells = [c for c in notebook.cells if c.cell_type == "code"]
    outputs = [c.outputs for c in cells]
    assert not any(o.get("output_type") == "error" for out in outputs for o in out)
    ingest, hits, frame, prices, schema, export = outputs[:6]
    assert "products written              4" in "".join(map(_text, ingest))
    widgets = [o for o in ingest if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widgets, "the ingest bar is not a notebook widget (tqdm.auto)"
    html = hits[0]["data"]["text/html"]
    assert "<table" in html and "B-1" in html
    assert "Stainless steel water bottle" in frame[0]["data"]["text/plain"]
    shown = _text(prices[0])
    assert "'price': 'float64'" in shown and "'id': 'string'" in shown.replace('"', "'") and "399.99" in shown
    assert "Product" in _text(schema[0]) and "SAME_AS" in _text(schema[0])
    assert "manifest.json" in _text(export[0])
