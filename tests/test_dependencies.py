"""Every dependency pyproject.toml names is used: imported by the package, its tests or benchmarks, or
on the short list below of packages used without an import (each with the reason). A dependency
nothing uses any more fails here, so it gets removed."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import REPO

# Used, but never imported by name.
WITHOUT_IMPORT = {
    "neo4j-rust-ext": "the neo4j driver loads it by itself to decode results faster",
    "ipykernel": "the kernel tests/test_notebook.py runs docs/example.ipynb in",
    "ipywidgets": "tqdm.auto draws its notebook bars with it",
    "fastapi-offline": "its Swagger UI files are served at /docs (located with importlib.resources)",
    "torchvision": "optional: found with importlib.util.find_spec, never imported when broken",
}


def declared() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return sorted({canonicalize_name(Requirement(r).name) for r in lines})


def imported_modules() -> set[str]:
    found = set()
    for folder in ("shopgraph", "tests", "bench", "tools"):
        for path in (REPO / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            found |= set(re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", text, re.M))
            found |= set(re.findall(r"importorskip\(\"([A-Za-z_]\w*)", text))
    return found


def test_every_declared_dependency_is_used():
    modules_of: dict[str, set[str]] = {}
    for module, dists in metadata.packages_distributions().items():
        for dist in dists:
            modules_of.setdefault(canonicalize_name(dist), set()).add(module)
    used = imported_modules()
    unused = [name for name in declared()
              if name not in WITHOUT_IMPORT and modules_of.get(name) is not None and not modules_of[name] & used]
    assert unused == [], f"declared in pyproject.toml but never imported: {unused}"
    assert set(WITHOUT_IMPORT) <= set(declared()), "WITHOUT_IMPORT names a package pyproject.toml no longer has"
