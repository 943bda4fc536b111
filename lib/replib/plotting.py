"""One house style for every figure in the workbook.

Every notebook calls `use_style()` once (or just `new_figure()`, which calls it), draws with the
helpers below, and saves through `report.save_figure`. The style is plain matplotlib (no seaborn),
works under the headless Agg backend, uses the Okabe-Ito colour-blind-safe palette (Okabe & Ito,
"Color Universal Design", 2008) and gives each recurring role one colour (`COLORS`), so "ours" or
"paper" looks the same in all ten notebooks.

    fig, ax = plotting.new_figure()
    plotting.mean_band(ax, steps, returns, label="ours", color=plotting.COLORS["ours"])  # seeds x points
    plotting.paper_marker(ax, 1e6, 812.0)

Nothing here does I/O or touches matplotlib's backend at import time.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

# Okabe-Ito, in the order that keeps the first few colours far apart (blue, orange, green, ...).
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
GREY = "#999999"

# Roles -> colour. The method a paper proposes is blue, its main competitor vermillion/orange,
# plain baselines grey, the paper's own reported numbers black.
COLORS: dict[str, str] = {
    "ours": OKABE_ITO[0],
    "method": OKABE_ITO[0],
    "meo": OKABE_ITO[0],
    "moe": OKABE_ITO[3],
    "dense": GREY,
    "baseline": OKABE_ITO[1],
    "random": GREY,
    "full": OKABE_ITO[2],
    "paper": "#000000",
    "reference": GREY,
}

DISPLAY_DPI = 110
SAVE_DPI = 150
PANEL_SIZE = (4.2, 3.2)  # inches per subplot; two panels fit a notebook cell's width


def _style() -> dict[str, Any]:
    from cycler import cycler

    return {
        "figure.dpi": DISPLAY_DPI,
        "savefig.dpi": SAVE_DPI,
        "savefig.bbox": "tight",
        "savefig.facecolor": "white",
        "figure.facecolor": "white",
        "figure.constrained_layout.use": True,
        "font.family": "sans-serif",
        "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],  # DejaVu ships with matplotlib
        "font.size": 10,
        "axes.titlesize": 11,
        "axes.labelsize": 10,
        "xtick.labelsize": 9,
        "ytick.labelsize": 9,
        "legend.fontsize": 9,
        "legend.frameon": False,
        "axes.prop_cycle": cycler(color=list(OKABE_ITO)),
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "axes.axisbelow": True,
        "grid.color": "#dddddd",
        "grid.linewidth": 0.6,
        "grid.alpha": 1.0,
        "lines.linewidth": 1.8,
        "lines.markersize": 5,
        "image.cmap": "viridis",
        "pdf.fonttype": 42,  # editable text if someone exports a vector copy
        "svg.fonttype": "none",
    }


def use_style() -> None:
    """Apply the house style to matplotlib's rcParams. Idempotent; leaves the backend alone."""
    import matplotlib as mpl

    mpl.rcParams.update(_style())


def new_figure(ncols: int = 1, nrows: int = 1, width: float | None = None, height: float | None = None):
    """(fig, axes) in the house style; `axes` is one Axes for 1x1, else an array (plt.subplots squeeze)."""
    import matplotlib.pyplot as plt

    if ncols < 1 or nrows < 1:
        raise ValueError(f"ncols and nrows must be >= 1, got ncols={ncols}, nrows={nrows}")
    use_style()
    size = (width or PANEL_SIZE[0] * ncols, height or PANEL_SIZE[1] * nrows)
    return plt.subplots(nrows, ncols, figsize=size, layout="constrained")


