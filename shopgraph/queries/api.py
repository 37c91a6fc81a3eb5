"""ShopGraph: the Python query API over a GraphStore.

    sg = ShopGraph.open("shopgraph.db")
    sg.ingest("catalog.csv", mapping="shop_a.toml")
    sg.search(text="noise cancelling headphones", k=5, filters=Filters(platform="shop_b"))
    sg.search(image="photo.jpg")
    sg.vector_search(vec, where="(p)-[:OF_BRAND]->(b:Brand) WHERE b.name = $b", params={"b": "nordvik"})
    sg.cypher("MATCH (p:Product)-[:OF_BRAND]->(b:Brand) RETURN b.name, count(p)")
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from shopgraph.config import Config
from shopgraph.errors import BadArgumentError
from shopgraph.graph.store import Filters, GraphStore
from shopgraph.queries.results import Product, SearchResult, carried_by

log = logging.getLogger(__name__)

MAX_K = 1000


def _check_k(k: int) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or k <= 0 or k > MAX_K:
        raise BadArgumentError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    return k


class ShopGraph:
    """The product graph: ingest, search, similar, vector_search, cypher, stats."""

    def __init__(self, store: GraphStore, config: Config | None = None, *, store_path: Path | None = None,
                 cache_path: Path | None = None):
        self.store = store
        self.config = config or Config()
        self.store_path = store_path
        self._cache_path = cache_path
        self._encoder = None

    @classmethod
    def open(cls, path: str | Path = "shopgraph.db", *, config: Config | None = None, read_only: bool = False,
             trace: Callable[[str, Mapping], None] | None = None) -> "ShopGraph":
        """Open (or create) the embedded graph at path."""
        from shopgraph.graph.embedded import EmbeddedStore

        config = config or Config()
        path = Path(path)
        dims = None
        if not path.exists() and config.text.model_path is not None:
            # A new database takes its vector widths from the configured encoders.
            from shopgraph.ingest.encoders import ProductEncoder

            dims = ProductEncoder(config, None).dims
        store = EmbeddedStore.open(path, dims=dims, read_only=read_only, index_config=config.index, trace=trace)
        return cls(store, config, store_path=path, cache_path=Path(f"{path}.cache.sqlite"))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "ShopGraph":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def encoder(self):
        """The ProductEncoder (models load on first use)."""
        if self._encoder is None:
            from shopgraph.ingest.encoders import ProductEncoder

            cache = self._cache_path if self.config.ingest.use_cache else None
            self._encoder = ProductEncoder(self.config, cache)
            if self._encoder.dims != self.store.dims:
                from shopgraph.errors import SchemaError

                raise SchemaError(f"the graph stores vectors of widths {self.store.dims}, the configured "
                                  f"encoders give {self._encoder.dims}; use the encoders the graph was built with")
        return self._encoder

    # -- ingest --------------------------------------------------------------------------------
    def ingest(self, path: str | Path, mapping, *, progress: bool = True):
        """Ingest one catalog file (CSV, JSONL or Parquet) with a ColumnMapping or a mapping file."""
        from shopgraph.ingest.run import ingest_file

        return ingest_file(self, Path(path), mapping, progress=progress)

    def ingest_dataset(self, directory: str | Path, layout: str | None = None, *, progress: bool = True):
        """Ingest a directory in a known layout (deepmatcher, flipkart, grocery, s3rec)."""
        from shopgraph.ingest.run import ingest_layout

        return ingest_layout(self, Path(directory), layout, progress=progress)

    def ingest_interactions(self, path: str | Path, mapping, *, progress: bool = True):
        """Ingest a user interaction file with an InteractionMapping."""
        from shopgraph.ingest.run import ingest_interaction_file

        return ingest_interaction_file(self, Path(path), mapping, progress=progress)

    # -- reads ---------------------------------------------------------------------------------
    def product(self, product_id: str) -> Product:
        rows = self.store.get_nodes("Product", [product_id])
        if not rows:
            raise BadArgumentError(f"no product with id {product_id!r}")
        return Product.from_row(rows[0])

    def stats(self) -> dict[str, int]:
        return self.store.stats()

    def cypher(self, query: str, params: Mapping[str, Any] | None = None, *, allow_write: bool = False) -> list[dict]:
        """Run Cypher with parameters; read-only unless allow_write."""
        return self.store.cypher(query, params, allow_write=allow_write)

    # -- vector queries ------------------------------------------------------------------------
    def search(self, text: str | None = None, image=None, *, k: int = 10, filters: Filters | None = None,
               where: str | None = None, params: Mapping[str, Any] | None = None) -> list[SearchResult]:
        """Products nearest to a text and/or an image (path, bytes or PIL image), best first.

        Text queries use the text and lexical channels, image queries the image channel; each result
        says which channels carried it.
        """
        _check_k(k)
        if (text is None or not str(text).strip()) and image is None:
            raise BadArgumentError("search needs text, an image, or both")
        query = self.encoder.encode_query(text=text.strip() if text else None, image=image)
        return self._fused_search(query["fused"], k, filters, where, params)

    def similar(self, product_id: str, k: int = 10, *, platform: str | Sequence[str] | None = None,
                filters: Filters | None = None) -> list[SearchResult]:
        """Products most like product_id (by its fused vector), optionally only on other platform(s)."""
        _check_k(k)
        ids, vectors = self.store.get_vectors("Product", "fused_vec", [product_id])
        if not ids:
            raise BadArgumentError(f"no product with id {product_id!r}")
        if platform is not None:
            base = filters or Filters()
            filters = Filters(brand=base.brand, category=base.category,
                              platform=platform if isinstance(platform, str) else tuple(platform),
                              price_min=base.price_min, price_max=base.price_max)
        hits = self._fused_search(vectors[0], k + 1, filters, None, None)
        return [h for h in hits if h.product.id != product_id][:k]

    def vector_search(self, vector: np.ndarray | Sequence[float], k: int = 10, *, prop: str = "fused_vec",
                      where: str | None = None, params: Mapping[str, Any] | None = None,
                      filters: Filters | None = None) -> list[SearchResult]:
        """Cypher and vector in one call: candidates from `where`/filters, ranked by `prop`."""
        _check_k(k)
        vector = np.asarray(vector, dtype=np.float32)
        if not np.all(np.isfinite(vector)):
            raise BadArgumentError("the query vector has NaN or infinite values")
        if prop == "fused_vec":
            return self._fused_search(vector, k, filters, where, params)
        hits = self.store.vector_search(prop, vector, k, filters=filters, where=where, params=params)
        return self._results(hits, None)

    def _fused_search(self, query: np.ndarray, k: int, filters, where, params) -> list[SearchResult]:
        hits = self.store.vector_search("fused_vec", query, k, filters=filters, where=where, params=params)
        return self._results(hits, query)

    def _results(self, hits: list[tuple[str, float]], fused_query: np.ndarray | None) -> list[SearchResult]:
        if not hits:
            return []
        ids = [i for i, _ in hits]
        products = {row["id"]: Product.from_row(row) for row in self.store.get_nodes("Product", ids)}
        channels: dict[str, dict[str, float]] = {}
        if fused_query is not None:
            from shopgraph.ingest.encoders.fusion import channel_scores

            got, vectors = self.store.get_vectors("Product", "fused_vec", ids)
            per_channel = channel_scores(fused_query, vectors, self.store.dims)
            for n, product_id in enumerate(got):
                channels[product_id] = {c: float(v[n]) for c, v in per_channel.items()}
        out = []
        for product_id, score in hits:
            if product_id not in products:  # deleted between the search and this read
                continue
            parts = channels.get(product_id, {})
            out.append(SearchResult(products[product_id], float(score), parts, carried_by(parts)))
        return out
