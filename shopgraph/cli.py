"""The shopgraph command line: a thin layer over the library (parse, call one function, print).

User errors print one line on stderr and exit with status 1; bad usage exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path

from shopgraph.errors import ShopGraphError

FORMATS = ("table", "csv", "tsv", "json", "jsonl", "parquet")  # shopgraph.queries.format.FORMATS (not imported: startup time)

DEFAULT_DB = "shopgraph.db"

COMMANDS_HELP = {
    "ingest": "ingest a catalog file, a dataset directory or an interaction file",
    "delete": "remove products by id (kept as 'gone' when matching decisions name them)",
    "search": "search products by text and/or image, with optional filters",
    "similar": "products most like a given product",
    "cypher": "run a Cypher query with parameters (read-only unless --write)",
    "stats": "count nodes and relationships; name the platforms",
    "schema": "labels, relationship types, properties (types, counts), keys, platforms",
    "train": "train the image-text alignment and the GNN; write learned vectors back",
    "embed": "GNN vectors for products and users added since training",
    "recommend": "products for a user, from the learned vectors",
    "match": "match the same products across two platforms; write SAME_AS with evidence",
    "review": "list matches waiting for review, or accept / reject one",
    "export": "write every node and relationship to Parquet or CSV files with a manifest",
    "demo": "build a two-platform demo catalog (or use --data DIR), ingest it and query it",
    "migrate": "copy a graph between stores (embedded <-> Neo4j), verified and resumable",
    "serve": "serve the HTTP API and the web page (search, product pages, match review)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shopgraph", description="Multimodal product knowledge graph.")
    parser.add_argument("--version", action="version", version=_version())
    options = argparse.ArgumentParser(add_help=False)  # every command's options but --db
    options.add_argument("--config", help="TOML file of settings ([text], [image], [fusion], [ingest], [index], "
                                          "[store], [align], [gnn], [neo4j])")
    options.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                         help="override one setting, e.g. --set text.batch_size=32 (repeatable)")
    options.add_argument("--trace", action="store_true", help="print every Cypher query sent to the store")
    options.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    common = argparse.ArgumentParser(add_help=False, parents=[options])
    common.add_argument("--db", default=os.environ.get("SHOPGRAPH_DB", DEFAULT_DB),
                        help="database path, or a Neo4j URI (neo4j://host:7687; 'neo4j' = $NEO4J_URI) "
                             "(default: $SHOPGRAPH_DB or ./shopgraph.db)")
    output = argparse.ArgumentParser(add_help=False)  # how results are written
    output.add_argument("--format", dest="output_format", choices=FORMATS, default=None,
                        help="table (default), csv, tsv, json, jsonl or parquet (needs --output); machine "
                             "formats keep every digit")
    output.add_argument("--output", "-o", metavar="FILE", help="write the results to FILE instead of stdout")
    output.add_argument("--wide", action="store_true", help="tables: do not cut long cells or round long decimals")
    output.add_argument("--json", action="store_true", help="the same as --format jsonl")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", parents=[common], help=COMMANDS_HELP["ingest"], description=COMMANDS_HELP["ingest"])
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", help="catalog file (.csv, .jsonl, .parquet)")
    source.add_argument("--dataset", metavar="DIR", help="a directory in a known layout, or a `shopgraph export` folder")
    source.add_argument("--interactions", metavar="FILE", help="a user interaction file")
    p.add_argument("--layout", help="deepmatcher | flipkart | grocery | s3rec[:Name] | titles | export (default: detected)")
    p.add_argument("--mapping", help="column mapping file (TOML) for a catalog or interaction file")
    p.add_argument("--platform", help="platform name (catalog) or id namespace (interactions)")
    for flag, what in (("id", "product id"), ("title", "title"), ("description", "description (repeatable)"),
                       ("price", "price"), ("currency", "currency"), ("brand", "brand"),
                       ("category", "category path"), ("image", "image file name"),
                       ("user", "user id (interactions)"), ("item", "product id (interactions)"),
                       ("kind", "interaction kind"), ("value", "interaction value"),
                       ("timestamp", "interaction time")):
        p.add_argument(f"--{flag}-col", action="append" if flag == "description" else "store",
                       help=f"column holding the {what}")
    p.add_argument("--identifier-col", action="append", metavar="COL[=SCHEME]",
                   help="identifier column, scheme gtin, mpn or sku (default: from the name: ean, upc, model ...) "
                        "(repeatable)")
    p.add_argument("--attribute-col", action="append", metavar="COL",
                   help="read only these columns as attributes (repeatable; default: every unmapped column)")
    p.add_argument("--ignore-col", action="append", metavar="COL", help="column to leave out (repeatable)")
    p.add_argument("--default-currency", help="currency of prices that do not say theirs (ISO code, e.g. EUR)")
    p.add_argument("--category-sep", help="category path separator (default: detected from the values)")
    p.add_argument("--image-dir", help="directory that image names are relative to")
    p.add_argument("--format", choices=["csv", "tsv", "jsonl", "parquet"], help="file format (default: by extension)")
    p.add_argument("--full-snapshot", action="store_true",
                   help="the file is the platform's whole catalog: remove the platform's products it does not hold")
    p.add_argument("--fetch-images", action="store_true",
                   help="download http(s) image URLs (bounded, content-checked, cached beside the database)")
    p.add_argument("--inspect", action="store_true",
                   help="show what each column becomes and how the first rows read; write nothing")
    p.add_argument("--rows", type=int, default=20, help="rows --inspect reads (default 20)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")

    p = sub.add_parser("delete", parents=[common], help=COMMANDS_HELP["delete"], description=COMMANDS_HELP["delete"])
    p.add_argument("ids", nargs="+", help="product ids, e.g. shop_a:SKU-001")

    p = sub.add_parser("search", parents=[common, output], help=COMMANDS_HELP["search"], description=COMMANDS_HELP["search"])
    p.add_argument("text", nargs="?", help="query text")
    p.add_argument("--image", help="query image file")
    _add_filter_flags(p)
    p.add_argument("--where", help="Cypher pattern binding p, e.g. \"(p)-[:OF_BRAND]->(b:Brand) WHERE b.name = $b\"")
    p.add_argument("--param", action="append", default=[], metavar="NAME=JSON", help="query parameter (repeatable)")
    p.add_argument("--rank-by", default="hybrid", choices=["hybrid", "auto", "fused", "text", "image"],
                   help="hybrid (default): identifier lookup, BM25 and every vector channel fused; the others "
                        "rank by vectors only: auto/fused (both), and after training text or image")
    p.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    p.add_argument("--offset", type=int, default=0, help="skip this many results (paging; default 0)")
    p.add_argument("--sort", default="relevance", choices=["relevance", "price_asc", "price_desc"],
                   help="order of the matching products (hybrid search; default relevance)")
    p.add_argument("--facets", action="store_true", help="also print brand / platform / category counts")

    p = sub.add_parser("similar", parents=[common, output], help=COMMANDS_HELP["similar"], description=COMMANDS_HELP["similar"])
    p.add_argument("product_id", help="product id, e.g. shop_a:SKU-001")
    p.add_argument("--platform", action="append", help="only products on this platform (repeatable)")
    p.add_argument("-k", type=int, default=10, help="number of results (default 10)")

    p = sub.add_parser("cypher", parents=[common, output], help=COMMANDS_HELP["cypher"], description=COMMANDS_HELP["cypher"])
    p.add_argument("query", help="Cypher text; values as $parameters")
    p.add_argument("--param", action="append", default=[], metavar="NAME=JSON", help="query parameter (repeatable)")
    p.add_argument("--write", action="store_true", help="allow queries that write")

    sub.add_parser("stats", parents=[common], help=COMMANDS_HELP["stats"], description=COMMANDS_HELP["stats"])

    p = sub.add_parser("schema", parents=[common], help=COMMANDS_HELP["schema"], description=COMMANDS_HELP["schema"])
    p.add_argument("--json", action="store_true", help="print the schema as one JSON object")

    p = sub.add_parser("train", parents=[common], help=COMMANDS_HELP["train"], description=COMMANDS_HELP["train"])
    p.add_argument("--skip-align", action="store_true", help="train the GNN only")
    p.add_argument("--skip-gnn", action="store_true", help="train the alignment only")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or per-epoch lines")

    p = sub.add_parser("embed", parents=[common], help=COMMANDS_HELP["embed"], description=COMMANDS_HELP["embed"])
    p.add_argument("--all", action="store_true", help="re-embed every product and user, not only new ones")

    p = sub.add_parser("recommend", parents=[common, output], help=COMMANDS_HELP["recommend"],
                       description=COMMANDS_HELP["recommend"])
    p.add_argument("user_id", help="user id, e.g. beauty:42")
    p.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    p.add_argument("--include-seen", action="store_true", help="keep products the user already interacted with")

    p = sub.add_parser("match", parents=[common, output], help=COMMANDS_HELP["match"], description=COMMANDS_HELP["match"])
    p.add_argument("--source", help="source platform (every listing of it is matched)")
    p.add_argument("--target", help="target platform (candidates come from it)")
    p.add_argument("--product", help="match one product id instead of a whole platform (needs --target)")
    p.add_argument("--train", action="store_true",
                   help="first train the pair scorer on the graph's labels between the two platforms")
    p.add_argument("--model", help="pair scorer file (default: the one trained for this pair of platforms)")
    p.add_argument("-k", type=int, default=20, help="candidates per product (default 20)")
    p.add_argument("--rerank", type=int, default=None, metavar="N",
                   help="let the pair scorer re-rank the N best blocking candidates per product before k are "
                        "kept (catalogs with many offers of look-alike products; costs N/k times the scoring; "
                        "with the ready scorer, the shipped rerank scorer orders them). Default: 120 when the "
                        "source platform has up to 2,500 products, else off; 0 turns it off")
    p.add_argument("--dry-run", action="store_true", help="score and report, write nothing")
    one = p.add_mutually_exclusive_group()
    one.add_argument("--one-to-one", dest="one_to_one", action="store_true", default=None,
                     help="match each listing to at most one of the other platform (default: when the labels are)")
    one.add_argument("--many", dest="one_to_one", action="store_false",
                     help="allow a listing several matches on the other platform")
    p.add_argument("--report", metavar="DIR",
                   help="write score_histogram.png and precision_recall.png (validation pairs, threshold marked)")

    p = sub.add_parser("review", parents=[common, output], help=COMMANDS_HELP["review"], description=COMMANDS_HELP["review"])
    group = p.add_mutually_exclusive_group()
    group.add_argument("--accept", nargs=2, metavar=("SRC", "DST"), help="accept the proposed match SRC -> DST")
    group.add_argument("--reject", nargs=2, metavar=("SRC", "DST"), help="reject the proposed match SRC -> DST")
    p.add_argument("--limit", type=int, default=20, help="matches listed (default 20)")

    p = sub.add_parser("export", parents=[common], help=COMMANDS_HELP["export"], description=COMMANDS_HELP["export"]
                       + "; `shopgraph ingest --dataset DIR` reads it back")
    p.add_argument("folder", help="a new (or empty) folder to write")
    p.add_argument("--format", dest="file_format", choices=["parquet", "csv"], default="parquet",
                   help="file format (default parquet)")
    p.add_argument("--vectors", action="store_true", help="include the products' and users' vectors")

    p = sub.add_parser("demo", parents=[common], help=COMMANDS_HELP["demo"], description=COMMANDS_HELP["demo"])
    p.add_argument("--data", metavar="DIR", help="run on a real dataset directory instead of the generated catalog")
    p.add_argument("--layout", help="layout of --data (default: detected)")
    p.add_argument("--out", default="shopgraph-demo", help="folder for the generated catalog and database")
    p.add_argument("--products", type=int, default=240, help="products per generated catalog (default 240)")
    p.set_defaults(db=None)

    p = sub.add_parser("migrate", parents=[options], help=COMMANDS_HELP["migrate"], description=COMMANDS_HELP["migrate"])
    p.add_argument("--from", dest="source", required=True, metavar="DB", help="source: a database path or Neo4j URI")
    p.add_argument("--to", dest="target", required=True, metavar="DB", help="target: a database path or Neo4j URI")
    p.add_argument("--batch-size", type=int, default=1000, help="nodes or relationships per transaction (default 1000)")
    p.add_argument("--no-verify", action="store_true", help="skip the final count and checksum comparison")

    p = sub.add_parser("serve", parents=[common], help=COMMANDS_HELP["serve"], description=COMMANDS_HELP["serve"])
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--api-key", default=os.environ.get("SHOPGRAPH_API_KEY"),
                   help="key for writes and Cypher (default $SHOPGRAPH_API_KEY; none: a random one is printed)")
    p.add_argument("--read-only", action="store_true", help="open the graph read-only (no ingest or review)")
    p.add_argument("--max-k", type=int, default=100, help="most results one request returns (default 100)")
    p.add_argument("--cypher-timeout", type=float, default=5.0, help="seconds a Cypher query may run (default 5)")
    p.add_argument("--image-root", metavar="DIR", help="folder an uploaded catalog's images are read from (none by "
                   "default: uploads cannot name images); /api/image also serves files under it")
    p.add_argument("--no-access-log", action="store_true",
                   help="do not print a line per request (client, method, path, status, ms) on stderr")
    return parser


def _add_filter_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--brand", action="append", help="only this brand (repeatable)")
    p.add_argument("--category", help="only this category path and its subcategories")
    p.add_argument("--platform", action="append", help="only this platform (repeatable)")
    # float accepts "nan" and "inf": Filters refuses them (one line, exit 1), as the HTTP API does.
    p.add_argument("--price-min", type=float, help="minimum price (a finite number >= 0)")
    p.add_argument("--price-max", type=float, help="maximum price (a finite number >= 0)")
    p.add_argument("--currency", help="only products priced in this currency (ISO code, e.g. EUR); price bounds "
                   "need it when the products carry several currencies")


def _version() -> str:
    from shopgraph import __version__

    return f"shopgraph {__version__}"


# A --param value that starts like JSON (a number, string, list or object) must be valid JSON; any
# other text is taken as a string, so `--param brand=brakmoor` needs no quotes.
_LOOKS_LIKE_JSON = re.compile(r"\s*[-+.0-9\"\[{]")


def _params(pairs: list[str]) -> dict:
    """--param NAME=VALUE pairs: VALUE as JSON, or a bare word as a string. A value that starts like
    JSON but is not valid JSON is refused rather than silently passed as a string."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ShopGraphError(f"--param expects NAME=VALUE, got {pair!r}")
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError as e:
            if _LOOKS_LIKE_JSON.match(value):
                raise ShopGraphError(f"--param {name}: {value!r} is not valid JSON ({e.msg}); to pass it as a "
                                     f"string, quote it as JSON: --param '{name}={json.dumps(value)}'") from None
            out[name] = value  # a bare word is a string
    return out