def mean_band(ax, x, ys, label: str, color: str | None = None, alpha: float = 0.2, **line_kw):
    """Mean over seeds as a line, with a shaded +-1 std band (sample std, ddof=1).

    `ys` is seeds x points (a 1-D array counts as one seed). With one seed only the line is drawn:
    a zero-width band would suggest a spread that was never measured. NaNs (e.g. a seed that
    stopped early) are ignored per point. Returns the Line2D.
    """
    x = np.asarray(x)
    ys = np.atleast_2d(np.asarray(ys, dtype=float))  # (seeds, points)
    if ys.ndim != 2 or ys.shape[1] != x.shape[0]:
        raise ValueError(f"ys must be seeds x points with {x.shape[0]} points, got shape {ys.shape}")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: "mean of empty slice"
        mean = np.nanmean(ys, axis=0)
        n = np.sum(np.isfinite(ys), axis=0)
        std = np.nanstd(ys, axis=0, ddof=1) if ys.shape[0] > 1 else None
    (line,) = ax.plot(x, mean, label=label, color=color, **line_kw)
    if std is not None:
        std = np.where(n > 1, std, np.nan)  # no band where only one seed has a value
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=alpha, linewidth=0)
    return line


def paper_marker(ax, x, y, label: str | None = "paper", color: str | None = None, marker: str = "o",
                 size: float = 8.0):
    """The paper's reported value(s) as hollow markers, so they never hide our filled ones."""
    color = color or COLORS["paper"]
    (line,) = ax.plot(np.atleast_1d(x), np.atleast_1d(y), linestyle="none", marker=marker,
                      markersize=size, markerfacecolor="none", markeredgecolor=color,
                      markeredgewidth=1.5, color=color, label=label, zorder=5)
    return line


def annotate_bars(ax, fmt: str = "{:.1f}", fontsize: float = 8.0) -> list:
    """Write each bar's value above it (below, for negative bars); NaN bars get no label."""
    texts = []
    for container in ax.containers:
        values = getattr(container, "datavalues", None)
        if values is None:
            continue  # errorbar containers and the like
        labels = ["" if not np.isfinite(v) else fmt.format(v) for v in values]
        texts += ax.bar_label(container, labels=labels, padding=2, fontsize=fontsize)
    return texts


def log2_axis(ax, ticks, axis: str = "x") -> None:
    """A log-2 axis ticked exactly at `ticks` (e.g. the k values of a sweep), labelled as plain numbers, and
    ``ax.minorticks_off()`` (both axes): the k axes of the MoE figures."""
    ticks = list(ticks)
    if not ticks or any(not np.isfinite(t) or t <= 0 for t in ticks):
        raise ValueError(f"log-2 axis ticks must be positive and finite, got {ticks}")
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    getattr(ax, f"set_{axis}scale")("log", base=2)
    getattr(ax, f"set_{axis}ticks")(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()


def ci_band(ax, x, ys, label: str, color: str | None = None, alpha: float = 0.2, z: float = 1.96, **line_kw):
    """Mean over seeds as a line with a shaded normal-approximation 95% interval of the mean,
    mean +- z std / sqrt(n) (sample std, ddof=1); `ys` is seeds x points. With one seed the band has zero
    width (only the line shows). Returns the Line2D. (`mean_band` draws +-1 std instead.)"""
    ys = np.atleast_2d(np.asarray(ys, dtype=float))
    x = np.asarray(x)
    if ys.shape[1] != x.shape[0]:
        raise ValueError(f"ys must be seeds x points with {x.shape[0]} points, got shape {ys.shape}")
    mean = ys.mean(0)
    half = z * ys.std(0, ddof=1) / np.sqrt(len(ys)) if len(ys) > 1 else np.zeros_like(mean)
    (line,) = ax.plot(x, mean, color=color, label=label, **line_kw)
    ax.fill_between(x, mean - half, mean + half, color=line.get_color(), alpha=alpha, lw=0)
    return line


def axes_list(axes) -> list:
    """The Axes of ``new_figure`` as a flat list, whether it returned one Axes or an array of them."""
    return list(np.ravel(axes)) if isinstance(axes, np.ndarray) else [axes]
