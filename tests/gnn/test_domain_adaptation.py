"""Domain adaptation of the pair classifier: gradient reversal, the DANN ramp, MMD, the feature scaler,
and source -> target transfer with "none", "mmd" and "dann" on synthetic pair features."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from shopgraph.errors import BadArgumentError
from shopgraph.gnn.domain_adaptation import (AdaptConfig, AdaptedMatcher, FeatureScaler, GradientReversalLayer,
                                             dann_lambda, grad_reverse, mmd2)

METHODS = ("none", "mmd", "dann")
MIN_TARGET_AUC = 0.75  # chance is 0.5; every method reaches ~0.88-0.97 on the setup below


def domains(seed: int = 0, n: int = 600, f: int = 8):
    """Source and target pair features from the same latent z (n, f); the label depends on z[:, 0] only.
    Source: x = z, 10% NaN in column 2. Target: column 0 rescaled and shifted (rank preserving, so
    the label signal survives), columns 1-4 shifted by 1.5 and scaled by 2 (nuisance shift), 20% NaN
    in column 5 (missing only in the target)."""
    g = np.random.default_rng(seed)

    def latent():
        z = g.normal(size=(n, f))
        return z, (z[:, 0] + 0.3 * g.normal(size=n) > 0).astype(np.int64)

    (zs, ys), (zt, yt) = latent(), latent()
    xs = zs.copy()
    xs[g.random(n) < 0.1, 2] = np.nan
    xt = zt.copy()
    xt[:, 0] = 1.3 * zt[:, 0] + 0.4
    xt[:, 1:5] = 2.0 * zt[:, 1:5] + 1.5
    xt[g.random(n) < 0.2, 5] = np.nan
    return xs.astype(np.float32), ys, xt.astype(np.float32), yt


def small_config(method: str, **overrides) -> AdaptConfig:
    return AdaptConfig(**{"method": method, "hidden": 32, "epochs": 15, "batch_size": 64, **overrides})


# -- gradient reversal ---------------------------------------------------------------------------
@pytest.mark.parametrize("lambda_", [0.0, 0.5, 1.0, 2.0])
def test_grad_reverse_is_identity_forward_and_scales_gradient_by_minus_lambda(lambda_):
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    out = grad_reverse(x, lambda_)
    assert torch.equal(out, x)
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert torch.equal(grad, torch.full_like(x, -lambda_))
    # A non-constant upstream gradient: d/dx sum(w * reverse(x)) = -lambda * w.
    w = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    (grad,) = torch.autograd.grad((grad_reverse(x, lambda_) * w).sum(), x)
    assert torch.allclose(grad, -lambda_ * w)


def test_gradient_reversal_layer_uses_its_settable_lambda():
    layer = GradientReversalLayer()
    x = torch.ones(2, 2, requires_grad=True)
    layer.lambda_ = 3.0
    (grad,) = torch.autograd.grad(layer(x).sum(), x)
    assert torch.equal(grad, torch.full_like(x, -3.0))


# -- dann_lambda ---------------------------------------------------------------------------------
def test_dann_lambda_ramps_from_zero_towards_one_and_clips():
    assert dann_lambda(0.0) == 0.0
    grid = [dann_lambda(p) for p in np.linspace(0, 1, 21)]
    assert all(b > a for a, b in zip(grid, grid[1:]))
    assert 0.99 < dann_lambda(1.0) < 1.0
    assert dann_lambda(-0.5) == 0.0 and dann_lambda(3.0) == dann_lambda(1.0)
    assert math.isclose(dann_lambda(0.5), 2 / (1 + math.exp(-5)) - 1)
    assert dann_lambda(1.0, gamma=1.0) < dann_lambda(1.0)  # gamma sets the steepness


# -- mmd2 ----------------------------------------------------------------------------------------
def samples(seed: int, shift: float = 0.0, n: int = 200, d: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=g, dtype=torch.float64),
            torch.randn(n, d, generator=g, dtype=torch.float64) + shift)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mmd2_small_for_same_distribution_large_for_shifted(seed):
    same, shifted = mmd2(*samples(seed)), mmd2(*samples(seed, shift=1.0))
    assert 0.0 <= same.item() < 0.05  # the biased estimate is O(1/n) above 0, not exactly 0
    assert shifted.item() > 0.3 and shifted.item() > 10 * same.item()


def test_mmd2_is_symmetric_nonnegative_and_accepts_fixed_bandwidths():
    x, y = samples(0, shift=0.5)
    assert torch.isclose(mmd2(x, y), mmd2(y, x))
    assert mmd2(x, x).item() == pytest.approx(0.0, abs=1e-12)
    fixed = mmd2(x, y, bandwidths=[0.5, 1.0, 2.0])
    assert fixed.item() > 0 and not torch.isclose(fixed, mmd2(x, y, bandwidths=[10.0]))


def test_mmd2_gradient_flows_to_x_and_is_finite_with_duplicate_points():
    x, y = samples(0, shift=1.0, n=30)
    x = torch.cat([x, x[:3]]).requires_grad_()  # repeated rows: distance 0 must not give NaN gradients
    (grad,) = torch.autograd.grad(mmd2(x, y), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # Moving x a small step against the gradient lowers the discrepancy.
    with torch.no_grad():
        assert mmd2(x - 0.05 * grad / grad.norm(), y) < mmd2(x, y)


# -- FeatureScaler -------------------------------------------------------------------------------
def test_feature_scaler_imputes_adds_indicators_and_standardises():
    nan = np.nan
    source = np.array([[1.0, nan, 5.0, nan], [3.0, 2.0, 5.0, nan], [5.0, 4.0, 5.0, nan], [nan, 6.0, 5.0, nan]])
    target = np.array([[0.0, 1.0, nan, 2.0], [1.0, 2.0, 3.0, 4.0]])
    scaler = FeatureScaler().fit(source, target)
    # Indicators for every column with a NaN in either domain: 0 and 1 and 3 (source), 2 (target).
    assert list(scaler.indicator_columns_) == [0, 1, 2, 3]
    out_s, out_t = scaler.transform(source), scaler.transform(target)
    assert out_s.shape == (4, 8) and out_t.shape == (2, 8) and out_s.dtype == np.float32
    assert np.isfinite(out_s).all() and np.isfinite(out_t).all()
    np.testing.assert_allclose(scaler.median_, [3.0, 4.0, 5.0, 0.0])  # all-NaN column imputed with 0
    np.testing.assert_allclose(out_s[:, :2].mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(out_s[:, :2].std(axis=0), 1.0, atol=1e-6)
    # Column 2 is constant in the source and its indicator never fires there: centred, not blown up
    # by the 1e-6 std floor, so the target's missing value gives a bounded indicator.
    assert np.abs(out_t).max() < 10
    assert out_t[0, 6] == 1.0 and out_t[1, 6] == 0.0


def test_feature_scaler_without_nan_adds_no_columns_and_checks_width():
    x = np.random.default_rng(0).normal(size=(50, 3))
    scaler = FeatureScaler().fit(x)
    assert scaler.transform(x).shape == (50, 3) and scaler.n_features_out == 3
    with pytest.raises(BadArgumentError):
        scaler.transform(x[:, :2])


# -- transfer ------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_transfer_beats_chance_on_target_by_auc_margin_0_25_and_is_deterministic(method):
    """Target ROC-AUC >= 0.75 (chance + 0.25) from source labels only; same seed, same predictions."""
    xs, ys, xt, yt = domains()
    first = AdaptedMatcher(small_config(method)).fit(xs, ys, xt)
    p = first.predict(xt)
    assert p.shape == (len(xt),) and p.dtype == np.float64 and ((p >= 0) & (p <= 1)).all()
    assert roc_auc_score(yt, p) >= MIN_TARGET_AUC
    second = AdaptedMatcher(small_config(method)).fit(xs, ys, xt)
    np.testing.assert_array_equal(second.predict(xt), p)
    other_seed = AdaptedMatcher(small_config(method, seed=1)).fit(xs, ys, xt)
    assert not np.array_equal(other_seed.predict(xt), p)
    assert [h["epoch"] for h in first.history] == list(range(15))
    assert all(math.isfinite(h["loss"]) for h in first.history)


def test_fit_leaves_the_global_torch_rng_alone():
    xs, ys, xt, _ = domains(n=100)
    state = torch.get_rng_state()
    AdaptedMatcher(small_config("dann", epochs=2)).fit(xs, ys, xt)
    assert torch.equal(torch.get_rng_state(), state)


def test_mmd_training_aligns_the_encoded_domains():
    xs, ys, xt, _ = domains()

    def encoded_mmd(method: str) -> float:
        m = AdaptedMatcher(small_config(method)).fit(xs, ys, xt)
        return mmd2(torch.from_numpy(m.encode(xs)), torch.from_numpy(m.encode(xt))).item()

    # Observed: ~0.3 without adaptation, ~0.015 with it.
    assert encoded_mmd("mmd") < 0.25 * encoded_mmd("none")
    assert "mmd" in AdaptedMatcher(small_config("mmd", epochs=1)).fit(xs, ys, xt).history[0]


def test_dann_discriminator_sees_the_domains_and_reversal_confuses_it():
    xs, ys, xt, _ = domains()
    # adapt_weight 0: the reversed gradient is 0, so the discriminator alone learns the domain shift.
    free = AdaptedMatcher(small_config("dann", adapt_weight=0.0)).fit(xs, ys, xt).history
    assert free[-1]["domain"] < 0.6 and free[-1]["domain_accuracy"] > 0.7
    # adapt_weight 1: the encoder works against it; its loss stays near log 2 (observed ~0.71 vs ~0.45).
    adversarial = AdaptedMatcher(small_config("dann")).fit(xs, ys, xt).history
    assert adversarial[-1]["domain"] > free[-1]["domain"] + 0.1
    lambdas = [h["lambda"] for h in adversarial]
    assert lambdas[0] < 0.5 < lambdas[-1] < 1.0 and all(b > a for a, b in zip(lambdas, lambdas[1:]))
    none = AdaptedMatcher(small_config("none", epochs=1)).fit(xs, ys, xt).history
    assert "domain" not in none[0] and "mmd" not in none[0]


# -- bad input -----------------------------------------------------------------------------------
def test_bad_config_raises():
    for bad in ({"method": "coral"}, {"epochs": 0}, {"dropout": 1.0}, {"lr": 0.0}, {"pos_weight": -1.0}):
        with pytest.raises(BadArgumentError):
            AdaptedMatcher(AdaptConfig(**bad))


@pytest.mark.parametrize("case", ["widths", "one_class", "labels_not_binary", "label_count", "empty_target",
                                  "not_2d", "infinite"])
def test_bad_fit_input_raises(case):
    xs, ys, xt, _ = domains(n=40)
    args = {"widths": (xs, ys, xt[:, :-1]), "one_class": (xs, np.ones_like(ys), xt),
            "labels_not_binary": (xs, ys * 2, xt), "label_count": (xs, ys[:-1], xt),
            "empty_target": (xs, ys, xt[:0]), "not_2d": (xs[:, 0], ys, xt),
            "infinite": (np.where(np.arange(8) == 1, np.inf, xs), ys, xt)}[case]
    with pytest.raises(BadArgumentError) as info:
        AdaptedMatcher(small_config("dann", epochs=1)).fit(*args)
    assert "\n" not in str(info.value)


def test_predict_before_fit_and_with_wrong_width_raise():
    matcher = AdaptedMatcher(small_config("none", epochs=1))
    xs, ys, xt, _ = domains(n=40)
    with pytest.raises(BadArgumentError):
        matcher.predict(xt)
    matcher.fit(xs, ys, xt)
    with pytest.raises(BadArgumentError):
        matcher.predict(xt[:, :-1])


@pytest.mark.parametrize("setting, expected", [(0, 1), (2, 2)])
def test_fit_runs_small_steps_on_one_thread_unless_set_and_puts_torch_back(monkeypatch, setting, expected):
    """A step is a 128-row batch through a small MLP: split over two cores it waits for the other
    core far longer than it computes (gnn/threads.py), so auto (0) fits on one thread."""
    xs, ys, xt, _ = domains(n=200)
    seen = set()
    step = AdaptedMatcher._step_losses

    def recording(self, *args, **kwargs):
        seen.add(torch.get_num_threads())
        return step(self, *args, **kwargs)

    monkeypatch.setattr(AdaptedMatcher, "_step_losses", recording)
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        AdaptedMatcher(AdaptConfig(method="mmd", epochs=1, threads=setting)).fit(xs, ys, xt)
        assert seen == {expected}
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
