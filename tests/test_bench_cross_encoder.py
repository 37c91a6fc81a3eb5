"""bench.cross_encoder's pieces that need no model: each side's text, the blends, the cascade."""
import numpy as np

from bench import cross_encoder as ce
from shopgraph.matching.listings import Listings
from shopgraph.matching.scorer import prf


def test_record_text_carries_every_column_under_its_own_name():
    listings = Listings("shop", ["a", "b"], ["Pale Ale", "Song"], ["Pale Ale", "Song"],
                        attributes=[{"Naam": "Pale Ale", "Brouwerij": "De Molen", "ABV": "5.5 %"}, {}])
    texts = ce.side_texts(listings, np.array([0, 1]), "record")
    assert texts[0] == "Naam: Pale Ale Brouwerij: De Molen ABV: 5.5 %"
    assert texts[1] == "Song"  # no attributes: the title, never an empty side
    assert ce.side_texts(listings, np.array([0]), "title") == ["Pale Ale"]


def test_blends_in_probability_and_log_odds():
    shipped, cross = np.array([0.9, 0.2]), np.array([0.1, 0.2])
    assert np.allclose(ce.blend(shipped, cross, 1.0, "probability"), shipped)
    assert np.allclose(ce.blend(shipped, cross, 0.5, "probability"), [0.5, 0.2])
    # 0.9 and 0.1 are opposite log-odds: their even log-odds blend is 0 (a probability of one half).
    assert np.allclose(ce.blend(shipped, cross, 0.5, "log-odds"), [0.0, ce.logit(np.array([0.2]))[0]])


def test_cascade_rescoring_nothing_keeps_the_shipped_decisions_and_everything_the_blend_s():
    rng = np.random.default_rng(0)
    labels = {s: rng.integers(0, 2, 200) for s in ("valid", "test")}
    # The shipped scores are weak; the cross-encoder's nearly perfect.
    shipped = {s: np.clip(0.5 + 0.2 * (labels[s] - 0.5) + rng.normal(0, 0.2, 200), 0.01, 0.99) for s in labels}
    cross = {s: np.clip(0.1 + 0.8 * labels[s] + rng.normal(0, 0.05, 200), 0.01, 0.99) for s in labels}
    setting = {"mode": "probability", "weight": 0.0}
    none = ce.cascade(shipped, cross, 0.5, setting, 0.0, labels)
    assert none["test share re-scored"] == 0.0
    assert none["test F1"] == round(prf(shipped["test"] >= 0.5, labels["test"])["f1"], 4)
    every = ce.cascade(shipped, cross, 0.5, setting, 1e9, labels)
    assert every["test share re-scored"] == 1.0
    assert every["test F1"] > none["test F1"] + 0.2


def test_cascade_ties_on_valid_keep_the_higher_threshold():
    # Every valid pair is a match far above the band, so any in-band threshold ties on valid; the
    # tie must keep the highest (fewer false matches), which rejects the in-band test non-match.
    labels = {"valid": np.array([1, 1, 0]), "test": np.array([1, 0])}
    shipped = {"valid": np.array([0.99, 0.99, 0.01]), "test": np.array([0.99, 0.55])}
    cross = {"valid": np.array([0.9, 0.9, 0.1]), "test": np.array([0.9, 0.6])}
    out = ce.cascade(shipped, cross, 0.5, {"mode": "probability", "weight": 1.0}, 1.0, labels)
    assert out["test share re-scored"] == 0.5
    assert out["test F1"] == 1.0