def _filters(args):
    from shopgraph.graph.store import Filters

    return Filters(brand=tuple(args.brand) if args.brand else None, category=args.category,
                   platform=tuple(args.platform) if args.platform else None,
                   price_min=args.price_min, price_max=args.price_max, currency=args.currency)


def _trace(args):
    """--trace: print each query and the names (not the values) of its parameters."""
    if not args.trace:
        return None
    return lambda q, p: print(f"-- cypher: {' '.join(q.split())}  params={sorted(p)}", file=sys.stderr)


def _open(args, read_only: bool = False):
    from shopgraph.config import load_config, parse_overrides
    from shopgraph.queries.api import ShopGraph

    config = load_config(args.config, parse_overrides(args.set))
    trace = _trace(args)
    from shopgraph.graph.stores import exists

    if read_only and not exists(args.db):
        raise ShopGraphError(f"no shopgraph database at {args.db} (run `shopgraph ingest` first, or pass --db)")
    return ShopGraph.open(args.db, config=config, read_only=read_only, trace=trace)


def cmd_ingest(args) -> None:
    from shopgraph.ingest.run import mapping_from_args

    # The mapping first: a bad one (a platform name that is not one) must not leave a new database behind.
    mapping = None if args.dataset else mapping_from_args(args, interactions=bool(args.interactions))
    if args.inspect:
        if not args.file:
            raise ShopGraphError("--inspect reads a catalog file (FILE with --mapping or the column flags)")
        from shopgraph.config import load_config, parse_overrides
        from shopgraph.ingest.inspect import inspect_source

        config = load_config(args.config, parse_overrides(args.set))
        print(inspect_source(args.file, mapping, config, rows=args.rows).render())
        return
    if args.full_snapshot and not args.file:
        raise ShopGraphError("--full-snapshot takes a catalog file (it is that platform's whole catalog)")
    with _open(args) as sg:
        progress = not args.no_progress
        if args.dataset:
            summary = sg.ingest_dataset(args.dataset, args.layout, progress=progress)
        elif args.interactions:
            summary = sg.ingest_interactions(args.interactions, mapping, progress=progress)
        else:
            summary = sg.ingest(args.file, mapping, progress=progress, full_snapshot=args.full_snapshot,
                                fetch_images=True if args.fetch_images else None)
    print(summary.render())


