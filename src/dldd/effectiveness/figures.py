"""Figures of an intervention's evaluation (matplotlib, Agg canvas, no pyplot state)."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from dldd.effectiveness.evaluate import ROLE_LEGEND, EffectResult

#: Label printed on figures made from synthetic data.
SYNTHETIC_LABEL = "synthetic demonstration data"

#: Colours of the roles of :data:`dldd.effectiveness.evaluate.ROLE_LEGEND`.
ROLE_COLOURS = {0: "#ffffff", 1: "#1b7837", 2: "#a6dba0", 3: "#762a83", 4: "#e7d4e8", 5: "#bdbdbd"}

TREATED_COLOUR = "#1b7837"
CONTROL_COLOUR = "#762a83"


def _stamp(fig: Figure, synthetic: bool) -> None:
    if synthetic:
        fig.text(
            0.5, 0.5, SYNTHETIC_LABEL, ha="center", va="center", rotation=20, fontsize=22,
            color="#b2182b", alpha=0.25, zorder=10,
        )  # fmt: skip


def _titled(title: str, synthetic: bool) -> str:
    return f"{title}\n({SYNTHETIC_LABEL})" if synthetic else title


def _year_lines(ax, result: EffectResult, rel: bool) -> None:
    x0 = 0 if rel else result.start_year
    ax.axvline(x0 - 0.5, color="k", lw=0.8, ls="--")
    if result.end_year is not None:
        ax.axvline(result.end_year - result.start_year - 0.5 if rel else result.end_year - 0.5, color="k", lw=0.8, ls=":")
    bp = result.breakpoint
    if bp is not None and bp.significant:
        xb = bp.break_year - result.start_year if rel else bp.break_year
        ax.axvline(xb - 0.5, color="#d6604d", lw=1.2, label=f"dated break {bp.break_year} (p = {bp.p_value:.3f})")


def event_study_figure(result: EffectResult, *, synthetic: bool = False, title: str | None = None) -> Figure:
    """Two panels: (a) mean outcome of the matched treated pixels and of their controls by year; (b) the
    event study (effect by year relative to the start, spatial t interval), the difference-in-differences
    effect and its interval over the post period. ``synthetic=True`` prints "synthetic demonstration
    data" on the figure. Returns the Figure (save with ``fig.savefig(path)``)."""
    es = result.event_study
    fig = Figure(figsize=(7.5, 6.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(2, 1)
    units = f" ({result.units})" if result.units and result.units != "1" else ""

    ax1.plot(es["year"], es["treated_mean"], "-o", ms=3, color=TREATED_COLOUR, label=f"treated (n = {result.n_treated})")
    ax1.plot(es["year"], es["control_mean"], "-o", ms=3, color=CONTROL_COLOUR, label=f"matched controls (n = {result.n_controls})")
    _year_lines(ax1, result, rel=False)
    ax1.set_ylabel(f"{result.outcome}{units}")
    ax1.set_xlabel("year")
    ax1.legend(fontsize=8, loc="best")
    ax1.set_title("(a) treated and matched control pixels", fontsize=10, loc="left")
    ax1.xaxis.set_major_locator(MaxNLocator(integer=True))

    rel = es["rel_year"].to_numpy()
    eff = es["effect"].to_numpy()
    yerr = np.vstack([eff - es["ci_low"].to_numpy(), es["ci_high"].to_numpy() - eff])
    pre = (es["period"] == "pre").to_numpy()
    ax2.axhline(0, color="k", lw=0.6)
    ax2.errorbar(rel[pre], eff[pre], yerr=yerr[:, pre], fmt="o", ms=4, color="#4d4d4d", capsize=2, label="pre-period (placebo)")
    ax2.errorbar(rel[~pre], eff[~pre], yerr=yerr[:, ~pre], fmt="o", ms=4, color=TREATED_COLOUR, capsize=2, label="after start")
    post = (es["period"] == "post").to_numpy()
    if post.any():
        x0, x1 = rel[post].min() - 0.4, rel[post].max() + 0.4
        ax2.fill_between([x0, x1], result.ci_low, result.ci_high, color=TREATED_COLOUR, alpha=0.15, lw=0)
        level = int(round(100 * result.parameters.get("confidence", 0.95)))
        ax2.plot([x0, x1], [result.effect] * 2, color=TREATED_COLOUR, lw=1.5,
                 label=f"effect {result.effect:.3g} ({level} % CI {result.ci_low:.3g} to {result.ci_high:.3g})")  # fmt: skip
    _year_lines(ax2, result, rel=True)
    ax2.set_xlabel(f"years since start ({result.start_year})")
    ax2.set_ylabel(f"effect on {result.outcome}{units}")
    ax2.legend(fontsize=8, loc="upper left")
    ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.set_title("(b) event study: treated minus control, relative to the pre-period", fontsize=10, loc="left")
    fig.suptitle(_titled(title or f"{result.name}: difference in differences against matched controls", synthetic), fontsize=11)
    _stamp(fig, synthetic)
    return fig


def design_map_figure(result: EffectResult, *, synthetic: bool = False, title: str | None = None) -> Figure:
    """Map of the evaluation design (``result.maps.role``): treated pixels with and without a match,
    controls used, the rest of the control pool and the excluded buffer."""
    if result.maps is None:
        raise ValueError("result has no maps")
    role = result.maps["role"]
    codes = sorted(ROLE_LEGEND)
    cmap = ListedColormap([ROLE_COLOURS[c] for c in codes])
    norm = BoundaryNorm(np.arange(min(codes) - 0.5, max(codes) + 1.5), cmap.N)
    fig = Figure(figsize=(6.5, 5.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    x, y = role["x"].values, role["y"].values
    ax.pcolormesh(x, y, role.values, cmap=cmap, norm=norm, shading="nearest")
    dy_km, dx_km = result.parameters.get("pixel_spacing_km", (1.0, 1.0))
    if x.size > 1 and y.size > 1:  # km per unit of y over km per unit of x: true shape on lon/lat grids
        ax.set_aspect((dy_km / abs(y[1] - y[0])) / (dx_km / abs(x[1] - x[0])))
    handles = [Patch(color=ROLE_COLOURS[c], label=ROLE_LEGEND[c]) for c in codes if c and (role.values == c).any()]
    fig.legend(handles=handles, fontsize=7, loc="outside lower center", ncol=2)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(_titled(title or f"{result.name}: treated pixels and control ring", synthetic), fontsize=10)
    _stamp(fig, synthetic)
    return fig
