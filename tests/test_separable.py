"""Tests of course_lib.separable: cost formulas, the factorization, the widget's function, the sweep."""
import keras
import numpy as np
import pytest

from course_lib import profile, separable


@pytest.mark.parametrize("dk,m,n,df", [(3, 32, 64, 56), (5, 8, 16, 14), (1, 3, 7, 9), (3, 1, 1, 1)])
def test_costs_match_the_paper_formulas(dk, m, n, df):
    assert separable.standard_conv_macs(dk, m, n, df) == dk * dk * m * n * df * df
    assert separable.separable_conv_macs(dk, m, n, df) == dk * dk * m * df * df + m * n * df * df
    assert separable.cost_ratio(dk, m, n, df) == pytest.approx(1 / n + 1 / dk ** 2, rel=1e-12)
    assert separable.cost_ratio_formula(dk, n) == pytest.approx(separable.cost_ratio(dk, m, n, df), rel=1e-12)
    assert separable.standard_conv_params(dk, m, n) == dk * dk * m * n
    assert separable.separable_conv_params(dk, m, n, bias=True) == dk * dk * m + m * n + n


def test_costs_reject_bad_sizes():
    with pytest.raises(ValueError, match="dk"):
        separable.standard_conv_macs(0, 3, 3, 3)
    with pytest.raises(ValueError, match="n must be"):
        separable.separable_conv_macs(3, 3, 2.5, 3)


def test_formula_equals_profile_on_real_layers():
    table = separable.formula_vs_profile([(3, 8, 16, 10), (5, 4, 6, 7)])
    assert table["all equal"].all()
    model = separable.conv_layer_model("separable", 3, 8, 16, 10)
    assert profile.count_macs(model) == separable.separable_conv_macs(3, 8, 16, 10)


def test_cost_summary_and_text_for_the_widget():
    s = separable.cost_summary(3, 32, 64, 56)
    assert s["standard MACs"] == 57_802_752
    assert s["separable MACs"] == s["depthwise MACs"] + s["pointwise MACs"] == 7_325_696
    assert s["ratio"] == pytest.approx(1 / 64 + 1 / 9)
    assert s["MAC reduction (x)"] == pytest.approx(1 / s["ratio"])
    text = separable.describe_costs(3, 32, 64, 56)
    assert "57,802,752" in text and "7,325,696" in text and "1/64 + 1/9" in text


def test_plot_costs_draws_three_bars():
    import matplotlib

    matplotlib.use("Agg")
    ax = separable.plot_costs(3, 16, 32, 8)
    assert len(ax.patches) == 3


def test_equivalent_kernel_reproduces_separable_conv2d():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 9, 9, 5)).astype(np.float32)
    for mult in (1, 2):
        layer = keras.layers.SeparableConv2D(7, 3, padding="same", use_bias=False, depth_multiplier=mult)
        y_sep = np.asarray(layer(x))
        dw, pw = layer.get_weights()
        k = separable.equivalent_kernel(dw, pw)
        assert k.shape == (3, 3, 5, 7)
        conv = keras.layers.Conv2D(7, 3, padding="same", use_bias=False)
        conv.build(x.shape)
        conv.set_weights([k])
        np.testing.assert_allclose(np.asarray(conv(x)), y_sep, rtol=1e-4, atol=1e-5)


def test_equivalent_kernel_checks_shapes():
    with pytest.raises(ValueError, match="pointwise_kernel has 4 input channels"):
        separable.equivalent_kernel(np.zeros((3, 3, 5, 1)), np.zeros((1, 1, 4, 2)))
    with pytest.raises(ValueError, match="depthwise_kernel must have shape"):
        separable.equivalent_kernel(np.zeros((3, 3, 5)), np.zeros((1, 1, 5, 2)))


def test_rank1_energy_and_best_approximation():
    rng = np.random.default_rng(1)
    dw, pw = rng.normal(size=(3, 3, 4, 1)), rng.normal(size=(1, 1, 4, 6))
    k = separable.equivalent_kernel(dw, pw)
    np.testing.assert_allclose(separable.rank1_energy(k), 1.0, rtol=1e-10)
    dw2, pw2 = separable.best_separable_approximation(k)
    np.testing.assert_allclose(separable.equivalent_kernel(dw2, pw2), k, rtol=1e-8, atol=1e-10)
    random_k = rng.normal(size=(3, 3, 4, 6))
    energy = separable.rank1_energy(random_k)
    assert energy.shape == (4,) and np.all(energy < 0.9) and np.all(energy > 0)
    dw3, pw3 = separable.best_separable_approximation(random_k)
    err = np.linalg.norm(separable.equivalent_kernel(dw3, pw3) - random_k) ** 2
    assert err == pytest.approx(np.sum((1 - energy) * np.sum(random_k ** 2, axis=(0, 1, 3))), rel=1e-8)


def test_arithmetic_intensity_orders_the_layers():
    dw = separable.arithmetic_intensity("depthwise", 3, 64, 64, 32)
    pw = separable.arithmetic_intensity("pointwise", 3, 64, 64, 32)
    std = separable.arithmetic_intensity("standard", 3, 64, 64, 32)
    assert dw < pw < std
    assert dw == pytest.approx(9 * 64 * 32 * 32 / ((32 * 32 * 128 + 9 * 64) * 4))
    with pytest.raises(ValueError):
        separable.arithmetic_intensity("dense", 3, 4, 4, 4)


def test_latency_sweep_and_speedup_table_on_a_tiny_layer():
    sweep = separable.latency_sweep([(3, 4, 8, 6)], repeats=3, warmup=1)
    assert len(sweep) == 4
    assert set(sweep["runtime"]) == {"keras", "litert"}
    assert (sweep["median ms"] > 0).all() and (sweep["min ms"] <= sweep["median ms"]).all()
    assert (sweep["GMAC/s (best run)"] >= sweep["GMAC/s"]).all()
    assert (sweep.loc[sweep["runtime"] == "litert", "threads"] == 1).all()
    table = separable.speedup_table(sweep)
    assert len(table) == 2 and (table["speed-up, best runs (x)"] > 0).all()
    assert table["MAC reduction (x)"].iloc[0] == pytest.approx(1 / (1 / 8 + 1 / 9))


def test_conv_layer_model_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind must be"):
        separable.conv_layer_model("grouped", 3, 4, 4, 4)


def test_draw_convolutions_makes_three_panels():
    import matplotlib

    matplotlib.use("Agg")
    fig = separable.draw_convolutions()
    assert len(fig.axes) == 3