def cmd_delete(args) -> None:
    with _open(args) as sg:
        removed, retired = sg.delete_products(args.ids)
    print(f"{removed} products removed" + (f" ({retired} kept as gone: matching decisions name them)" if retired else ""))


def _format(args) -> str:
    if args.json and args.output_format not in (None, "jsonl"):
        raise ShopGraphError(f"--json and --format {args.output_format} disagree; give one")
    if args.output_format == "parquet" and not args.output:
        raise ShopGraphError("--format parquet needs --output FILE")
    return "jsonl" if args.json else (args.output_format or "table")


def _write(args, result, columns=None, empty: str = "(no rows)") -> None:
    """Write a result list as --format / --output / --wide ask (shopgraph.queries.format)."""
    from shopgraph.queries.format import write_result

    fmt = _format(args)
    write_result(result, fmt, args.output, wide=args.wide, columns=columns, empty=empty)
    if args.output:  # the rows went to the file: say where, so a script's log shows it
        print(f"{len(result):,} rows written to {args.output} ({fmt})")


def _hits(args, hits) -> None:
    from shopgraph.queries.format import SEARCH_COLUMNS

    _write(args, hits, SEARCH_COLUMNS, "(no results)")


def cmd_search(args) -> None:
    _format(args)  # a bad combination fails before the models load
    with _open(args, read_only=True) as sg:
        hits = sg.search(text=args.text, image=args.image, k=args.k, filters=_filters(args),
                         where=args.where, params=_params(args.param), rank_by=args.rank_by,
                         offset=args.offset, sort=args.sort)
    _hits(args, hits)
    from shopgraph.queries.format import search_summary

    for line in search_summary(hits, facets=args.facets):
        print(line, file=sys.stderr if _format(args) != "table" or args.output else sys.stdout)


