"""Sand rose figure (Fryberger 1979): drift potential per wind direction with the resultant drift arrow.

Arms point toward the direction the wind comes FROM (Fryberger's convention), their length is the drift
potential of that sector; the arrow points toward the resultant drift direction (where sand goes).
Figures are built on the Agg canvas without pyplot (no global state); nothing is written unless a
``path`` is given. The figure only draws: the drift per sector and its resultant come from the sand
stage's outputs (``sand_drift_by_direction``, ``sand_drift_resultant``), computed by
:mod:`dldd.indicators.sand.drift`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dldd.errors import InputError

#: Text written on figures made from synthetic data.
SYNTHETIC_LABEL = "synthetic demonstration data"
FIGSIZE_IN = (6.0, 6.4)
DPI = 150
BAR_COLOR = "#c8902e"
ARROW_COLOR = "#7a1f1f"
#: Arrow length as a share of the longest arm.
ARROW_SHARE = 0.9
COMPASS_LABELS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
#: The figure's words (English); the report passes its language's (``sand_rose.*`` of its catalogue):
#: compass points (comma-separated, from north clockwise), the line of figures ({dp}, {rdp}, {rdd},
#: {ratio}), the key, the words for an undefined direction or ratio and the synthetic label.
TEXTS = {
    "compass": ",".join(COMPASS_LABELS),
    "figures": "DP {dp} VU   RDP {rdp} VU   RDD {rdd} (toward)   RDP/DP {ratio}",
    "key": "arms: drift potential by direction the wind blows from; arrow: resultant drift direction",
    "undefined": "undefined",
    "not_applicable": "n/a",
    "synthetic": SYNTHETIC_LABEL,
}


def sand_rose_from_drift(
    by_direction: xr.DataArray,
    summary: xr.Dataset,
    *,
    title: str | None = None,
    synthetic: bool = False,
    path: str | Path | None = None,
    texts: dict[str, str] | None = None,
) -> Figure:
    """Sand rose from computed outputs.

    ``by_direction``: DP per sector with a ``direction`` dimension (sector centres, degrees FROM), as
    from :func:`dldd.indicators.sand.drift.drift_by_direction` for one site (no other dimension).
    ``summary``: one site's ``dp``, ``rdp``, ``rdd``, ``rdp_dp`` (as from ``drift_potential``).
    ``texts``: the figure's words in another language (keys of :data:`TEXTS`; missing keys stay English).
    Returns the Figure; saves it to ``path`` too when given.
    """
    words = {**TEXTS, **(texts or {})}
    if "direction" not in by_direction.dims or by_direction.ndim != 1:
        raise InputError(
            f"sand rose: by_direction must have the single dimension 'direction', found {tuple(by_direction.dims)} "
            "(select one site first)"
        )
    for name in ("dp", "rdp", "rdd", "rdp_dp"):
        if name not in summary or summary[name].ndim != 0:
            raise InputError(f"sand rose: summary needs a scalar {name!r} (one site), found {list(summary.data_vars)}")
    centres = np.asarray(by_direction["direction"].values, dtype=float)
    values = np.asarray(by_direction.values, dtype=float)
    width = 2 * np.pi / len(centres)
    dp, rdp, rdd, ratio = (float(summary[k]) for k in ("dp", "rdp", "rdd", "rdp_dp"))

    fig = Figure(figsize=FIGSIZE_IN, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(projection="polar")
    ax.set_theta_zero_location("N")
    ax.set_theta_direction(-1)
    ax.bar(np.deg2rad(centres), values, width=width * 0.85, color=BAR_COLOR, edgecolor="#5b3d0c", linewidth=0.5)
    ax.set_xticks(np.deg2rad(np.arange(len(COMPASS_LABELS)) * 360.0 / len(COMPASS_LABELS)))
    ax.set_xticklabels([c.strip() for c in words["compass"].split(",")])
    top = float(np.nanmax(values)) if np.any(values > 0) else 1.0
    ax.set_ylim(0, top * 1.1)
    if np.isfinite(rdd) and rdp > 0:
        ax.annotate(
            "", xy=(np.deg2rad(rdd), ARROW_SHARE * top), xytext=(0, 0),
            arrowprops=dict(arrowstyle="-|>", color=ARROW_COLOR, lw=2.2),
        )
    rdd_text = f"{rdd:.0f}°" if np.isfinite(rdd) else words["undefined"]
    ratio_text = f"{ratio:.2f}" if np.isfinite(ratio) else words["not_applicable"]
    fig.text(
        0.5, 0.035,
        words["figures"].format(dp=f"{dp:.0f}", rdp=f"{rdp:.0f}", rdd=rdd_text, ratio=ratio_text) + "\n" + words["key"],
        ha="center", va="bottom", fontsize=8,
    )
    if title:
        fig.suptitle(title, fontsize=11)
    if synthetic:
        fig.text(0.5, 0.5, words["synthetic"], ha="center", va="center", fontsize=18, color="#888888",
                 alpha=0.45, rotation=30, transform=fig.transFigure)
        fig.text(0.02, 0.975, words["synthetic"], ha="left", va="top", fontsize=8, color="#aa0000")
    if path is not None:
        fig.savefig(path)
    return fig
