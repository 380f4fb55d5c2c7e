"""Regression guard for the structure of dldd.effectiveness.evaluate: the whole result of
evaluate_intervention on one fixed SYNTHETIC scene (every option in use: partial coverage, a
construction period, an exact-match layer, an excluded zone, cell areas, placebo and break test) equals
the stored result of the code before evaluate.py was split into steps (tests/data/effectiveness_reference.json,
written by running this file as a script at commit fe51346). Bit-identical: floats are compared exactly
after a JSON round trip; the maps by SHA-256 of their values. A deliberate change of the method changes
the reference: regenerate it with ``PYTHONPATH=src python tests/test_effectiveness_reference.py`` and
say so in the commit."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import xarray as xr

from dldd.effectiveness import evaluate_intervention
from dldd.effectiveness.synthetic import synthetic_scene

REFERENCE = Path(__file__).parent / "data" / "effectiveness_reference.json"


def reference_result() -> dict:
    """JSON-ready result of evaluate_intervention on the fixed SYNTHETIC scene, maps as SHA-256."""
    years = np.arange(2001, 2021)
    cube, mask = synthetic_scene(11, effect=0.03, treated_shape=(8, 12), margin=21, years=years, start=2011,
                                 selected=True, drought_year=2014)
    ny, nx = mask.shape
    frac = mask.astype(float).values
    rows, cols = np.nonzero(frac)
    frac[rows.min(), :] *= 0.4  # the top row of the polygon covers 40 % of its cells: neither treated nor control
    coords = {"y": cube.y, "x": cube.x}
    classes = np.where(np.arange(nx)[None, :] < nx // 2, 2, 6) * np.ones((ny, 1), dtype=np.int16)
    exclude = np.zeros((ny, nx), bool)
    exclude[:5, :] = True
    area = 1.0 + 0.01 * np.arange(ny)[:, None] * np.ones((1, nx))
    r = evaluate_intervention(
        cube, xr.DataArray(frac, dims=("y", "x"), coords=coords), 2011, 2012,
        exact={"land_cover": xr.DataArray(classes, dims=("y", "x"), coords=coords)},
        exclude=xr.DataArray(exclude, dims=("y", "x"), coords=coords),
        cell_area_km2=xr.DataArray(area, dims=("y", "x"), coords=coords),
        pixel_size_km=(1.0, 1.0), seed=3, name="reference",
    )  # fmt: skip
    d = r.to_dict()
    d["maps"] = {k: hashlib.sha256(np.ascontiguousarray(v.values).tobytes()).hexdigest() for k, v in r.maps.items()}
    d["maps_attrs"] = {k: {a: str(x) for a, x in v.attrs.items()} for k, v in r.maps.items()}
    return json.loads(json.dumps(d, sort_keys=True))


def test_evaluation_equals_the_stored_reference():
    expected = json.loads(REFERENCE.read_text())
    got = reference_result()
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == expected[key], key


if __name__ == "__main__":
    REFERENCE.write_text(json.dumps(reference_result(), sort_keys=True, indent=1) + "\n")
    print(f"wrote {REFERENCE}")