def cmd_similar(args) -> None:
    with _open(args, read_only=True) as sg:
        hits = sg.similar(args.product_id, k=args.k, platform=args.platform)
    _hits(args, hits)


def cmd_cypher(args) -> None:
    _format(args)
    with _open(args, read_only=not args.write) as sg:
        rows = sg.cypher(args.query, _params(args.param), allow_write=args.write)
    _write(args, rows)
    if rows.truncated:
        print("(more rows were left out)", file=sys.stderr)


def cmd_stats(args) -> None:
    with _open(args, read_only=True) as sg:
        counts, platforms = sg.stats(), sg.platforms()
    for name, count in counts.items():
        print(f"{name:<16}{count:>10,}")
    for p in platforms:
        print(f"  platform {p['name']}: {p['products']:,} products")


def cmd_schema(args) -> None:
    with _open(args, read_only=True) as sg:
        schema = sg.schema()
    print(json.dumps(schema.to_dict(), ensure_ascii=False, indent=1) if args.json else schema.render())


def cmd_train(args) -> None:
    if args.skip_align and args.skip_gnn:
        raise ShopGraphError("--skip-align and --skip-gnn together leave nothing to train")
    progress = not args.no_progress

    def show(record: dict) -> None:
        shown = "  ".join(f"{k} {v:.4f}" for k, v in record.items() if k not in ("epoch", "seconds"))
        print(f"epoch {record['epoch']:>4}  {shown}  ({record['seconds']:.1f} s)", file=sys.stderr)

    with _open(args) as sg:
        reports = sg.train(align=not args.skip_align, gnn=not args.skip_gnn, progress=progress,
                           on_epoch=show if progress and args.verbose else None)
    for report in reports:
        print(report.render())


