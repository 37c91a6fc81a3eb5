"""Which embedded BM25 engine the lexical channel uses: tantivy vs SQLite FTS5 vs bm25s, measured.

    python -m bench.lexical_engines                 # ~5 min on 2 cores; bm25s needs the bench extra
    python -m bench.lexical_engines --engines fts5,tantivy

Every engine indexes the same terms (shopgraph.search.analysis: words, compact model numbers, CJK
unigrams + bigrams) except "fts5_trigram", which gives FTS5 the raw text and its own trigram tokenizer
(the built-in option for text without spaces). Speed is measured on one corpus of real products with all
their fields (`speed_corpus`: both tables of abt_buy, amazon_google and wdc_computers, Flipkart, and
every zh/ecommerce_titles title; 17,446 products), in one process,
side by side: build time, size on disk, memory added, query p50/p99 (the test queries of the known-item
and Chinese suites), the cost of one update batch (200 documents replaced + 200 removed, committed
and visible to a new search), and reopening a saved index. Quality: NDCG@10 and MRR of each engine
alone (BM25 only, no exact lookup) on the test queries of known_abt_buy, known_amazon_google,
known_wdc_computers, zh_type and flipkart_category, each over its own corpus.
The properties that are not timings (crash safety, atomic replace, concurrent readers, field weights)
are what the engines document, and for the shipped one (tantivy, in shopgraph.search.lexical_index)
what tests/search/test_lexical_index.py checks.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import Timer, args_settings, percentiles, print_table, rss_growth, write_results
from bench.learned import data_root, run_checked
from bench.search_quality import mean_metrics, metrics
from bench.search_suites import Corpus, Suite, build_suites

FIELDS = ("title", "brand", "identifiers", "attributes", "description")
QUALITY_SUITES = ("known_abt_buy", "known_amazon_google", "known_wdc_computers", "zh_type", "flipkart_category")
PACKAGES = ("numpy", "tantivy", "bm25s", "scipy")
K = 10
PROPERTIES = {
    "tantivy": {"dependency": "tantivy wheel (Rust, 5 MB, MIT)", "incremental": "yes: delete by term + add, "
                "one commit per batch (segments merge in a background thread)",
                "crash_safety": "a commit atomically replaces meta.json; SIGKILL keeps the last commit (tested)",
                "atomic_replace": "new version directory + manifest os.replace (tested)",
                "readers_beside_writer": "yes, readers reload to the last commit; one writer lock (tested)",
                "field_weights": "query-time boosts", "cjk": "our terms (its default tokenizer keeps a "
                "whole CJK run as one token)"},
    "fts5": {"dependency": "none (Python's sqlite3)", "incremental": "yes, per document, transactional",
             "crash_safety": "SQLite WAL: a SIGKILL loses only the open transaction (tested in phase 1's "
             "first version of LexicalIndex)", "atomic_replace": "new file + manifest os.replace",
             "readers_beside_writer": "yes (WAL)", "field_weights": "bm25() weights per query",
             "cjk": "our unigrams+bigrams; no top-k pruning: every document sharing a term is scored"},
    "fts5_trigram": {"dependency": "none", "incremental": "yes", "crash_safety": "as fts5",
                     "atomic_replace": "as fts5", "readers_beside_writer": "yes",
                     "field_weights": "bm25() weights", "cjk": "substrings of 3+ characters only: 2-character "
                     "words (华为, 鞋子) and 1-2 character queries find nothing"},
    "bm25s": {"dependency": "bm25s (numpy/scipy)", "incremental": "no: every change rebuilds the whole index",
              "crash_safety": "files written by save(); no transactions",
              "atomic_replace": "only by writing a new directory", "readers_beside_writer": "no notion of it",
              "field_weights": "none (one text; a field can only be repeated)", "cjk": "our terms"},
}


def doc_terms(doc: dict, unigrams: bool = True) -> dict[str, str]:
    from shopgraph.search.analysis import analyze
    from shopgraph.search.lexical_index import _field_text

    return {f: analyze(_field_text(doc.get(f)), unigrams=unigrams) for f in FIELDS}


def weights() -> dict[str, float]:
    from shopgraph.config import LexicalIndexConfig

    c = LexicalIndexConfig()
    return {f: float(getattr(c, f"{f}_weight")) for f in FIELDS}


# -- engines: build(ids, docs), search(text, k) -> ids, update(replace ids/docs, remove ids), reopen -------
class Tantivy:
    """The shipped LexicalIndex (tantivy), with exact lookup left out: BM25 only, like the others."""

    name = "tantivy"

    def __init__(self, directory: Path):
        from shopgraph.search.lexical_index import LexicalIndex

        self.directory, self._cls = directory, LexicalIndex

    def build(self, ids, docs):
        batches = [(ids[i:i + 1000], docs[i:i + 1000]) for i in range(0, len(ids), 1000)]
        self.index = self._cls.replace(self.directory, database_id="bench", docs=batches, revision=0)

    def search(self, text, k):
        return [i for i, _ in self.index.search(text, k)]

    def update(self, ids, docs, removed):
        self.index.upsert(ids, docs, revision=1)
        self.index.remove(removed, revision=2)

    def reopen(self):
        self.index.close()
        self.index = self._cls.open(self.directory, database_id="bench")


class Fts5:
    """SQLite FTS5 over our terms: a docs table maps ids to rowids, bm25() weights the fields, an update
    deletes and re-inserts by rowid in one transaction (WAL)."""

    name = "fts5"
    tokenizer = "unicode61 remove_diacritics 2 categories 'L* N* Co M*'"  # marks: Devanagari vowel signs

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "index.sqlite"
        self.w = list(weights().values())
        self._connect()

    def _connect(self):
        self.conn = sqlite3.connect(self.path)
        self.conn.execute("PRAGMA journal_mode=WAL")

    def row(self, doc):
        return list(doc_terms(doc).values())

    def query(self, text):
        from shopgraph.search.analysis import terms

        words = list(dict.fromkeys(terms(text)))[:64]
        return " OR ".join('"' + w.replace('"', '""') + '"' for w in words) or None

    def build(self, ids, docs):
        with self.conn:
            self.conn.execute("CREATE TABLE docs (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE)")
            self.conn.execute(f"CREATE VIRTUAL TABLE fts USING fts5({', '.join(FIELDS)}, tokenize=\"{self.tokenizer}\")")
            self._insert(ids, docs)

    def _insert(self, ids, docs):
        for i, d in zip(ids, docs):
            rowid = self.conn.execute("INSERT INTO docs (id) VALUES (?)", (i,)).lastrowid
            self.conn.execute(f"INSERT INTO fts (rowid, {', '.join(FIELDS)}) VALUES (?{', ?' * len(FIELDS)})",
                              (rowid, *self.row(d)))

    def search(self, text, k):
        expression = self.query(text)
        if not expression:
            return []
        rank = f"bm25(fts, {', '.join('?' * len(FIELDS))})"
        sql = (f"SELECT d.id FROM fts JOIN docs d ON d.rowid = fts.rowid WHERE fts MATCH ? "
               f"ORDER BY {rank} LIMIT ?")
        return [r[0] for r in self.conn.execute(sql, (expression, *self.w, k))]

    def update(self, ids, docs, removed):
        with self.conn:
            for i in [*ids, *removed]:
                row = self.conn.execute("SELECT rowid FROM docs WHERE id = ?", (i,)).fetchone()
                if row:
                    self.conn.execute("DELETE FROM fts WHERE rowid = ?", row)
                    self.conn.execute("DELETE FROM docs WHERE rowid = ?", row)
            self._insert(ids, docs)

    def reopen(self):
        self.conn.close()
        self._connect()


class Fts5Trigram(Fts5):
    """FTS5 with its own trigram tokenizer over the raw text (the built-in option for text without
    spaces): query words shorter than 3 characters cannot match."""

    name = "fts5_trigram"
    tokenizer = "trigram case_sensitive 0"

    def row(self, doc):
        from shopgraph.search.lexical_index import _field_text

        return [_field_text(doc.get(f)) for f in FIELDS]

    def query(self, text):
        import regex

        words = [w for w in regex.findall(r"[\p{L}\p{N}]+", text.casefold()) if len(w) >= 3]
        return " OR ".join('"' + w + '"' for w in dict.fromkeys(words)) or None


class Bm25s:
    name = "bm25s"

    def __init__(self, directory: Path):
        import bm25s

        self.bm25s, self.directory = bm25s, directory

    def _tokens(self, doc):
        terms = doc_terms(doc)
        # no field weights: the title (weight 2) is repeated once more, the rest as they are
        return " ".join([terms["title"], *terms.values()]).split()

    def build(self, ids, docs):
        self.ids, self.docs = list(ids), list(docs)
        self.model = self.bm25s.BM25()
        self.model.index([self._tokens(d) for d in self.docs], show_progress=False)
        self.model.save(str(self.directory))
        self.vocab = set(self.model.vocab_dict)

    def search(self, text, k):
        from shopgraph.search.analysis import terms

        words = [w for w in dict.fromkeys(terms(text)) if w in self.vocab]
        if not words:
            return []
        docs, scores = self.model.retrieve([words], k=min(k, len(self.ids)), show_progress=False)
        return [self.ids[j] for j, s in zip(docs[0], scores[0]) if s > 0]

    def update(self, ids, docs, removed):
        changed = dict(zip(ids, docs))
        gone = set(removed)
        keep = [(i, changed.get(i, d)) for i, d in zip(self.ids, self.docs) if i not in gone]
        self.build([i for i, _ in keep], [d for _, d in keep])

    def reopen(self):
        self.model = self.bm25s.BM25.load(str(self.directory))


ENGINES = {e.name: e for e in (Tantivy, Fts5, Fts5Trigram, Bm25s)}


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def speed(engine_cls, corpus: Corpus, queries: list[str], workdir: Path) -> dict:
    directory = workdir / engine_cls.name
    shutil.rmtree(directory, ignore_errors=True)
    with rss_growth() as mem:
        engine = engine_cls(directory)
        with Timer() as build:
            engine.build(corpus.ids, corpus.docs)
    for q in queries[:20]:
        engine.search(q, K)  # warm-up
    ms = []
    for q in queries:
        start = time.perf_counter()
        engine.search(q, K)
        ms.append((time.perf_counter() - start) * 1000)
    rng = np.random.default_rng(0)
    picked = rng.choice(len(corpus.ids), size=400, replace=False)
    changed = [corpus.ids[i] for i in picked[:200]]
    changed_docs = [{**corpus.docs[i], "title": (corpus.docs[i].get("title") or "") + " updated"} for i in picked[:200]]
    removed = [corpus.ids[i] for i in picked[200:]]
    with Timer() as update:
        engine.update(changed, changed_docs, removed)
        engine.search(queries[0], K)
    with Timer() as reopen:
        engine.reopen()
        engine.search(queries[0], K)
    return {"engine": engine_cls.name, "docs": len(corpus.ids), "build_s": round(build.seconds, 2),
            "size_mb": round(_size(directory) / 2**20, 1), "rss_added_mb": mem["mb"],
            **percentiles(ms), "update_batch_ms": round(update.seconds * 1000, 1),
            "reopen_ms": round(reopen.seconds * 1000, 1)}


def quality(engine_cls, suite: Suite, workdir: Path) -> dict:
    directory = workdir / f"{engine_cls.name}-{suite.name}"
    shutil.rmtree(directory, ignore_errors=True)
    engine = engine_cls(directory)
    engine.build(suite.corpus.ids, suite.corpus.docs)
    return mean_metrics([metrics(engine.search(q.text, 100), q.relevant) for q in suite.test])


def speed_corpus(data: Path, model_numbers: Corpus, chinese: Corpus) -> Corpus:
    """The model-number corpus, the left tables (tableA) of its three matching datasets and every
    Chinese title: ~17.4k real products."""
    from bench.search_suites import _read_csv, table_corpus

    parts = [model_numbers, chinese]
    for dataset in ("abt_buy", "amazon_google", "wdc_computers"):
        parts.append(table_corpus(_read_csv(data / "em" / dataset / "tableA.csv"), f"{dataset}:A:")[0])
    return Corpus([i for p in parts for i in p.ids], [d for p in parts for d in p.docs], [])


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.lexical_engines", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=data_root(), help="../shared/data (default)")
    p.add_argument("--engines", default=",".join(ENGINES), help=f"comma list of {', '.join(ENGINES)}")
    p.add_argument("--out", default="lexical_engines", help="results name (bench/results/NAME.json)")
    return p.parse_args(argv)


def run(args) -> dict:
    suites = {s.name: s for s in build_suites(args.data, {"model_numbers", *QUALITY_SUITES})}
    corpus = speed_corpus(args.data, suites["model_numbers"].corpus, suites["zh_type"].corpus)
    queries = [q.text for name in QUALITY_SUITES for q in suites[name].test]
    engines = []
    for name in args.engines.split(","):
        if name not in ENGINES:
            raise SystemExit(f"unknown engine {name!r}; engines are {', '.join(ENGINES)}")
        if name == "bm25s" and importlib.util.find_spec(name) is None:
            print(f"skipping {name}: not installed (pip install -e .[bench] -c constraints.txt)")
            continue
        engines.append(ENGINES[name])
    results: dict = {"speed": [], "quality": {}, "properties": {e.name: PROPERTIES[e.name] for e in engines}}
    with tempfile.TemporaryDirectory(prefix="lexical-engines-") as tmp:
        for engine in engines:
            row = speed(engine, corpus, queries, Path(tmp))
            results["speed"].append(row)
            print(row, flush=True)
        rows = []
        for engine in engines:
            results["quality"][engine.name] = {}
            for name in QUALITY_SUITES:
                q = quality(engine, suites[name], Path(tmp))
                results["quality"][engine.name][name] = q
                rows.append({"engine": engine.name, "suite": name, **q})
    print_table(results["speed"], title=f"speed: {len(corpus.ids)} products, {len(queries)} queries, k={K}")
    print_table(rows, title="quality (test queries, BM25 alone)")
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    results = run_checked(args, run, "data")
    if results is None:
        return 2
    path = write_results(args.out, args_settings(args), results, packages=PACKAGES,
                         notes=["chosen: tantivy (shopgraph/search/lexical_index.py); see docs/benchmarks.md"])
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
