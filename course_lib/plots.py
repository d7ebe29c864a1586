"""The house plot style and the few plot helpers the notebooks share.

``use_style()`` once per notebook; ``axes(title, xlabel, ylabel)`` for a styled figure;
``pareto_front(xs, ys)`` (pure, tested) and ``pareto(ax, ...)`` for trade-off plots.
Axis labels always carry units, e.g. ``"latency (ms, host CPU)"``.
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

#: Colour-blind-safe palette (Okabe-Ito), used in this order.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def use_style() -> None:
    """Apply the course's matplotlib style (sizes, grid, palette)."""
    mpl.rcParams.update({
        "figure.figsize": (6.4, 4.0), "figure.dpi": 100, "savefig.dpi": 120,
        "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        "axes.titlesize": 12, "axes.titleweight": "bold", "axes.labelsize": 10.5,
        "legend.frameon": False, "legend.fontsize": 9,
        "axes.prop_cycle": mpl.cycler(color=PALETTE),
    })


def axes(title: str, xlabel: str, ylabel: str, ax=None, figsize: tuple[float, float] | None = None):
    """A styled axes with title and labelled axes (put the unit in the label)."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def pareto_front(xs: Sequence[float], ys: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats: lower-or-equal x (cost) *and* higher-or-equal y.

    Returned in order of increasing x.
    """
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    front = []
    for i in range(len(xs)):
        dominated = np.any((xs <= xs[i]) & (ys >= ys[i]) & ((xs < xs[i]) | (ys > ys[i])))
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (xs[i], -ys[i]))


def pareto(ax, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str] | None = None,
           color: str | None = None, label: str | None = None, logx: bool = False):
    """Scatter cost (x) vs quality (y), label the points and draw the Pareto front as a step line."""
    color = color or PALETTE[0]
    ax.scatter(xs, ys, color=color, label=label, zorder=3)
    if labels is not None:
        for x, y, text in zip(xs, ys, labels):
            ax.annotate(text, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    front = pareto_front(xs, ys)
    if len(front) > 1:
        ax.step([xs[i] for i in front], [ys[i] for i in front], where="post", color=color, alpha=0.5, ls="--")
    if logx:
        ax.set_xscale("log")
    return ax


def bar(ax, labels: Sequence[str], values: Sequence[float], fmt: str = "{:.3g}", color: str | None = None):
    """Bar chart with the value written on each bar."""
    bars = ax.bar(labels, values, color=color or PALETTE[0])
    for b, v in zip(bars, values):
        ax.annotate(fmt.format(v), (b.get_x() + b.get_width() / 2, b.get_height()),
                    ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    return ax
