"""Pair features for product matching: one row of numbers per (left listing, right listing) pair.

Families (the names in FEATURE_GROUPS say which channel a feature belongs to, and are what a match's
evidence reports):
- vector channels: cosine of the text (MiniLM), lexical (char n-gram), image and GNN vectors, NaN
  when either side lacks that vector;
- lexical: TF-IDF cosines over words and character n-grams (IDF fitted on both catalogs, no labels),
  word Jaccard and containment, fuzzy token ratios;
- identifiers: model numbers shared, written inside the other text, or in conflict; plain numbers
  and unit quantities shared or in conflict;
- attributes: brand and category agreement, price ratio, title lengths;
- attributes, identifiers, containment: schema-agnostic comparisons of the listings' attributes
  (attribute_features.py: values typed by what they hold, aggregated over whatever keys both share);
- graph context: how the pair ranks among each side's other candidates (a product's best match is
  far more telling than its raw similarity), per channel, computed over the whole other catalog;
  unknown for two catalogs drawn from one pool of offers (ingest.layouts.records_from_one_pool),
  where a product has several listings on each side.

NaN means "not known" and is left for the model (histogram gradient boosting treats it as its own
branch); it never means zero similarity.
"""

from __future__ import annotations

import math

import numpy as np
from rapidfuzz import fuzz
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

from shopgraph.errors import BadArgumentError
from shopgraph.graph import native_memory
from shopgraph.ingest.encoders.text import l2_normalize
from shopgraph.ingest.layouts import records_from_one_pool
from shopgraph.matching import text_signals as ts
from shopgraph.matching import workers
from shopgraph.matching.attribute_features import (ATTRIBUTE_DIRECTIONS, ATTRIBUTE_FEATURES, ATTRIBUTE_GROUPS,
                                                   RecordView)
from shopgraph.matching.attribute_features import pair_features as attribute_pair_features
from shopgraph.matching.listings import Listings

CONTEXT_CHUNK = 2048   # rows of the dense similarity block computed at once (2048 x n floats)
CONTEXT_CELLS = 1 << 22  # pair x listing comparisons ranked at once (about 4M: 34 MB of float64 rows)
RANK_CAP = 50          # ranks beyond this say only "far down the list"
CONTEXT_CHANNELS = ("text", "char", "code", "ident")   # the channels the context features rank by
FEATURE_CHUNK = 1 << 15  # pairs featurized at once when the context reads top lists (features())
RARE_TOKEN_SHARE = 0.05  # the record channel keeps words found in at most this share of listings (at least 2)

FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "text": ("cos_text",),
    "lexical": ("cos_lexical", "tfidf_word_title", "tfidf_char_title", "tfidf_word_text", "tfidf_record", "jaccard_title",
                "containment_title", "fuzz_token_set", "fuzz_token_sort", "fuzz_partial"),
    "image": ("cos_image",),
    "gnn": ("cos_gnn",),
    "model_number": ("tfidf_code_title", "tfidf_ident", "models_left", "models_right", "models_shared", "models_jaccard", "model_in_other_text",
                     "model_conflict", "model_best_fuzz"),
    "numbers": ("numbers_jaccard", "quantities_shared", "quantity_conflict", "codes_unmatched_min",
                "codes_unmatched_max", "digits_unmatched_min", "digits_unmatched_max", "unmatched_best_fuzz"),
    "brand": ("brand_equal", "brand_in_other_title"),
    "category": ("category_equal",),
    "price": ("price_ratio", "price_log_diff"),
    "length": ("words_left", "words_right", "length_ratio"),
    **ATTRIBUTE_GROUPS,
    "context": ("ctx_text_row_gap", "ctx_text_col_gap", "ctx_text_row_rank", "ctx_text_col_rank",
                "ctx_char_row_gap", "ctx_char_col_gap", "ctx_char_row_rank", "ctx_char_col_rank",
                "ctx_code_row_gap", "ctx_code_col_gap", "ctx_code_row_rank", "ctx_code_col_rank",
                "ctx_ident_row_gap", "ctx_ident_col_gap", "ctx_ident_row_rank", "ctx_ident_col_rank",
                "ctx_mutual_best"),
}
FEATURE_NAMES: tuple[str, ...] = tuple(name for names in FEATURE_GROUPS.values() for name in names)
GROUP_OF = {name: group for group, names in FEATURE_GROUPS.items() for name in names}
# Which way each feature moves the match probability, read from its definition (never from a
# dataset), for monotone trees (ScorerConfig.monotone): +1 a similarity, agreement or shared count
# (the more, the likelier a match), -1 a conflict, a gap or an unmatched count (the more, the less
# likely), 0 no direction of its own. The context gaps are a pair's similarity minus its listing's
# best (<= 0, 0 = the best), so +1; its ranks (0 = the best) -1. Left at 0: the per-side sizes
# (words_left / right, models_left / right: how a catalog writes, not whether two listings agree),
# length_ratio (a short and a long listing of one product are common), unmatched_best_fuzz (how alike
# two leftover codes are: a variant, "6700k" vs "6700", or one code written two ways).
_DIRECTIONS_HERE: dict[str, int] = {
    "cos_text": 1, "cos_lexical": 1, "tfidf_word_title": 1, "tfidf_char_title": 1, "tfidf_word_text": 1,
    "tfidf_record": 1, "jaccard_title": 1, "containment_title": 1, "fuzz_token_set": 1, "fuzz_token_sort": 1,
    "fuzz_partial": 1, "cos_image": 1, "cos_gnn": 1,
    "tfidf_code_title": 1, "tfidf_ident": 1, "models_left": 0, "models_right": 0, "models_shared": 1,
    "models_jaccard": 1, "model_in_other_text": 1, "model_conflict": -1, "model_best_fuzz": 1,
    "numbers_jaccard": 1, "quantities_shared": 1, "quantity_conflict": -1, "codes_unmatched_min": -1,
    "codes_unmatched_max": -1, "digits_unmatched_min": -1, "digits_unmatched_max": -1, "unmatched_best_fuzz": 0,
    "brand_equal": 1, "brand_in_other_title": 1, "category_equal": 1,
    "price_ratio": 1, "price_log_diff": -1,   # min / max of the two prices, and |log(a / b)|: both symmetric
    "words_left": 0, "words_right": 0, "length_ratio": 0,
    **{n: (1 if n.endswith("_gap") or n == "ctx_mutual_best" else -1) for n in FEATURE_GROUPS["context"]},
}
_DIRECTIONS = {**_DIRECTIONS_HERE, **ATTRIBUTE_DIRECTIONS}
FEATURE_DIRECTIONS: dict[str, int] = {n: _DIRECTIONS[n] for n in FEATURE_NAMES}   # KeyError: a feature without one
# Per-side features that tell which catalog a pair comes from more than whether it matches (a scorer
# for catalogs it never saw may learn "which dataset is this" from them): bench.ready_scorer
# --no-fingerprints hides them while the ready scorer learns.
FINGERPRINT_FEATURES: tuple[str, ...] = ("words_left", "words_right", "models_left", "models_right", "length_ratio",
                                         "attr_shared_keys")
# Features that belong to one side of the pair, by name pattern: swapping the two listings swaps them.
_SIDE_PAIRS = (("_left", "_right"), ("_row_", "_col_"))


def swapped_columns(names=FEATURE_NAMES) -> np.ndarray:
    """Column order of the same pairs asked the other way round: x[:, swapped_columns()] is what the
    features of (right, left) would be. Every other feature is symmetric by construction."""
    index = {n: k for k, n in enumerate(names)}
    order = np.arange(len(names))
    for k, name in enumerate(names):
        for a, b in _SIDE_PAIRS:
            for one, other in ((a, b), (b, a)):
                if one in name and name.replace(one, other) in index:
                    order[k] = index[name.replace(one, other)]
    return order


