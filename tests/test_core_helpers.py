"""The one-of-a-kind helpers in dldd.core that several layers share: the JSON encoder, the value range
check and the attribute builder of indicator outputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dldd.core.jsondata import from_json_data, json_default, to_json_data


def test_json_data_plain_typed_and_nonfinite():
    value = {1: (np.int16(3), np.float32(0.5)), "b": np.array([[1.0, np.nan], [np.inf, 2.0]]),
             "flag": np.bool_(True), "p": Path("maps/x.tif"), "nan": float("nan")}
    plain = to_json_data(value)
    assert plain["1"] == [3, 0.5] and type(plain["1"][0]) is int and type(plain["1"][1]) is float
    assert plain["flag"] is True and plain["p"] == "maps/x.tif"
    assert math.isnan(plain["b"][0][1]) and plain["b"][1][0] == math.inf and math.isnan(plain["nan"])
    strict = to_json_data(value, nonfinite="null")
    assert strict["b"] == [[1.0, None], [None, 2.0]] and strict["nan"] is None
    json.dumps(strict, allow_nan=False)  # standard JSON: no NaN or Infinity left
    typed = json.loads(json.dumps(to_json_data(value, numpy="typed")), object_hook=from_json_data)
    assert typed["1"][0].dtype == np.int16 and typed["1"][0] == 3 and np.ndim(typed["1"][0]) == 0
    assert typed["1"][1].dtype == np.float32 and typed["b"].dtype == np.float64
    np.testing.assert_array_equal(typed["b"], value["b"])
    with pytest.raises(ValueError, match="nonfinite"):
        to_json_data(value, nonfinite="drop")


def test_json_default_hook():
    text = json.dumps({"ok": np.bool_(False), "n": np.int64(7), "x": np.float32(np.nan),
                       "when": np.datetime64("2020-01-01"), "a": np.arange(3)}, default=json_default)
    assert json.loads(text) == {"ok": False, "n": 7, "x": None, "when": "2020-01-01", "a": [0, 1, 2]}


def test_write_json_uses_the_encoder(tmp_path):
    from dldd.core import io

    path = io.write_json(tmp_path / "s.json", {"flag": np.bool_(True), "v": np.float64(1.5)})
    assert json.loads(path.read_text()) == {"flag": True, "v": 1.5}  # a numpy bool is a boolean, not "True"


def test_check_range_numbers_arrays_dataarrays():
    import xarray as xr

    from dldd.core.ranges import check_range
    from dldd.errors import InputError

    check_range(None, "x", 0, 1)
    check_range(np.array([0.0, np.nan, 1.0]), "x", 0, 1)  # NaN is no data
    check_range(xr.DataArray([np.inf, 3.0]), "ai", 0.0, None)  # no upper bound: an infinite ratio passes
    with pytest.raises(InputError, match=r"snow_share: values range from -0.5 to 2; expected a fraction"):
        check_range(xr.DataArray([[-0.5, 2.0]]), "snow_share", 0.0, 1.0, "a fraction in [0, 1]")
    with pytest.raises(InputError, match=r"lat: values range from 95 to 95; expected values in \[-90, 90\]"):
        check_range(95.0, "lat", -90.0, 90.0)
    with pytest.raises(InputError, match="expected values >= 0"):
        check_range([1.0, np.inf, -np.inf], "speed", 0.0)
    lazy = xr.DataArray(np.array([5.0, -5.0])).chunk()
    check_range(lazy, "speed", 0.0)  # dask: not computed here (the sources screen blocks as read)


def test_indicators_share_the_range_check():
    """PET, MEDALUS and sand refuse out-of-range inputs through the one check."""
    import xarray as xr

    from dldd.errors import InputError
    from dldd.indicators import pet, sensitivity
    from dldd.indicators.sand import rweq

    with pytest.raises(InputError, match="tmin: values range from 80 to 80"):
        pet.pet_hargreaves(80.0, 90.0, 10.0, 100)
    with pytest.raises(InputError, match="rock_fragments: values range from 10 to 120"):
        sensitivity.rock_fragments_score(xr.DataArray([10.0, 120.0]))
    with pytest.raises(InputError, match="snow_share: values range from 0 to 1.5"):
        rweq.snow_cover_factor(xr.DataArray([0.0, 1.5]))


def test_output_attrs_one_order_and_the_legend():
    from dldd.core.attrs import output_attrs
    from dldd.core.legend import CLASS_NODATA, Legend

    leg = Legend.from_pairs("demo_zones", [(1, "dry sub-humid"), (2, "humid")], nodata=-99)
    a = output_attrs("1", "zone", "thresholds", "t=0.65", "UNEP 1992", legend=leg, period_start=1991, note=None)
    assert list(a) == ["units", "long_name", "method", "parameters", "references", "legend", "flag_values",
                       "flag_meanings", "_FillValue", "period_start"]
    assert a["flag_values"] == [1, 2] and a["flag_meanings"] == "dry_sub-humid humid" and a["_FillValue"] == -99
    b = output_attrs("1", "levels", "z", "p", "r", flag_values=range(-1, 2), flag_meanings="down same up")
    assert b["flag_values"] == [-1, 0, 1] and b["_FillValue"] == CLASS_NODATA and "legend" not in b
    assert output_attrs("VU", "count") == {"units": "VU", "long_name": "count"}  # None is left out


def test_class_outputs_of_every_family_share_the_attribute_layout():
    """Aridity zones, SO3 hazard, MEDALUS classes and sand classes: the same keys in the same order, CF
    flag_values as a list of ints (SO3 wrote a numpy int8 array), the fill value of the legend."""
    import pandas as pd
    import xarray as xr

    from dldd.indicators import aridity, sensitivity
    from dldd.indicators.sand import drift
    from dldd.indicators.drought import so3

    ai = xr.DataArray([[0.01, 0.3], [0.7, np.nan]], dims=("y", "x"))
    years = pd.date_range("2000-01-01", periods=48, freq="MS")
    spi = xr.DataArray(np.linspace(-2.5, 1.0, 48)[:, None, None] * np.ones((1, 2, 2)), dims=("time", "y", "x"),
                       coords={"time": years})
    outputs = [aridity.aridity_class(ai), so3.so3_hazard(spi), sensitivity.quality_class(ai + 1.0, "soil"),
               drift.dp_energy_class(ai * 1000)]
    for out in outputs:
        keys = list(out.attrs)
        assert keys[:9] == ["units", "long_name", "method", "parameters", "references", "legend", "flag_values",
                            "flag_meanings", "_FillValue"], keys
        assert isinstance(out.attrs["flag_values"], list) and all(type(c) is int for c in out.attrs["flag_values"])
        assert out.attrs["_FillValue"] == -128


def test_cell_number_reads_numbers_and_says_none_for_the_rest():
    from dldd.core.cells import cell_number

    assert cell_number("2.5") == 2.5 and cell_number(np.float32(0.5)) == 0.5 and cell_number(3) == 3.0
    for empty in (None, "", "n.d.", float("nan"), "nan", np.nan, pd.NA):
        assert cell_number(empty) is None, empty
    assert cell_number(float("inf")) == math.inf and cell_number("-inf") == -math.inf  # the report keeps infinity
    assert cell_number(math.inf, finite=True) is None and cell_number(-math.inf, finite=True) is None  # the cases do not
    assert cell_number("1e3", finite=True) == 1000.0