def cmd_embed(args) -> None:
    with _open(args) as sg:
        written = sg.embed(all_nodes=args.all)
    print(f"{written} GNN vectors written")


def cmd_recommend(args) -> None:
    from shopgraph.queries.frames import SearchResults

    with _open(args, read_only=True) as sg:
        hits = sg.recommend(args.user_id, k=args.k, exclude_seen=not args.include_seen)
    _hits(args, SearchResults(hits))


def cmd_match(args) -> None:
    if not args.target:
        raise ShopGraphError("--target is required")
    if args.k < 1:
        raise ShopGraphError(f"-k must be at least 1, got {args.k}")
    if args.rerank is not None and args.rerank < 0:
        raise ShopGraphError(f"--rerank must be 0 (off) or a number of candidates, got {args.rerank}")
    with _open(args, read_only=args.dry_run and not args.train) as sg:
        if args.product:
            if args.train:
                raise ShopGraphError("--train works on a pair of platforms: use --source, not --product")
            proposals = sg.match(args.product, platform=args.target, k=args.k, model=args.model,
                                 rerank_pool=args.rerank)
        else:
            if not args.source:
                raise ShopGraphError("--source (or --product) is required")
            if args.train:
                scorer = sg.train_matcher(args.source, args.target, k=args.k, model=args.model)
                print(f"trained {scorer.version}: validation F1 {scorer.metrics['valid_f1']:.3f} at threshold "
                      f"{scorer.threshold:.3f} on {scorer.metrics['train_pairs']} training pairs", file=sys.stderr)
            report, proposals = sg.match_platforms(args.source, args.target, k=args.k, model=args.model,
                                                   write=not args.dry_run, one_to_one=args.one_to_one,
                                                   rerank_pool=args.rerank)
            print(report.render(), file=sys.stderr)
            if args.report:
                files = sg.match_report(args.report, args.source, args.target, k=args.k, model=args.model)
                print("wrote " + ", ".join(str(f) for f in files), file=sys.stderr)
    from shopgraph.queries.format import MATCH_COLUMNS

    _write(args, proposals, MATCH_COLUMNS, "(no proposals)")