class _Side:
    """Per-listing parses of one catalog, computed once."""

    def __init__(self, listings: Listings):
        self.titles = [ts.normalise(t) for t in listings.titles]
        self.texts = [ts.normalise(t) for t in listings.texts]
        self.compact_texts = [ts.compact(t) for t in self.texts]
        # Token sets of interned strings (ts.token_set): one string object per distinct token.
        self.words = [ts.token_set(ts.words(t)) for t in self.titles]
        self.title_lengths = [len(t.split()) for t in self.titles]   # words by whitespace (length features)
        self.models = [ts.token_set(ts.model_numbers(t)) for t in self.titles]
        self.numbers = [ts.token_set(ts.numbers(t)) for t in self.titles]
        self.digit_tokens = [ts.token_set(ts.digit_tokens(t)) for t in self.titles]
        self.quantities = [ts.token_set(ts.quantities(t)) for t in self.texts]
        self.brands = [ts.normalise(b).strip() for b in listings.brands]
        self.categories = [ts.normalise(c).strip() for c in listings.categories]
        self.prices = listings.prices
        # Unit rows, so a dot product is a cosine in [-1, 1] whatever the store holds (GNN vectors
        # are not normalised there); zero rows stay zero (unknown).
        # Listings whose vectors are unit rows already (listings_from_store) are used as they are: one
        # copy of each catalog's vectors, not two.
        self.vectors = {c: m if listings.unit_vectors else l2_normalize(m) for c, m in listings.vectors.items()}
        self.records = [RecordView(r) for r in listings.attributes]
        self.raw = listings.attributes
        # Every value the catalog has (all columns, the title among them), for the channels that look
        # past the title.
        self.record_texts = [ts.normalise(" ".join([t, *r.values()])) for t, r in zip(listings.titles, self.raw)]
        self.identifiers = [ts.token_set(ts.model_numbers(text) | view.gtins)
                            for text, view in zip(self.record_texts, self.records)]


def _sorted_digit_tokens(text: str) -> list[str]:
    """The TF-IDF analyzer of the code channel (a named function so a featurizer can be pickled)."""
    return sorted(ts.digit_tokens(text))


def _identifier_prefixes(codes) -> list[str]:
    """The TF-IDF analyzer of the identifier channel: every prefix of every identifier from
    ts.IDENTIFIER_PREFIX characters on, so a code cut short ("cmk32gx4m2a2") or a variant suffix
    ("hx424c15fb2/8" vs "hx424c15fb/16") still shares its longest, rarest prefixes."""
    return sorted({c[:n] for c in codes for n in range(min(ts.IDENTIFIER_PREFIX, len(c)), len(c) + 1)})


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else np.nan


def _fit_rows(counter: CountVectorizer, left_docs, right_docs, zero: bool = False):
    """(left, right) unit rows of a TF-IDF fitted on both sides' documents (a document with no kept
    token is an all-zero row): the counts of `counter` (its vocabulary fitted on both sides), weighted
    by sublinear tf and smoothed idf. When no token is kept at all: None, or with `zero` all-zero rows.

    Each document is analysed once: the counts of both sides come from the one fit_transform, their
    rows' indices sorted as CountVectorizer.transform leaves them, then weighted. These are the rows
    TfidfVectorizer(sublinear_tf=True).fit(both).transform(side) gives, float for float (the same
    counts in the same order, the same idf), which analysed every document twice: the char n-grams
    of 2 x 100k titles were the largest part of the featurizer."""
    try:
        counts = sparse.csr_matrix(counter.fit_transform(list(left_docs) + list(right_docs)))
    except ValueError:   # empty vocabulary, or every token pruned as too common
        if not zero:
            return None
        return (sparse.csr_matrix((len(left_docs), 1), dtype=np.float32),
                sparse.csr_matrix((len(right_docs), 1), dtype=np.float32))
    counts.sort_indices()
    rows = TfidfTransformer(sublinear_tf=True).fit(counts).transform(counts, copy=False).tocsr()
    n = len(left_docs)
    return rows[:n], rows[n:]


