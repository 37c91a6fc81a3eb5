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
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from shopgraph.config import Config
from shopgraph.errors import BadArgumentError, ConfigError, NothingToTrainError, NotFoundError, StoreError
from shopgraph.graph.filters import price_currencies
from shopgraph.graph.store import Filters, GraphStore
from shopgraph.queries import hydrate
from shopgraph.queries.frames import CypherRows, MatchResults, ReviewQueue, SearchResults
from shopgraph.queries.results import Product, SearchResult, carried_by

log = logging.getLogger(__name__)

MAX_K = 1000
# Neo4j's catalog procedures (CALL db.labels() ...), which LadybugDB's parser refuses.
_NEO4J_CATALOG_CALL = re.compile(r"\bCALL\s+`?db\.", re.IGNORECASE)
RANK_BY = ("hybrid", "auto", "fused", "text", "image")
SORTS = ("relevance", "price_asc", "price_desc")


def _check_k(k: int) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or k <= 0 or k > MAX_K:
        raise BadArgumentError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    return k


def _is_uri(target) -> bool:
    from shopgraph.graph.neo4j_connect import is_neo4j_target

    return is_neo4j_target(str(target))


class ShopGraph:
    """The product graph: ingest, search, similar, vector_search, cypher, stats."""

    def __init__(self, store: GraphStore, config: Config | None = None, *, store_path: Path | None = None,
                 cache_path: Path | None = None):
        self.store = store
        self.config = config or Config()
        self._scorers: dict[str, tuple[int, Any]] = {}  # matcher file -> (mtime in ns, PairScorer)
        self._platform_pairs: dict[tuple[str, str], tuple[int | None, Any]] = {}  # see _platform_pair
        self.store_path = store_path
        self._cache_path = cache_path
        self._encoder = None
        self._aligner = None
        self._aligner_id: str | None = None  # the model record the loaded aligner belongs to
        self._aligner_loaded = False
        self._decided: dict[tuple[str, str], dict] = {}  # (src, dst) -> edges before review(): for undo
        self._lexical = None  # the LexicalMirror, made on first use (see lexical)
        self._product_cache = None  # hydrated search candidates of one graph version (hydrate.ProductCache)
        self._cards = False  # the CardMirror, made on first use (None: this graph has none; see cards)

    @classmethod
    def open(cls, path: str | Path = "shopgraph.db", *, config: Config | None = None, read_only: bool = False,
             trace: Callable[[str, Mapping], None] | None = None, driver=None) -> "ShopGraph":
        """Open (or create) the graph at path: an embedded database file, or a Neo4j server given as
        a URI (neo4j://, neo4j+s://, bolt://) or as "neo4j" ($NEO4J_URI; user, password and database
        from $NEO4J_USERNAME, $NEO4J_PASSWORD, $NEO4J_DATABASE). driver: an existing neo4j driver.
        Models, the vector cache and quarantine files of a Neo4j graph live in config.neo4j.local_dir."""
        from shopgraph.graph.stores import exists, open_store

        config = config or Config()
        dims = None
        if config.text.model_path is not None and (not exists(path) or _is_uri(path)):
            # A new database takes its vector widths from the configured encoders (an existing one
            # is checked against them).
            from shopgraph.ingest.encoders import ProductEncoder

            dims = ProductEncoder(config, None).dims
        store, stem = open_store(path, config=config, dims=dims, read_only=read_only, trace=trace, driver=driver)
        return cls(store, config, store_path=stem, cache_path=Path(f"{stem}.cache.sqlite"))

    def close(self) -> None:
        try:
            if not getattr(self.store, "read_only", False):
                self.lexical.refresh()  # writes of this session reach the lexical index readers use
                if self.cards is not None:
                    self.cards.refresh()  # and the result cards
        finally:
            if self._lexical is not None:
                self._lexical.close()
            if self._cards:
                self._cards.close()
            self.store.close()

    @property
    def lexical(self):
        """The lexical (BM25 + exact identifier) index of this graph, a LexicalMirror kept in
        <db>.index/lexical/ and synced with the graph before each use (shopgraph/search/lexical_sync.py)."""
        if self._lexical is None:
            from shopgraph.search.lexical_sync import LexicalMirror, index_folder

            self._lexical = LexicalMirror(self.store, index_folder(self.store_path), self.config.lexical_index,
                                          read_only=bool(getattr(self.store, "read_only", False)))
        return self._lexical

    @property
    def cards(self):
        """The result cards of this graph (a CardMirror in <db>.index/cards.sqlite, queries/cards.py),
        None for a graph whose store does not report its searches' version (Neo4j) or in memory."""
        if self._cards is False:
            from shopgraph.queries.cards import CardMirror, card_path

            path = card_path(self.store_path)
            probe = type(self.store).search_version is not GraphStore.search_version
            self._cards = CardMirror(self.store, path, bool(getattr(self.store, "read_only", False))) \
                if path is not None and probe else None
        return self._cards

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
            self._encoder.aligner = self.aligner
            self._encoder.aligner_id = self._aligner_id
        return self._encoder

    # -- learned models ------------------------------------------------------------------------
    @property
    def aligner(self):
        """The trained image-text alignment (shopgraph.gnn.alignment.Aligner) whose vectors the graph
        holds, None until trained. Loaded again when the graph's model record has changed since (a
        retrain, in this process or another), so queries and stored vectors come from one model."""
        if self._aligner_loaded and self._model_record() == self._aligner_id:
            return self._aligner
        from shopgraph.gnn.training import load_aligner

        with self.store.unpinned():  # a search's pin would hide a retrain from load_aligner's re-check
            self._aligner_id, self._aligner = load_aligner(self)
        self._aligner_loaded = True
        if self._encoder is not None:
            self._encoder.aligner, self._encoder.aligner_id = self._aligner, self._aligner_id
        return self._aligner

    def _model_record(self) -> str | None:
        from shopgraph.graph.store import model_key

        return self.store.get_meta(model_key("align"))

    def reload_models(self) -> None:
        """Pick up models trained since this graph was opened."""
        self._aligner_loaded = False
        _ = self.aligner

    def train(self, *, align: bool = True, gnn: bool = True, progress: bool = False, on_epoch=None) -> list:
        """Train the image-text alignment (when products have images) and then the GNN; write the
        learned vectors back. Returns the TrainReports."""
        from shopgraph.gnn import training

        # Decided from the stored counts first, so a graph with nothing to learn from fails at once,
        # saying why, not after a model was loaded or trained. None: that model trains.
        no_align = training.why_no_alignment(self) if align else None
        no_gnn = training.why_no_gnn(self) if gnn else None
        if (not align or no_align) and (not gnn or no_gnn):
            raise NothingToTrainError("nothing to train: " + ("; and ".join(r for r in (no_align, no_gnn) if r)
                                                              or "neither model was asked for"))
        reports = []
        if align and not no_align:
            reports.append(training.train_alignment(self, progress=progress))
        elif align:
            log.info("alignment skipped: %s", no_align)
        if gnn and not no_gnn:
            reports.append(training.train_gnn(self, progress=progress, on_epoch=on_epoch))
        elif gnn:
            log.warning("GNN skipped: %s", no_gnn)
        return reports

    def embed(self, *, all_nodes: bool = False) -> int:
        """GNN vectors for products and users added since training (all with all_nodes), from the
        saved model without retraining. Returns the number written."""
        from shopgraph.gnn.training import embed_with_gnn

        return embed_with_gnn(self, all_nodes=all_nodes)

    def recommend(self, user_id: str, k: int = 10, *, exclude_seen: bool = True,
                  filters: Filters | None = None) -> list[SearchResult]:
        """Products for a user, ranked by the inner product of the learned user and product vectors
        (needs `train` or `embed`); products the user already interacted with are left out."""
        _check_k(k)
        ids, vectors = self.store.get_vectors("User", "gnn_vec", [user_id])
        if not ids:
            if not self.store.get_nodes("User", [user_id]):
                raise NotFoundError(f"no user with id {user_id!r}")
            raise BadArgumentError(f"user {user_id!r} has no learned vector yet; run `shopgraph train` "
                                   f"(or `shopgraph embed` for users added since)")
        seen: set[str] = set()
        if exclude_seen:
            seen = {r["id"] for r in self.store.cypher(
                "MATCH (u:User {id: $u})-[:INTERACTED]->(p:Product) RETURN DISTINCT p.id AS id", {"u": user_id})}
        hits = self.store.vector_search("gnn_vec", vectors[0], min(k + len(seen), MAX_K + len(seen)),
                                        filters=filters)
        return self._results([h for h in hits if h[0] not in seen][:k], None, version=self.store.search_version())

    # -- matching ------------------------------------------------------------------------------
    def matcher_path(self, source: str, target: str) -> Path:
        """Where the pair scorer for source -> target is saved: <db>.models/matcher-<source>-<target>.json
        (the names made safe as file-name parts, and the path checked to stay in the folder)."""
        from shopgraph.names import file_part, inside

        base = Path(f"{self.store_path}.models") if self.store_path else Path("shopgraph.models")
        return inside(base, f"matcher-{file_part(source)}-{file_part(target)}.json")

    def _scorer(self, source: str, target: str, model: str | Path | None):
        """The pair scorer in model (default: this pair's matcher_path, else the ready scorer shipped
        with shopgraph when this pair has none trained), loaded once per version of the file (path and
        modification time) and kept."""
        from shopgraph.matching.ready import ready_scorer
        from shopgraph.matching.scorer import PairScorer

        path = Path(model or self.matcher_path(source, target))
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            if model is not None:
                return PairScorer.load(path)  # the caller's own file: its error names it
            return ready_scorer()
        cached = self._scorers.get(str(path))
        if cached is not None and cached[0] == mtime:
            return cached[1]
        scorer = PairScorer.load(path)
        self._scorers[str(path)] = (mtime, scorer)
        return scorer

    def train_matcher(self, source: str, target: str, *, k: int = 20, model: str | Path | None = None):
        """Train the pair scorer on the graph's labels (SAME_AS label/accepted, DIFFERENT_FROM) between
        two platforms; saves it (default matcher_path) and returns it."""
        from shopgraph.matching.pipeline import train_matcher

        return train_matcher(self.store, source, target, model or self.matcher_path(source, target), k=k)

    def match_platforms(self, source: str, target: str, *, k: int = 20, model: str | Path | None = None,
                        write: bool = True, one_to_one: bool | None = None, rerank_pool: int | None = None):
        """Match every listing of `source` against `target` and write SAME_AS edges (status "matched" or
        "review", with evidence). Returns (MatchReport, proposals). model: a scorer file, e.g. one
        trained on another pair of platforms (default: this pair's). rerank_pool > k: the scorer re-ranks
        that many blocking candidates per listing before k are kept; 0: none; None (default): on for
        small platforms (matching.blocking.default_rerank_pool)."""
        from shopgraph.matching.pipeline import match_platforms

        report, proposals = match_platforms(self.store, self._scorer(source, target, model), source, target, k=k,
                                            write=write, one_to_one=one_to_one, rerank_pool=rerank_pool,
                                            workers=self.config.matching.workers)
        return report, MatchResults(proposals)

    def match_report(self, directory: str | Path, source: str, target: str, *, k: int = 20,
                     model: str | Path | None = None) -> list[Path]:
        """Score histogram and precision-recall curve (PNG) of the scorer in use for source -> target
        on the validation pairs, threshold marked (matching.report); returns the files."""
        from shopgraph.matching.pipeline import validation_scores
        from shopgraph.matching.report import write_report

        scorer = self._scorer(source, target, model)
        scores, labels = validation_scores(self.store, scorer, source, target, k=k)
        return write_report(directory, scores, labels, scorer.threshold, scorer.review_low,
                            f"{source} -> {target}, scorer {scorer.version}")

    def match(self, product_id: str, *, platform: str, k: int = 20, limit: int = 5,
              model: str | Path | None = None, rerank_pool: int | None = None) -> list[dict]:
        """The best listings on `platform` for one product: [{src, dst, score, status, evidence}]
        (a MatchResults list: .to_pandas(), .to_arrow()). rerank_pool: as match_platforms."""
        from shopgraph.matching.pipeline import match_product

        source = self.product(product_id).platform
        return MatchResults(match_product(self.store, self._scorer(source, platform, model), product_id, platform, k=k,
                             limit=limit, prepared=self._platform_pair(source, platform), rerank_pool=rerank_pool))

    def _platform_pair(self, source: str, target: str):
        """Both platforms' listings and featurizer, built once per version of the graph (one product's
        matches need the whole catalogs; rebuilding them per request was most of its cost). The version
        is (write generation, database id, write epoch): a database restored from an older copy whose
        writes bring its generation back to the cached one is another epoch (graph/mirror_state.py)."""
        from shopgraph.graph.mirror_state import EPOCH
        from shopgraph.graph.store import DATABASE_ID
        from shopgraph.matching.pipeline import platform_pair

        version = None
        if hasattr(self.store, "generation"):
            meta = self.store.get_metas(("generation", DATABASE_ID, EPOCH))  # one statement
            version = (meta["generation"] or "0", meta[DATABASE_ID], meta[EPOCH])
        cached = self._platform_pairs.get((source, target))
        if cached is not None and version is not None and cached[0] == version:
            return cached[1]
        prepared = platform_pair(self.store, source, target)
        self._platform_pairs[(source, target)] = (version, prepared)
        return prepared

    def review_queue(self, limit: int = 50) -> list[dict]:
        """Proposed matches waiting for a person, highest score first (a ReviewQueue list:
        .to_pandas(), .to_arrow())."""
        from shopgraph.matching.pipeline import review_queue

        return ReviewQueue(review_queue(self.store, limit))

    def review(self, src: str, dst: str, *, accept: bool) -> str:
        """Accept or reject a proposed match; the decision is a label for the next train_matcher.
        undo_review() takes it back while this ShopGraph is open."""
        from shopgraph.matching.pipeline import decide, pair_edges

        before = pair_edges(self.store, src, dst)
        state = decide(self.store, src, dst, accept)
        self._decided.setdefault((src, dst), before)  # the state before the first decision on the pair
        return state

    def undo_review(self, src: str, dst: str) -> str:
        """Take back review() decisions on a pair made through this ShopGraph (it remembers the
        edges as they were before the first one): the SAME_AS edge comes back with its score,
        evidence and status, a DIFFERENT_FROM written by a reject goes. Returns the status restored
        ("review" for a pair from the queue)."""
        from shopgraph.matching.pipeline import undo_decision

        before = self._decided.pop((src, dst), None)
        if before is None:
            raise BadArgumentError(f"no decision on {src!r} -> {dst!r} to undo (only decisions made since "
                                   f"this graph was opened can be undone)")
        return undo_decision(self.store, src, dst, before)

    # -- ingest --------------------------------------------------------------------------------
    @property
    def image_root(self) -> Path | None:
        """The folder image_ref paths are relative to (shopgraph.ingest.image_refs): config
        ingest.image_root, else the folder holding the database (for Neo4j: config.neo4j.local_dir)."""
        if self.config.ingest.image_root:
            return Path(self.config.ingest.image_root).expanduser().resolve()
        return Path(self.store_path).resolve().parent if self.store_path else None

    def image_file(self, product: Product) -> Path | None:
        """The image file of a product (its image_ref resolved), None when it has none."""
        from shopgraph.ingest.image_refs import from_ref

        return from_ref(product.image_ref, self.image_root)

    def ingest(self, source, mapping, *, progress: bool = True, source_name: str | None = None,
               full_snapshot: bool = False, fetch_images: bool | None = None):
        """Ingest one catalog: a file (CSV, TSV, JSONL or Parquet) or an in-memory table (a pandas
        DataFrame or a pyarrow Table), with a ColumnMapping, a dict of mapping keys, or a mapping file.
        Returns the IngestSummary (rows read, written, quarantined, notes, warnings, brand merges ...).

        source_name: what quarantine records and file names call the source (default: the file's path,
        "table" for a table). full_snapshot: the source is the platform's whole catalog: the
        platform's products it does not hold are removed afterwards (kept as `gone` tombstones when
        matching decisions name them). fetch_images: download http(s) image URLs (None: config
        ingest.fetch_images)."""
        from shopgraph.ingest.run import ingest_file, ingest_table

        if isinstance(source, (str, Path)):
            return ingest_file(self, Path(source), mapping, progress=progress, source_name=source_name,
                               full_snapshot=full_snapshot, fetch_images=fetch_images)
        return ingest_table(self, source, mapping, progress=progress, source_name=source_name or "table",
                            full_snapshot=full_snapshot, fetch_images=fetch_images)

    def inspect(self, source, mapping, *, rows: int = 20, source_name: str | None = None):
        """What ingesting `source` (a file or a table, as for ingest) would do, writing nothing: per
        column what it becomes, parsed samples of the first `rows` rows, the titles' script and every
        warning (shopgraph.ingest.inspect.InspectReport; .render() for text)."""
        from shopgraph.ingest.inspect import inspect_source

        return inspect_source(source, mapping, self.config, rows=rows, source_name=source_name)

    def delete_products(self, ids) -> tuple[int, int]:
        """Remove products by id: (removed, of them kept as `gone` tombstones because SAME_AS /
        DIFFERENT_FROM decisions name them). Their other relationships and vectors go; search no longer
        finds them. Unknown ids are ignored."""
        from shopgraph.ingest.run import delete_products

        summary = delete_products(self, ids)
        return summary.products_removed, summary.products_retired

    def ingest_dataset(self, directory: str | Path, layout: str | None = None, *, progress: bool = True):
        """Ingest a directory in a known layout (deepmatcher, flipkart, grocery, s3rec), or a folder
        written by export() (ingest_export)."""
        from shopgraph.export.manifest import is_export
        from shopgraph.ingest.run import ingest_layout

        if layout == "export" or (layout is None and is_export(directory)):
            return self.ingest_export(directory, progress=progress)
        return ingest_layout(self, Path(directory), layout, progress=progress)

    def ingest_export(self, directory: str | Path, *, progress: bool = True):
        """Read a folder written by export() into this graph (checked first: manifest, checksums,
        schema; see shopgraph/export/read.py). Returns an IngestSummary."""
        from shopgraph.export.read import import_export

        return import_export(self, directory, progress=progress)

    def export(self, directory: str | Path, *, format: str = "parquet", vectors: bool = False):
        """Write every label and relationship type of the graph to a new folder: nodes/<Label> and
        relationships/<TYPE> files (Parquet, or CSV) and manifest.json (schema version, rows, SHA-256
        and what each file holds). vectors: include the vector properties. Returns the Manifest."""
        from shopgraph.export.write import export_graph

        return export_graph(self, directory, file_format=format, vectors=vectors)

    def ingest_interactions(self, path: str | Path, mapping, *, progress: bool = True):
        """Ingest a user interaction file with an InteractionMapping."""
        from shopgraph.ingest.run import ingest_interaction_file

        return ingest_interaction_file(self, Path(path), mapping, progress=progress)

    # -- reads ---------------------------------------------------------------------------------
    def product(self, product_id: str) -> Product:
        rows = self.store.get_nodes("Product", [product_id])
        if not rows:
            raise NotFoundError(f"no product with id {product_id!r}")
        return Product.from_row(rows[0])

    def neighbourhood(self, product_id: str, *, similar_k: int = 8):
        """A product page's data: brand, category path, SAME_AS listings on other platforms with their
        evidence, DIFFERENT_FROM, also-bought, users, nearest products (queries/neighbourhood.py)."""
        from shopgraph.queries.neighbourhood import neighbourhood

        return neighbourhood(self, product_id, similar_k=similar_k)

    def stats(self) -> dict[str, int]:
        """Counts of every node label and relationship type."""
        return self.store.stats()

    def platforms(self) -> list[dict]:
        """[{name, products}] for every platform in the graph, most products first."""
        from shopgraph.graph.introspect import platform_counts

        return platform_counts(self.store)

    def schema(self):
        """Labels, relationship types, properties (type, vector width, how many carry a value, longest
        text), attribute keys with counts, platforms with product counts (graph/introspect.py). Works
        on both stores; .render() for text, .to_dict() for JSON."""
        from shopgraph.graph.introspect import describe

        return describe(self.store)

    def cypher(self, query: str, params: Mapping[str, Any] | None = None, *, allow_write: bool = False,
               timeout: float | None = None, max_rows: int | None = None, as_frame: bool = False):
        """Run Cypher with parameters; read-only unless allow_write; stopped after timeout seconds
        (QueryTimeoutError) when given; at most max_rows rows read (the result's `truncated` then says
        whether there were more). Returns CypherRows (dicts; .to_pandas(), .to_arrow()), or with
        as_frame=True a pandas DataFrame (one typed column per returned name)."""
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = timeout
        if max_rows is not None:
            extra["max_rows"] = max_rows
        try:
            rows = CypherRows.of(self.store.cypher(query, params, allow_write=allow_write, **extra))
        except StoreError as e:
            if _NEO4J_CATALOG_CALL.search(query) and type(self.store).__name__ == "EmbeddedStore":
                raise type(e)(f"{e}; the embedded store's Cypher has no db.* procedures: use ShopGraph.schema() "
                              f"(`shopgraph schema`), or CALL show_tables() / table_info('Product') / "
                              f"show_connection('SAME_AS') RETURN *") from None
            raise
        return rows.to_pandas() if as_frame else rows

    # -- vector queries ------------------------------------------------------------------------
    def search(self, text: str | None = None, image=None, *, k: int = 10, filters: Filters | None = None,
               where: str | None = None, params: Mapping[str, Any] | None = None,
               rank_by: str = "hybrid", offset: int = 0, sort: str = "relevance") -> SearchResults:
        """Products matching a text and/or an image (path, bytes or PIL image), best first.

        rank_by "hybrid" (the default): exact identifier lookup, BM25 and the vector channels (the
        learned ones too once trained), fused with weights for the query's kind; a query that is one
        identifier puts its listings first, a photo of a catalogue product puts that product first
        (shopgraph/search/hybrid.py). Each result says which channels carried it and how strongly it
        matches (strength, relevance); the list says when there is no close match, how many
        candidates there are (total), and counts them by brand, platform and category (facets).
        offset/k page through the candidates; sort: "relevance", "price_asc" or "price_desc".

        The vector modes rank by vectors only, as before hybrid search: "auto"/"fused" (before
        training the fused vectors; once an alignment model is trained the learned fused space),
        "text" or "image" (after training: a text query finds products by their photos, an image
        query by their titles).
        """
        _check_k(k)
        if rank_by not in RANK_BY:
            raise BadArgumentError(f"rank_by must be one of {', '.join(RANK_BY)}, got {rank_by!r}")
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_K:
            raise BadArgumentError(f"offset must be an integer from 0 to {MAX_K}, got {offset!r}")
        if sort not in SORTS:
            raise BadArgumentError(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
        if (text is None or not str(text).strip()) and image is None:
            raise BadArgumentError("search needs text, an image, or both")
        text = text.strip() if text else None
        if rank_by == "hybrid":
            return self._hybrid_search(text, image, k, filters, where, params, offset, sort)
        query = self.encoder.encode_query(text=text, image=image)
        for _ in range(3):
            aligner, model = self.aligner, self._aligner_id
            if aligner is None:
                if rank_by in ("text", "image"):
                    raise BadArgumentError(f"rank_by={rank_by!r} needs a trained alignment model; run `shopgraph train`")
                return self._fused_search(query["fused"], k, filters, where, params)
            hits = self._aligned_search(aligner, query, rank_by, k, filters, where, params)
            if self._model_record() == model:  # no retrain switched the stored vectors meanwhile
                return hits
        raise StoreError("the alignment model kept changing during the search; retry")

    def _hybrid_search(self, text, image, k, filters, where, params, offset, sort) -> SearchResults:
        from shopgraph.search.hybrid import hybrid_search
        from shopgraph.search.ranked_page import ranked_page

        filters = self._one_currency(filters)
        depth = max(self.config.search.depth, offset + k)
        if self._product_cache is None:
            from shopgraph.queries.hydrate import ProductCache

            self._product_cache = ProductCache()
        for _ in range(3):
            # One read of the graph's version, database id and model records serves the channels and
            # the page (each read alone is a statement: a search ran 12, now 2 when its indexes are
            # current).
            with self.store.pinned_meta():
                outcome = hybrid_search(self, text, image, filters=filters, where=where, params=params,
                                        rank_by="hybrid", depth=min(depth, MAX_K))
                page = ranked_page(self.store, self.config.search, outcome, text, k, offset, sort,
                                   self._product_cache, self.cards)
            # the learned channel's model must still be the one whose vectors the graph holds: read
            # afresh, after the pin
            if "learned" not in outcome.channels or self._model_record() == self._aligner_id:
                return page
        raise StoreError("the alignment model kept changing during the search; retry")

    def _aligned_search(self, aligner, query, rank_by: str, k: int, filters, where, params) -> list[SearchResult]:
        """Text and image queries in the learned shared space: rank by the products' images
        (img_emb), texts (txt_emb) or their gated fusion (mm_vec, the default)."""
        from shopgraph.gnn.alignment import text_features

        text = None if query["text"] is None else text_features(query["text"][None], query["lexical"][None])
        aligned = aligner.embed(text, query["image"][None] if query["image"] is not None else None)
        vector = aligned["fused"][0]
        prop = {"auto": "mm_vec", "fused": "mm_vec", "text": "txt_emb", "image": "img_emb"}[rank_by]
        hits = self.store.vector_search(prop, vector, k, filters=self._one_currency(filters), where=where,
                                        params=params)
        return self._results(hits, None, aligned_query=vector, version=self.store.search_version())

    def similar(self, product_id: str, k: int = 10, *, platform: str | Sequence[str] | None = None,
                filters: Filters | None = None) -> list[SearchResult]:
        """Products most like product_id (by its fused vector), optionally only on other platform(s)."""
        _check_k(k)
        ids, vectors = self.store.get_vectors("Product", "fused_vec", [product_id])
        if not ids:
            raise NotFoundError(f"no product with id {product_id!r}")
        if platform is not None:
            base = filters or Filters()
            filters = Filters(brand=base.brand, category=base.category,
                              platform=platform if isinstance(platform, str) else tuple(platform),
                              price_min=base.price_min, price_max=base.price_max, currency=base.currency)
        hits = self._fused_search(vectors[0], k + 1, filters, None, None)
        return SearchResults([h for h in hits if h.product.id != product_id][:k])

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
        hits = self.store.vector_search(prop, vector, k, filters=self._one_currency(filters), where=where,
                                        params=params)
        return self._results(hits, None, version=self.store.search_version())

    def _fused_search(self, query: np.ndarray, k: int, filters, where, params) -> list[SearchResult]:
        hits = self.store.vector_search("fused_vec", query, k, filters=self._one_currency(filters), where=where,
                                        params=params)
        return self._results(hits, query, version=self.store.search_version())

    def _one_currency(self, filters: Filters | None) -> Filters | None:
        """Price bounds compare prices of one currency: with no currency given, the priced products the
        other filters allow must all carry the same one (it is then applied), else BadArgumentError
        naming the currencies. No conversion is made: give Filters(currency=...) to choose."""
        if filters is None or filters.currency is not None or (filters.price_min is None and filters.price_max is None):
            return filters
        currencies = price_currencies(self.store, filters)
        if len(currencies) > 1:
            shown = ", ".join(c or "none" for c in currencies)
            raise BadArgumentError(f"price bounds compare prices of one currency, and these products are priced in "
                                   f"{shown}: give a currency (--currency, currency=, Filters(currency=...))")
        if currencies and currencies[0] is not None:
            return replace(filters, currency=currencies[0])
        return filters

    def _results(self, hits: list[tuple[str, float]], fused_query: np.ndarray | None,
                 aligned_query: np.ndarray | None = None, *, version: tuple | None = None) -> SearchResults:
        """SearchResults of hits; version: (database id, generation, write epoch) the hits come from
        (store.search_version, taken right after the search), so the result cards may hydrate them."""
        if not hits:
            return SearchResults()
        ids = [i for i, _ in hits]
        products = hydrate.products(self.store, ids, self.cards,
                                    None if version is None else (None, *version))
        channels: dict[str, dict[str, float]] = {}
        if aligned_query is not None:
            for channel, prop in (("text", "txt_emb"), ("image", "img_emb")):
                got, vectors = self.store.get_vectors("Product", prop, ids)
                for product_id, similarity in zip(got, vectors @ aligned_query):
                    channels.setdefault(product_id, {})[channel] = float(similarity)
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
        return SearchResults(out)