def cmd_review(args) -> None:
    from shopgraph.queries.format import REVIEW_COLUMNS

    decision = args.accept or args.reject
    _format(args)
    with _open(args, read_only=decision is None) as sg:
        if decision:
            print(sg.review(*decision, accept=args.accept is not None))
            return
        rows = sg.review_queue(limit=args.limit)
    _write(args, rows, REVIEW_COLUMNS, "nothing waiting for review")


def cmd_export(args) -> None:
    with _open(args, read_only=True) as sg:
        manifest = sg.export(args.folder, format=args.file_format, vectors=args.vectors)
    for entry in manifest.files:
        print(f"{entry.path:<36}{entry.rows:>10,} rows")
    print(f"manifest: {Path(args.folder) / 'manifest.json'}")


def cmd_demo(args) -> None:
    from shopgraph.config import load_config, parse_overrides
    from shopgraph.demo.run import run_demo

    config = load_config(args.config, parse_overrides(args.set))
    run_demo(out=Path(args.out), data=Path(args.data) if args.data else None, layout=args.layout,
             n_products=args.products, config=config, db=_db_target(args.db) if args.db else None)


def _db_target(db: str):
    """A Neo4j URI stays a string (Path would fold its //); anything else is a path."""
    from shopgraph.graph.neo4j_connect import is_neo4j_target

    return db if is_neo4j_target(db) else Path(db)


