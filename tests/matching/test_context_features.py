"""The context features (gap to each listing's best match, rank in its list) are the same numbers
however they are computed: a pair asked alone or in a batch, on one BLAS thread or several. A
listing's best match has a gap of exactly 0 and no gap is positive. (Float noise of ~3e-7 in these
gaps moved the matching benchmarks' F1 by up to 0.05: issue 16, docs/benchmarks.md.)"""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from shopgraph.matching import neighbours
from shopgraph.matching.features import FEATURE_GROUPS, FEATURE_NAMES, PairFeaturizer
from shopgraph.matching.listings import Listings

GAPS = [FEATURE_NAMES.index(n) for n in FEATURE_GROUPS["context"] if n.endswith("_gap")]
CONTEXT = [FEATURE_NAMES.index(n) for n in FEATURE_GROUPS["context"]]


@pytest.fixture(scope="module")
def catalogs():
    """Two shops of n listings with MiniLM-sized (384) unit text vectors: each right listing is its
    left twin plus noise, so every left listing's best right match is its twin. Large enough that
    BLAS runs the similarity blocks on several threads."""
    rng = np.random.default_rng(0)
    n, dim = 300, 384
    base = rng.normal(size=(n, dim)).astype(np.float32)
    sides = []
    for name in "ab":
        vec = base + 0.8 * rng.normal(size=base.shape).astype(np.float32)
        vec /= np.linalg.norm(vec, axis=1, keepdims=True)
        titles = [f"{name} listing {i}" for i in range(n)]
        sides.append(Listings(name, [f"{name}:{i}" for i in range(n)], titles, titles, vectors={"text": vec}))
    featurizer = PairFeaturizer(*sides)
    pairs = np.array([(i, i) for i in range(n)] + [(i, (i + 7) % n) for i in range(n)])
    return featurizer, pairs


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


def test_a_listings_best_match_has_a_gap_of_exactly_zero_and_no_gap_is_positive(catalogs):
    featurizer, pairs = catalogs
    gaps = featurizer.features(pairs)[:, GAPS]
    known = ~np.isnan(gaps)
    assert (gaps[known] <= 0).all()
    twins = len(pairs) // 2
    text_gaps = featurizer.features(pairs[:twins])[:, [FEATURE_NAMES.index("ctx_text_row_gap"),
                                                       FEATURE_NAMES.index("ctx_text_col_gap")]]
    assert (text_gaps == 0).all()


def test_a_pairs_context_is_the_same_alone_in_a_batch_and_on_any_blas_thread_count(catalogs):
    featurizer, pairs = catalogs
    batch = featurizer.features(pairs)[:, CONTEXT]
    alone = np.vstack([featurizer.features(pairs[k:k + 1]) for k in range(0, len(pairs), 15)])[:, CONTEXT]
    assert _same(alone, batch[::15])
    with threadpool_limits(1):
        one_thread = featurizer.features(pairs)[:, CONTEXT]
    with threadpool_limits(2):
        two_threads = featurizer.features(pairs)[:, CONTEXT]
    assert _same(one_thread, batch) and _same(two_threads, batch)


def test_gap_to_best_reads_near_ties_as_the_best():
    s = np.array([0.5, 0.5 - 3e-7, 0.5 + 3e-7, 0.4])
    gaps = neighbours.gap_to_best(s, np.full(4, 0.5))
    assert gaps[:3].tolist() == [0.0, 0.0, 0.0] and gaps[3] == pytest.approx(-0.1)


