"""Brand merges: spellings of one brand end in one Brand node, and the run summary lists each merge.

normalise_brand already folds case, punctuation, accents and legal suffixes ("SAMSUNG Electronics Co.,
Ltd." -> "samsung electronics"). Two more rules, applied to a brand key:

1. an alias file (config ingest.brand_aliases): TOML `[aliases]` with `"variant" = "brand"`, or a CSV
   of `variant,brand` rows; both sides are normalised, so `"HP Inc." = "Hewlett-Packard"` merges
   "hp" into "hewlett packard";
2. trailing corporate descriptors (normalise.CORPORATE_DESCRIPTORS: "electronics", "international",
   "group", "technologies" ...) are dropped when the shorter brand exists in the graph or in this
   run: "samsung electronics" -> "samsung" when "samsung" is a brand; alone, "samsung electronics"
   stays itself. No rule names a brand.

During a run `BrandMerger.resolve` maps each product's brand key; at the end `merge_existing` applies
the same rules to every Brand node (a variant written before its stem appeared, in this run or an
earlier one), moving its products' OF_BRAND edges to the merged brand and deleting the variant node.
"""

from __future__ import annotations

import csv
import io
import logging
import tomllib
from pathlib import Path
from typing import Iterable

from shopgraph.errors import ConfigError
from shopgraph.files import open_regular
from shopgraph.ingest.normalise import CORPORATE_DESCRIPTORS, normalise_brand

log = logging.getLogger(__name__)


def load_aliases(path: str | Path | None) -> dict[str, tuple[str, str]]:
    """variant key -> (brand key, brand as written) from an alias file (see the module docstring)."""
    if not path:
        return {}
    path = Path(path)
    try:
        with open_regular(path) as f:
            text = f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read brand aliases {path}: {e}") from None
    pairs: list[tuple[str, str]] = []
    if path.suffix.lower() == ".csv":
        for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
            if not row or (n == 1 and [c.strip().lower() for c in row[:2]] == ["variant", "brand"]):
                continue
            if len(row) != 2:
                raise ConfigError(f"{path}: line {n}: expected 'variant,brand', got {row!r}")
            pairs.append((row[0], row[1]))
    else:
        try:
            table = tomllib.loads(text).get("aliases", {})
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise ConfigError(f"{path}: [aliases] must map brand variants to brand names")
        pairs = list(table.items())
    out = {}
    for variant, brand in pairs:
        v, b = normalise_brand(variant), normalise_brand(brand)
        if v and b and v != b:
            out[v] = (b, " ".join(brand.split()))
    return out


def descriptor_stem(key: str) -> str | None:
    """The key without its trailing corporate descriptors, or None when it has none (or nothing
    would be left)."""
    words = key.split()
    while len(words) > 1 and words[-1] in CORPORATE_DESCRIPTORS:
        words.pop()
    stem = " ".join(words)
    return stem if stem != key else None


class BrandMerger:
    """Resolves brand keys (see the module docstring). known: brand keys already in the graph."""

    def __init__(self, known: Iterable[str] = (), aliases: dict[str, tuple[str, str]] | None = None):
        self.known = set(known)
        self.aliases = aliases or {}
        self.merges: dict[str, str] = {}  # variant key -> brand key, every merge made

    def resolve(self, key: str) -> str:
        """The key a brand key is stored under; remembers the key as a known brand."""
        target = self._target(key)
        if target != key:
            self.merges[key] = target
        self.known.add(target)
        return target

    def _target(self, key: str) -> str:
        seen = {key}
        while True:
            if key in self.aliases:
                nxt = self.aliases[key][0]
            else:
                stem = descriptor_stem(key)
                nxt = stem if stem is not None and (stem in self.known or stem in self.aliases) else None
                if nxt is not None and nxt in self.aliases:
                    nxt = self.aliases[nxt][0]
            if nxt is None or nxt in seen:
                return key
            seen.add(nxt)
            key = nxt

    def display_name(self, key: str) -> str | None:
        """How an alias file writes a brand it merges into (None when it names none)."""
        return next((shown for target, shown in self.aliases.values() if target == key), None)

    def lines(self) -> list[str]:
        """The merges made, one "variant -> brand" each, sorted."""
        return [f"{variant} -> {brand}" for variant, brand in sorted(self.merges.items())]


def merge_existing(store, merger: BrandMerger) -> int:
    """Merge every Brand node of the graph that the rules map to another (see the module docstring);
    returns how many Brand nodes were merged away. Each variant is one transaction (its products'
    OF_BRAND edges moved, the Brand node then deleted): killed half-way and run again, it ends the same."""
    from shopgraph.graph.store import GraphBatch

    names = [r["name"] for r in store.cypher("MATCH (b:Brand) RETURN b.name AS name")]
    merger.known.update(names)
    merged = 0
    for variant in sorted(names):
        target = merger._target(variant)
        if target == variant:
            continue
        products = [r["id"] for r in store.cypher(
            "MATCH (p:Product)-[:OF_BRAND]->(b:Brand {name: $name}) RETURN p.id AS id", {"name": variant})]
        shown = merger.display_name(target) or target
        batch = GraphBatch(nodes={"Brand": [{"name": target, "display_name": shown}]} if target not in names else {},
                           relationships={"OF_BRAND": [{"src": p, "dst": target} for p in products]},
                           replace_outgoing={"OF_BRAND": products})
        if products:
            # Stamping the products starts a new write generation, so prepared brand filters are redone.
            batch.nodes["Product"] = [{"id": p} for p in products]
        store.write(batch)
        store.delete_nodes("Brand", [variant])
        merger.merges[variant] = target
        names.append(target)
        merged += 1
    if merged:
        log.info("merged %d brand variants", merged)
    return merged
