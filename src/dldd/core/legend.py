"""Class legends: small integer codes with names and colours.

Class rasters are small integers (int8/int16) with a declared fill value, ``CLASS_NODATA``; float
rasters use NaN for no data (DESIGN, conventions).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Fill value of every integer class raster dldd writes (int8 range, outside every legend).
CLASS_NODATA = -128


@dataclass(frozen=True)
class LegendClass:
    code: int
    name: str
    color: str = "#999999"


@dataclass(frozen=True)
class Legend:
    """An ordered set of classes. ``name`` identifies the legend in tables and attributes."""

    name: str
    classes: tuple[LegendClass, ...]
    nodata: int = CLASS_NODATA
    description: str = field(default="", compare=False)

    @property
    def codes(self) -> list[int]:
        return [c.code for c in self.classes]

    def label(self, code: int) -> str:
        for c in self.classes:
            if c.code == code:
                return c.name
        if code == self.nodata:
            return "no data"
        raise KeyError(f"code {code} is not in legend {self.name!r} (codes {self.codes})")

    def colors(self) -> dict[int, str]:
        return {c.code: c.color for c in self.classes}

    @classmethod
    def from_pairs(cls, name: str, pairs, nodata: int = CLASS_NODATA, description: str = "") -> "Legend":
        """Build from ``[(code, name, colour), ...]`` (colour optional)."""
        return cls(name, tuple(LegendClass(*p) for p in pairs), nodata, description)


#: SDG 15.3.1 three-class legend (GPG2): degraded -1, stable 0, improved +1.
SDG3 = Legend.from_pairs(
    "sdg3", [(-1, "degraded", "#ab2727"), (0, "stable", "#f5f5dc"), (1, "improved", "#45a146")]
)

#: The seven UNCCD land cover classes (GPG2; METHODS 1.5).
UNCCD_LAND_COVER = Legend.from_pairs(
    "unccd_land_cover",
    [
        (1, "tree-covered", "#787f1b"),
        (2, "grassland", "#ffac42"),
        (3, "cropland", "#ffff00"),
        (4, "wetland", "#00db84"),
        (5, "artificial", "#ff0000"),
        (6, "other land", "#d7c29e"),
        (7, "water body", "#0046c8"),
    ],
)