def test_exact_context_ranks_are_the_same_in_slices_and_never_hold_a_row_per_pair(catalogs, monkeypatch):
    """The exact path ranks a pair among its listing's whole row of the other catalog. It gathered
    one such row per pair at once ((pairs, n_other): 3.3 GB at 10k x 10k with 20 candidates each);
    it now ranks CONTEXT_CELLS comparisons at a time, with the same numbers."""
    import tracemalloc

    from shopgraph.matching import features

    featurizer, pairs = catalogs
    many = np.vstack([pairs] + [np.column_stack([pairs[:, 0], (pairs[:, 1] + s) % 300]) for s in range(1, 20)])
    whole = featurizer.features(many)[:, CONTEXT]
    monkeypatch.setattr(features, "CONTEXT_CELLS", 300 * 64, raising=False)
    tracemalloc.start()
    try:
        sliced = featurizer._context("text", many, np.zeros(len(many)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 12,000 pairs x 300 listings: a row per pair at once is 14 MB of float32 (plus its comparison).
    assert peak < 8 * 2**20
    assert _same(featurizer.features(many)[:, CONTEXT], whole)
    assert all(len(v) == len(many) for v in sliced)


def test_many_pairs_on_top_lists_are_featurized_in_chunks_with_the_same_numbers(catalogs, monkeypatch):
    """Above FEATURE_CHUNK pairs whose context reads top lists, features() works a chunk at a time
    (the vectors gathered per pair were (m, 384) twice over per channel: 6 GB at 2M pairs), with the
    numbers of the whole batch at once."""
    from shopgraph.matching import features

    base, pairs = catalogs
    featurizer = PairFeaturizer(base._right_listings, base._right_listings)  # a fresh cache of lists
    featurizer.approximate = True
    many = np.vstack([np.column_stack([pairs[:, 0], (pairs[:, 1] + s) % 300]) for s in range(10)])
    whole = featurizer._features(many)
    calls = []
    original = featurizer._features
    monkeypatch.setattr(featurizer, "_features", lambda p: calls.append(len(p)) or original(p))
    monkeypatch.setattr(features, "FEATURE_CHUNK", 1000)
    chunked = featurizer.features(many)
    assert calls == [1000] * 6 and chunked.dtype == np.float32
    assert _same(chunked, whole)
    exact = PairFeaturizer(base._right_listings, base._right_listings)   # exact blocks: one call
    exact.approximate = False
    monkeypatch.setattr(exact, "_features", lambda p: calls.append(len(p)) or np.zeros((len(p), 1)))
    exact.features(many)
    assert calls[-1] == len(many)


def test_scores_are_computed_in_chunks_with_the_same_numbers(monkeypatch):
    """PairScorer.predict scores PREDICT_CHUNK rows at a time: the float64 copy of both orders of
    every row at once was ~2.5 GB at 2M pairs. Same scores as all rows at once."""
    import tracemalloc

    from shopgraph.matching import scorer as scorer_module
    from shopgraph.matching.ready import ready_scorer

    scorer = ready_scorer()
    x = np.random.default_rng(0).random((20_000, len(scorer.feature_names)), dtype=np.float32)
    whole = scorer.predict(x)
    monkeypatch.setattr(scorer_module, "PREDICT_CHUNK", 1000, raising=False)
    tracemalloc.start()
    try:
        chunked = scorer.predict(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.array_equal(chunked, whole)
    assert peak < x.shape[0] * x.shape[1] * 8   # less than one float64 copy of the rows


@pytest.mark.parametrize("options", [dict(token_pattern=r"[a-z0-9]+"), dict(analyzer="char_wb", ngram_range=(2, 5)),
                                     dict(token_pattern=r"[a-z0-9]+", max_df=3, max_features=40),
                                     dict(token_pattern=r"[a-z0-9]+", max_features=25)])
def test_tfidf_rows_analysed_once_are_tfidfvectorizers_rows(options):
    # features._fit_rows counts both sides in one pass; its rows must be TfidfVectorizer's (fit on
    # both sides, transform each), float for float and index for index.
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    from shopgraph.matching.features import _fit_rows

    rng = np.random.default_rng(2)
    vocabulary = [f"w{k}" for k in range(60)] + ["ab12", "x9", "kit", "16gb", "blue"]
    docs = [" ".join(rng.choice(vocabulary, size=int(rng.integers(0, 12)))) for _ in range(70)]
    left, right = docs[:30], docs[30:]
    got = _fit_rows(CountVectorizer(dtype=np.float32, **options), left, right)
    reference = TfidfVectorizer(sublinear_tf=True, dtype=np.float32, **options).fit(docs)
    for mine, theirs in zip(got, (reference.transform(left).tocsr(), reference.transform(right).tocsr())):
        assert mine.dtype == theirs.dtype and mine.shape == theirs.shape
        assert np.array_equal(mine.indptr, theirs.indptr) and np.array_equal(mine.indices, theirs.indices)
        assert np.array_equal(mine.data, theirs.data)