def _row_cosines(x, y) -> np.ndarray:
    """Row-wise dot products of two equally long stacks of unit rows (dense or sparse) -> (m,)."""
    if hasattr(x, "multiply"):
        return np.asarray(x.multiply(y).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", x, y)


class PairFeaturizer:
    """Features for pairs between two catalogs.

    `features(pairs)` takes an (m, 2) int array of (left row, right row) and returns an (m, F) float32
    matrix whose columns are FEATURE_NAMES. The TF-IDF vocabularies are fitted on both catalogs' titles
    and texts (unsupervised), so the same featurizer serves every split of a benchmark.

    workers: cores its large work may use (blocking's top lists, the features of many pairs on the
    approximate path; shopgraph/matching/workers.py); 1 (the default) keeps it all in this thread.
    match_platforms sets it from its `workers` argument. The results do not depend on it.
    """

    workers: int = 1

    def __init__(self, left: Listings, right: Listings):
        self.left, self.right = _Side(left), _Side(right)
        self.n_left, self.n_right = len(left), len(right)
        self._right_listings, self._twin = right, None
        # Two catalogs drawn from one pool of many shops' offers list a product several times on each
        # side: "the closest listing over there" is then not unique, and the context features (ranks
        # among the other catalog's listings) say nothing, so they are left unknown.
        self.pooled = records_from_one_pool(left.attributes, right.attributes)

        def tfidf(**options):   # counted here, weighted by _fit_rows
            return CountVectorizer(dtype=np.float32, **options)

        rare = max(2, int(RARE_TOKEN_SHARE * (self.n_left + self.n_right)))
        L, R = self.left, self.right
        # A channel none of whose tokens occurs (titles without a digit have no code) compares as
        # zero, "nothing shared", never as an error.
        self._tfidf = {
            "word_title": _fit_rows(tfidf(token_pattern=r"[a-z0-9]+"), L.titles, R.titles, zero=True),
            "char_title": _fit_rows(tfidf(analyzer="char_wb", ngram_range=(2, 5), min_df=1), L.titles, R.titles,
                                    zero=True),
            "code_title": _fit_rows(tfidf(analyzer=_sorted_digit_tokens), L.titles, R.titles, zero=True),
            "word_text": _fit_rows(tfidf(token_pattern=r"[a-z0-9]+", max_features=200_000), L.texts, R.texts,
                                   zero=True),
        }
        # Blocking channels beside the title ones: identifiers in any column, and the rare words of
        # the whole record (None when a catalog pair has no such token at all).
        self._extra = {
            "ident": _fit_rows(tfidf(analyzer=_identifier_prefixes), L.identifiers, R.identifiers),
            "record": _fit_rows(tfidf(token_pattern=r"[a-z0-9]+", max_df=rare, max_features=200_000),
                                L.record_texts, R.record_texts),
        }

    def target_twin(self) -> "PairFeaturizer":
        """A featurizer of the target (right) catalog against itself (made on first use, then kept):
        blocking's look-alikes (blocking.lookalikes)."""
        if self._twin is None:
            self._twin = PairFeaturizer(self._right_listings, self._right_listings)
        return self._twin

    # -- similarity channels ------------------------------------------------------------------------

    def channel(self, name: str):
        """(left matrix, right matrix) of unit rows for a context/similarity channel, or None."""
        if name in ("char", "code", "word"):
            return self._tfidf[f"{name}_title"]
        if name in self._extra:
            return self._extra[name]
        lv, rv = self.left.vectors.get(name), self.right.vectors.get(name)
        if lv is None or rv is None:
            return None
        return lv, rv

    def similarity_block(self, channel: str, rows: np.ndarray, *, from_right: bool = False) -> np.ndarray:
        """Dense cosines of the given left rows against every right listing, (len(rows), n_right);
        with from_right, of the given right rows against every left listing, (len(rows), n_left)."""
        mats = self.channel(channel)
        if mats is None:
            raise BadArgumentError(f"no {channel!r} vectors on both sides")
        lm, rm = mats[::-1] if from_right else mats
        block = lm[rows] @ rm.T
        return block.toarray() if hasattr(block, "toarray") else np.asarray(block)

    def _context(self, channel: str, pairs: np.ndarray, sims: np.ndarray) -> tuple[np.ndarray, ...]:
        """For each pair: gap to the left item's best right match, gap to the right item's best left
        match, and the pair's rank in each of those lists (0 = best), all over the whole catalogs (above
        neighbours.APPROX_MIN_PAIRS, from each listing's top lists when blocking built them or the
        pairs' listings are many, neighbours.use_lists: exact gaps where the list holds the best
        match, ranks exact up to RANK_CAP)."""
        mats = self.channel(channel)
        m = len(pairs)
        if mats is None:
            return tuple(np.full(m, np.nan) for _ in range(4))
        lm, rm = mats
        from shopgraph.matching import neighbours

        row_gap, col_gap = np.empty(m), np.empty(m)
        row_rank, col_rank = np.empty(m), np.empty(m)
        for side, (own, other, gap, rank) in enumerate(((lm, rm, row_gap, row_rank), (rm, lm, col_gap, col_rank))):
            keys = pairs[:, side]
            unique, inverse = np.unique(keys, return_inverse=True)
            if neighbours.use_lists(self, channel, bool(side), len(unique), RANK_CAP):
                # Large catalogs: from the side's top lists (shared with blocking), instead of dense
                # blocks over the whole other catalog (neighbours.py).
                idx, top = neighbours.top_lists(self, channel, RANK_CAP, from_right=bool(side))
                gap[:], rank[:] = neighbours.context_from_lists(idx, top, keys, sims, other.shape[0], RANK_CAP,
                                                                nonnegative=sparse.issparse(lm))
                continue
            for start in range(0, len(unique), CONTEXT_CHUNK):
                chunk = unique[start:start + CONTEXT_CHUNK]
                block = _cosine_block(own[chunk], other)
                in_chunk = np.where((inverse >= start) & (inverse < start + len(chunk)))[0]
                local = inverse[in_chunk] - start
                s = sims[in_chunk]
                best = block.max(axis=1)[local]
                gap[in_chunk] = neighbours.gap_to_best(s, best)
                # Ranks a slice of the chunk's pairs at a time: block[local] for all of them at once is
                # (pairs, n_other), 20x the block itself at k = 20 (3.3 GB at 10k x 10k).
                step = max(1, CONTEXT_CELLS // max(1, block.shape[1]))
                for lo in range(0, len(local), step):
                    part = slice(lo, lo + step)
                    above = block[local[part]] > s[part, None] + neighbours.TIE
                    rank[in_chunk[part]] = np.minimum(above.sum(axis=1), RANK_CAP)
        return row_gap, col_gap, row_rank, col_rank

    def conflicts(self, pairs) -> list[dict[str, list[str]]]:
        """Per pair, what disagrees in words (attribute_features.conflicts), for its evidence."""
        from shopgraph.matching.attribute_features import conflicts

        L, R = self.left, self.right
        out = []
        for i, j in np.asarray(pairs).reshape(-1, 2):
            found = conflicts(L.records[i], R.records[j], L.raw[i], R.raw[j])
            ma, mb = L.models[i], R.models[j]
            if ma and mb and not (ma & mb):
                closest = sorted(((fuzz.ratio(x, y), x, y) for x in ma for y in mb), reverse=True)[:2]
                found["model_number"] = [f"{x} vs {y}" for _, x, y in closest]
            out.append(found)
        return out

    # -- the feature matrix -------------------------------------------------------------------------

    def features(self, pairs) -> np.ndarray:
        """(m, F) float32 features of (m, 2) pairs (left row, right row); see the class docstring.

        Many pairs whose context reads top lists (large catalogs) are featurized FEATURE_CHUNK at a
        time into one float32 matrix: every feature of a pair is its own (the same alone or in a
        batch), and all at once the vectors gathered per pair alone were (m, 384) float32 twice over
        per vector channel (6 GB at 2M pairs)."""
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        if len(pairs) and (pairs[:, 0].min() < 0 or pairs[:, 0].max() >= self.n_left
                           or pairs[:, 1].min() < 0 or pairs[:, 1].max() >= self.n_right):
            raise BadArgumentError("pair rows out of range of the two catalogs")
        if len(pairs) <= FEATURE_CHUNK or not self._context_from_lists(pairs):
            return self._features(pairs)
        out = np.empty((len(pairs), len(FEATURE_NAMES)), dtype=np.float32)
        # With workers, each process's chunk is a share of FEATURE_CHUNK: the chunks' transients are
        # held by every process at once.
        size = max(1, FEATURE_CHUNK // max(1, self.workers))
        starts = range(0, len(pairs), size)

        def chunk(start: int) -> np.ndarray:
            block = self._features(pairs[start:start + size])
            # A chunk's transients (gathered vector rows, sparse row products, per-pair lists) are
            # freed into glibc's heap, which keeps them resident; at 2M pairs the process grew ~1 GB
            # past the feature matrix itself (docs/benchmarks.md, Round 4). Given back per chunk.
            native_memory.release()
            return block

        def put(n: int, block: np.ndarray) -> None:
            out[starts[n]:starts[n] + len(block)] = block

        # Chunks shared with forked children when there are workers (workers.fork_map): each chunk's
        # rows are the same floats wherever they are computed.
        workers.fork_map(chunk, starts, self.workers, put)
        return out

    def _context_from_lists(self, pairs: np.ndarray) -> bool:
        """Whether every context channel reads these pairs' ranks from top lists on both sides
        (neighbours.use_lists for the whole batch); if so the lists are built now, so each chunk
        of the batch reads the same lists the whole batch would have. Exact dense blocks are not
        chunked: each chunk would compute its listings' blocks again."""
        from shopgraph.matching import neighbours

        wanted = [(channel, side) for channel in CONTEXT_CHANNELS if self.channel(channel) is not None
                  for side in (False, True)]
        if not all(neighbours.use_lists(self, channel, side, len(np.unique(pairs[:, int(side)])), RANK_CAP)
                   for channel, side in wanted):
            return False
        workers.thread_map(lambda key: neighbours.top_lists(self, key[0], RANK_CAP, from_right=key[1]), wanted,
                           self.workers)
        # From here on only these lists, RANK_CAP deep, are read: blocking's deeper lists and those of
        # its other channels (word, record) go (~0.64 GB of the 0.96 GB at 100k x 100k, k = 20).
        neighbours.keep_lists(self, wanted, RANK_CAP)
        return True

    def _features(self, pairs: np.ndarray) -> np.ndarray:
        li, ri = pairs[:, 0], pairs[:, 1]
        L, R = self.left, self.right
        cols: dict[str, np.ndarray] = {}

        for channel in ("text", "lexical", "image", "gnn"):
            lv, rv = L.vectors.get(channel), R.vectors.get(channel)
            if lv is None or rv is None:
                cols[f"cos_{channel}"] = np.full(len(pairs), np.nan)
                continue
            a, b = lv[li], rv[ri]
            known = (np.abs(a).sum(axis=1) > 0) & (np.abs(b).sum(axis=1) > 0)
            cols[f"cos_{channel}"] = np.where(known, np.einsum("ij,ij->i", a, b), np.nan)
        for name, (lm, rm) in self._tfidf.items():
            cols[f"tfidf_{name}"] = _row_cosines(lm[li], rm[ri])
        for name, mats in self._extra.items():
            # Unknown (NaN) unless both listings have a token of the channel: no identifier on one
            # side says nothing about the pair.
            cols[f"tfidf_{name}"] = np.full(len(pairs), np.nan)
            if mats is not None:
                a, b = mats[0][li], mats[1][ri]
                known = (a.getnnz(axis=1) > 0) & (b.getnnz(axis=1) > 0)
                cols[f"tfidf_{name}"][known] = _row_cosines(a, b)[known]

        per_pair = [self._pair_row(i, j) for i, j in zip(li, ri)]
        scalar_names = [n for n in FEATURE_NAMES if n not in cols and not n.startswith("ctx_")
                        and n not in ATTRIBUTE_FEATURES]
        scalars = np.array(per_pair, dtype=np.float64).reshape(len(pairs), len(scalar_names))
        for k, name in enumerate(scalar_names):
            cols[name] = scalars[:, k]

        mutual = np.ones(len(pairs), dtype=bool)
        for channel, sims in zip(CONTEXT_CHANNELS, (cols["cos_text"], cols["tfidf_char_title"],
                                                    cols["tfidf_code_title"], cols["tfidf_ident"])):
            ctx = self._context(channel, pairs, np.nan_to_num(sims, nan=-1.0))
            if channel == "ident":   # a pair with no identifier on a side has no rank by identifiers
                ctx = tuple(np.where(np.isnan(sims), np.nan, values) for values in ctx)
            for suffix, values in zip(("row_gap", "col_gap", "row_rank", "col_rank"), ctx):
                cols[f"ctx_{channel}_{suffix}"] = values
            # Many titles have no codes, so "best" by codes says little alone; a channel without
            # vectors (NaN ranks) has no say.
            if channel in ("text", "char") and not np.isnan(ctx[2]).all():
                mutual &= (ctx[2] == 0) & (ctx[3] == 0)
        cols["ctx_mutual_best"] = mutual.astype(np.float64)
        if self.pooled:
            for name in FEATURE_GROUPS["context"]:
                cols[name] = np.full(len(pairs), np.nan)
        attrs = np.array([attribute_pair_features(L.records[i], R.records[j]) for i, j in zip(li, ri)],
                         dtype=np.float64).reshape(len(pairs), len(ATTRIBUTE_FEATURES))
        for k, name in enumerate(ATTRIBUTE_FEATURES):
            cols[name] = attrs[:, k]
        return np.column_stack([cols[n] for n in FEATURE_NAMES]).astype(np.float32)

    def _pair_row(self, i: int, j: int) -> list[float]:
        """The per-pair Python features, in FEATURE_NAMES order (skipping vector, TF-IDF and context)."""
        L, R = self.left, self.right
        wa, wb = L.words[i], R.words[j]
        ta, tb = L.titles[i], R.titles[j]
        inter = len(wa & wb)
        ma, mb = L.models[i], R.models[j]
        shared = len(ma & mb)
        in_other = float(any(m in R.compact_texts[j] for m in ma) or any(m in L.compact_texts[i] for m in mb))
        conflict = float(bool(ma) and bool(mb) and not shared and not in_other)
        best_fuzz = max((fuzz.ratio(x, y) / 100 for x in ma for y in mb), default=np.nan)
        qa, qb = L.quantities[i], R.quantities[j]
        # Tokens with digits that the other title does not contain anywhere (as compact text): a
        # variant ("6700k" vs "6700", "st2000dm006" vs "st2000dm001") leaves one behind on some side.
        ua = [t for t in L.digit_tokens[i] if t not in R.compact_texts[j]]
        ub = [t for t in R.digit_tokens[j] if t not in L.compact_texts[i]]
        codes_a, codes_b = sum(t in ma for t in ua), sum(t in mb for t in ub)
        unmatched_fuzz = max((fuzz.ratio(x, y) / 100 for x in ua for y in ub), default=np.nan)
        ba, bb = L.brands[i], R.brands[j]
        brand_equal = float(ba == bb) if ba and bb else np.nan
        brand_in = float((bool(ba) and ba in tb) or (bool(bb) and bb in ta)) if (ba or bb) else np.nan
        ca, cb = L.categories[i], R.categories[j]
        pa, pb = L.prices[i], R.prices[j]
        price_ok = math.isfinite(pa) and math.isfinite(pb) and pa > 0 and pb > 0
        na, nb = L.title_lengths[i], R.title_lengths[j]
        return [
            _jaccard(wa, wb),
            inter / min(len(wa), len(wb)) if wa and wb else np.nan,
            fuzz.token_set_ratio(ta, tb) / 100, fuzz.token_sort_ratio(ta, tb) / 100, fuzz.partial_ratio(ta, tb) / 100,
            float(len(ma)), float(len(mb)), float(shared), _jaccard(ma, mb), in_other, conflict, best_fuzz,
            _jaccard(L.numbers[i], R.numbers[j]), float(len(qa & qb)), float(bool(qa) and bool(qb) and not (qa & qb)),
            float(min(codes_a, codes_b)), float(max(codes_a, codes_b)), float(min(len(ua), len(ub))),
            float(max(len(ua), len(ub))), unmatched_fuzz,
            brand_equal, brand_in,
            float(ca == cb) if ca and cb else np.nan,
            min(pa, pb) / max(pa, pb) if price_ok else np.nan,
            abs(np.log(pa / pb)) if price_ok else np.nan,
            float(na), float(nb), min(na, nb) / max(na, nb, 1),
        ]


def _cosine_block(rows, other) -> np.ndarray:
    """Dense similarities of `rows` against every row of `other`, (len(rows), n_other), for the
    context features. A dense channel's float32 rows are multiplied in float64 and the sums rounded
    back to float32: the products are exact and the sums' rounding error (~1e-16) vanishes in the
    rounding, so every entry is the same float32 whichever BLAS kernel, thread count or block shape
    computed it. (A float32 product moved entries by ~3e-7 between one and two BLAS threads and
    between a pair asked alone and in a batch: enough to move the boosted trees' splits and the
    benchmarks' F1 by up to 0.05, docs/benchmarks.md.) Sparse TF-IDF channels: scipy's product,
    which has no threads and sums each entry in index order."""
    if sparse.issparse(rows):
        return (rows @ other.T).toarray()
    return (np.asarray(rows, dtype=np.float64) @ np.asarray(other, dtype=np.float64).T).astype(np.float32)