def cmd_migrate(args) -> None:
    from shopgraph.config import load_config, parse_overrides
    from shopgraph.graph.migrate import migrate
    from shopgraph.graph.stores import describe, exists, open_store

    config = load_config(args.config, parse_overrides(args.set))
    if not exists(args.source):
        raise ShopGraphError(f"no shopgraph database at {args.source}")
    if str(args.source) == str(args.target):
        raise ShopGraphError("--from and --to name the same database")
    trace = _trace(args)
    source, _ = open_store(args.source, config=config, read_only=True, trace=trace)
    try:
        target, _ = open_store(args.target, config=config, dims=source.dims, trace=trace)
        try:
            def progress(step: str, rows: int) -> None:
                if args.verbose:
                    print(f"  {step}: {rows:,} rows", file=sys.stderr)

            print(f"migrating {describe(args.source)} -> {describe(args.target)}", file=sys.stderr)
            report = migrate(source, target, batch_size=args.batch_size, verify=not args.no_verify,
                             on_batch=progress)
        finally:
            target.close()
    finally:
        source.close()
    print(report.render())


def cmd_serve(args) -> None:
    from shopgraph.config import load_config, parse_overrides
    from shopgraph.serve.host import ServeSettings

    if not 0 < args.port < 65536:
        raise ShopGraphError(f"--port must be from 1 to 65535, got {args.port}")
    if args.max_k < 1 or not args.cypher_timeout > 0:
        raise ShopGraphError("--max-k and --cypher-timeout must be positive")
    if args.api_key is not None and len(args.api_key) < 8:
        raise ShopGraphError("--api-key must be at least 8 characters")
    if args.image_root and not Path(args.image_root).is_dir():
        raise ShopGraphError(f"--image-root {args.image_root} is not a folder")
    from shopgraph.serve.run import serve

    settings = ServeSettings(api_key=args.api_key, read_only=args.read_only, max_k=args.max_k,
                             cypher_timeout=args.cypher_timeout,
                             image_root=Path(args.image_root) if args.image_root else None,
                             access_log=not args.no_access_log)
    serve(args.db, host=args.host, port=args.port, settings=settings,
          config=load_config(args.config, parse_overrides(args.set)))


HANDLERS = {"ingest": cmd_ingest, "delete": cmd_delete, "search": cmd_search, "similar": cmd_similar,
            "cypher": cmd_cypher, "stats": cmd_stats, "schema": cmd_schema, "train": cmd_train, "embed": cmd_embed,
            "recommend": cmd_recommend, "match": cmd_match, "review": cmd_review, "export": cmd_export,
            "demo": cmd_demo, "migrate": cmd_migrate, "serve": cmd_serve}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        HANDLERS[args.command](args)
    except ShopGraphError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
