"""House plotting style: idempotent rcParams, figure helpers, mean +- std bands over seeds."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

from replib import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_use_style_is_idempotent_and_sets_house_rc():
    plotting.use_style()
    first = dict(matplotlib.rcParams)
    plotting.use_style()
    assert dict(matplotlib.rcParams) == first
    rc = matplotlib.rcParams
    assert rc["figure.dpi"] == 110 and rc["savefig.dpi"] == 150
    assert rc["font.size"] == 10
    assert not rc["axes.spines.top"] and not rc["axes.spines.right"]
    assert rc["axes.prop_cycle"].by_key()["color"] == list(plotting.OKABE_ITO)
    assert matplotlib.get_backend().lower() == "agg"  # style leaves the backend alone


def test_colors_are_hex_and_cover_roles():
    for role in ("moe", "meo", "dense", "ours", "paper", "baseline", "method"):
        assert matplotlib.colors.is_color_like(plotting.COLORS[role])
    assert plotting.COLORS["ours"] == plotting.COLORS["method"]


def test_new_figure_shapes():
    fig, ax = plotting.new_figure()
    assert hasattr(ax, "plot")
    fig, axes = plotting.new_figure(ncols=3, nrows=2)
    assert axes.shape == (2, 3)
    assert fig.get_size_inches() == pytest.approx((3 * plotting.PANEL_SIZE[0], 2 * plotting.PANEL_SIZE[1]))
    fig, _ = plotting.new_figure(width=5, height=2)
    assert tuple(fig.get_size_inches()) == pytest.approx((5, 2))
    with pytest.raises(ValueError):
        plotting.new_figure(ncols=0)


def _bands(ax):
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def test_mean_band_three_seeds_draws_mean_and_band():
    fig, ax = plotting.new_figure()
    ys = np.array([[0.0, 1, 2, 3], [2, 3, 4, 5], [1, 2, 3, 4]])
    line = plotting.mean_band(ax, np.arange(4), ys, label="ours", color=plotting.COLORS["ours"])
    np.testing.assert_allclose(line.get_ydata(), ys.mean(0))
    assert line.get_label() == "ours"
    assert len(_bands(ax)) == 1
    verts = _bands(ax)[0].get_paths()[0].vertices
    assert verts[:, 1].max() == pytest.approx(4 + 1.0)  # mean 4 at the last point, sample std 1


def test_mean_band_one_seed_draws_no_band():
    fig, ax = plotting.new_figure()
    line = plotting.mean_band(ax, [0, 1, 2], [[1.0, 2.0, 3.0]], label="one seed")
    np.testing.assert_allclose(line.get_ydata(), [1, 2, 3])
    assert _bands(ax) == []
    plotting.mean_band(ax, [0, 1, 2], np.array([1.0, 2.0, 3.0]), label="1-D")  # 1-D counts as one seed
    assert _bands(ax) == []


def test_mean_band_handles_nan_and_rejects_bad_shape():
    fig, ax = plotting.new_figure()
    ys = np.array([[1.0, 2.0, np.nan], [3.0, 4.0, np.nan]])
    line = plotting.mean_band(ax, [0, 1, 2], ys, label="nan tail")
    np.testing.assert_allclose(line.get_ydata()[:2], [2, 3])
    with pytest.raises(ValueError, match="seeds x points"):
        plotting.mean_band(ax, [0, 1], np.ones((3, 4)), label="bad")


def test_paper_marker_is_hollow_and_annotate_bars_labels_values():
    fig, ax = plotting.new_figure()
    m = plotting.paper_marker(ax, 1.0, 2.0)
    assert m.get_markerfacecolor() == "none" and m.get_label() == "paper"
    ax.bar(["a", "b", "c"], [1.234, float("nan"), 3.0])
    texts = plotting.annotate_bars(ax, fmt="{:.2f}")
    assert [t.get_text() for t in texts] == ["1.23", "", "3.00"]


def test_log2_axis_ticks_at_the_given_values():
    fig, ax = plotting.new_figure()
    ax.plot([1, 2, 4, 32], [1, 2, 3, 4])
    plotting.log2_axis(ax, (1, 4, 32))
    assert ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2
    assert list(ax.get_xticks()) == [1, 4, 32] and [t.get_text() for t in ax.get_xticklabels()] == ["1", "4", "32"]
    assert len(ax.xaxis.get_minorticklocs()) == 0
    for bad in ((), (0, 2), (-1,)):
        with pytest.raises(ValueError, match="positive"):
            plotting.log2_axis(ax, bad)


def test_ci_band_is_the_normal_95_interval_of_the_mean():
    fig, ax = plotting.new_figure()
    ys = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 5.0], [2.0, 2.0, 4.0]])
    line = plotting.ci_band(ax, [0, 1, 2], ys, label="erc", color="#123456")
    np.testing.assert_allclose(line.get_ydata(), ys.mean(0))
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    verts = band.get_paths()[0].vertices
    half = 1.96 * ys.std(0, ddof=1) / np.sqrt(3)
    np.testing.assert_allclose(verts[:, 1].max(), (ys.mean(0) + half).max())
    np.testing.assert_allclose(verts[:, 1].min(), (ys.mean(0) - half).min())
    one = plotting.ci_band(ax, [0, 1, 2], ys[:1], label="one seed")            # zero-width band, line only
    np.testing.assert_allclose(one.get_ydata(), ys[0])
    with pytest.raises(ValueError, match="seeds x points"):
        plotting.ci_band(ax, [0, 1], ys, label="bad")


def test_axes_list_flattens_one_or_many():
    _, one = plotting.new_figure()
    _, row = plotting.new_figure(ncols=3)
    _, grid = plotting.new_figure(ncols=2, nrows=2)
    assert plotting.axes_list(one) == [one]
    assert plotting.axes_list(row) == list(row) and len(plotting.axes_list(grid)) == 4
