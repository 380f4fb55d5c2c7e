"""Land cover sub-indicator (METHODS 1.5): nesting tables, transition matrix, transition codes."""

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr

from dldd.core.legend import CLASS_NODATA
from dldd.errors import GridMismatchError, InputError
from dldd.indicators import landcover as lc

ND = CLASS_NODATA

# METHODS 1.5 default transition matrix, copied by hand (rows from, columns to).
METHODS_MATRIX = """
Tree       0 - - - - - 0
Grass      + 0 + - - - 0
Crop       + - 0 - - - 0
Wetland    - - - 0 - - 0
Artificial + + + + 0 + 0
Other      + + + + - 0 0
Water      0 0 0 0 0 0 0
"""
SIGN = {"-": -1, "0": 0, "+": 1}
EXPECTED_MATRIX = [[SIGN[c] for c in row.split()[1:]] for row in METHODS_MATRIX.strip().splitlines()]

# Trends.Earth default ESA CCI nesting (LDMP/data/land_cover_nesting_unccd_esa.json), by hand.
ESA_EXPECTED = {
    1: [50, 60, 61, 62, 70, 71, 72, 80, 81, 82, 90, 100],
    2: [110, 120, 121, 122, 130, 140, 150, 151, 152, 153],
    3: [10, 11, 12, 20, 30, 40],
    4: [160, 170, 180],
    5: [190],
    6: [200, 201, 202, 220],
    7: [210],
    ND: [0],
}
# MODIS LC_Type1 (IGBP) as documented in legends/modis_igbp_to_unccd.yaml, by hand.
MODIS_EXPECTED = {
    1: [1, 2, 3, 4, 5, 8],
    2: [6, 7, 9, 10],
    3: [12, 14],
    4: [11],
    5: [13],
    6: [15, 16],
    7: [0, 17],
    ND: [255],
}


def _pairs():
    """All 49 (from, to) pairs as two 1-D int8 maps."""
    f, t = np.meshgrid(np.arange(1, 8), np.arange(1, 8), indexing="ij")
    return (xr.DataArray(f.ravel().astype(np.int8), dims="x"), xr.DataArray(t.ravel().astype(np.int8), dims="x"))


def _flip(table):
    return {code: cls for cls, codes in table.items() for code in codes}


def test_default_matrix_constant_matches_methods():
    np.testing.assert_array_equal(lc.DEFAULT_TRANSITION_MATRIX, EXPECTED_MATRIX)


def test_degradation_every_pair_matches_methods():
    start, end = _pairs()
    out = lc.land_cover_degradation(start, end)
    expected = np.array(EXPECTED_MATRIX).ravel()
    np.testing.assert_array_equal(out.values, expected)
    assert out.dtype == np.int8
    assert out.attrs["_FillValue"] == ND and out.attrs["units"] == "1"
    for key in ("long_name", "method", "parameters", "references"):
        assert out.attrs[key]


def test_degradation_nodata_and_user_matrix():
    start = xr.DataArray(np.array([1, ND, 3], np.int8), dims="x")
    end = xr.DataArray(np.array([ND, 2, 1], np.int8), dims="x")
    np.testing.assert_array_equal(lc.land_cover_degradation(start, end).values, [ND, ND, 1])
    user = np.zeros((7, 7), int)
    user[2, 0] = -1  # a national matrix calling crop -> tree degradation
    np.testing.assert_array_equal(lc.land_cover_degradation(start, end, matrix=user).values, [ND, ND, -1])


def test_zone_matrices():
    start = xr.DataArray(np.array([2, 2, 2, 2], np.int8), dims="x")
    end = xr.DataArray(np.array([3, 3, 3, 3], np.int8), dims="x")
    zones = xr.DataArray(np.array([1, 2, 9, ND], np.int16), dims="x")
    zone2 = np.array(EXPECTED_MATRIX)
    zone2[1, 2] = -1  # in zone 2, grass -> crop is degradation
    out = lc.land_cover_degradation(start, end, zones=zones, zone_matrices={2: zone2})
    # zone 1 and unlisted zones use the default matrix (grass -> crop = +1)
    np.testing.assert_array_equal(out.values, [1, -1, 1, 1])
    with pytest.raises(InputError, match="zones"):
        lc.land_cover_degradation(start, end, zone_matrices={2: zone2})


def test_bad_matrix_and_bad_codes():
    start, end = _pairs()
    with pytest.raises(InputError, match="7x7"):
        lc.land_cover_degradation(start, end, matrix=np.zeros((6, 7)))
    with pytest.raises(InputError, match="-1, 0, \\+1"):
        lc.land_cover_degradation(start, end, matrix=np.full((7, 7), 2))
    bad = xr.DataArray(np.array([1, 9], np.int8), dims="x")
    with pytest.raises(InputError, match="lc_start holds codes \\[9\\]"):
        lc.land_cover_degradation(bad, bad.copy(data=np.array([1, 1], np.int8)))


def test_grid_mismatch():
    a = xr.DataArray(np.ones(3, np.int8), dims="x", coords={"x": [0, 1, 2]})
    b = xr.DataArray(np.ones(3, np.int8), dims="x", coords={"x": [0, 1, 3]})
    with pytest.raises(GridMismatchError, match="lc_start, lc_end"):
        lc.land_cover_degradation(a, b)


def test_transition_codes_every_pair():
    start, end = _pairs()
    codes = lc.transition_codes(start, end)
    expected = [10 * f + t for f in range(1, 8) for t in range(1, 8)]
    np.testing.assert_array_equal(codes.values, expected)
    a = xr.DataArray(np.array([ND, 4, 6], np.int8), dims="x")
    b = xr.DataArray(np.array([2, 4, ND], np.int8), dims="x")
    np.testing.assert_array_equal(lc.transition_codes(a, b).values, [ND, 44, ND])


@pytest.mark.parametrize("table,expected", [(lc.ESA_CCI_TO_UNCCD, ESA_EXPECTED), (lc.MODIS_IGBP_TO_UNCCD, MODIS_EXPECTED)])
def test_nesting_tables_every_code(table, expected):
    want = _flip(expected)
    assert dict(table) == want
    codes = np.array(sorted(want), dtype=np.int16)
    out = lc.nest(xr.DataArray(codes, dims="x"), table)
    np.testing.assert_array_equal(out.values, [want[c] for c in codes])
    assert out.dtype == np.int8 and out.attrs["_FillValue"] == ND


def test_task_code_lists_are_covered():
    esa = [10, 11, 12, 20, 30, 40, 50, 60, 61, 62, 70, 71, 72, 80, 81, 82, 90, 100, 110, 120, 121, 122, 130,
           140, 150, 151, 152, 153, 160, 170, 180, 190, 200, 201, 202, 210, 220]
    assert len(esa) == 37 and set(esa) <= set(lc.ESA_CCI_TO_UNCCD)
    assert set(range(18)) | {255} == set(lc.MODIS_IGBP_TO_UNCCD)


def test_unknown_codes_raise_naming_them():
    da = xr.DataArray(np.array([[10, 99], [123, 210]], np.int16), dims=("y", "x"), name="esa_2015")
    with pytest.raises(InputError, match=r"'esa_2015' holds codes \[99, 123\]"):
        lc.nest(da, lc.ESA_CCI_TO_UNCCD)
    out = lc.nest(da, lc.ESA_CCI_TO_UNCCD, unknown="nodata")
    np.testing.assert_array_equal(out.values, [[3, ND], [ND, 7]])
    lazy = lc.nest(da.chunk({"y": 1}), lc.ESA_CCI_TO_UNCCD)  # lazy: the error comes at compute time
    with pytest.raises(InputError, match=r"holds codes \[(99|123)\]"):  # codes of the failing block
        lazy.compute()


def test_nest_fill_nan_and_user_mapping():
    da = xr.DataArray(np.array([1.0, np.nan, 2.0, 7.0, 2.5]), dims="x", attrs={"_FillValue": 7.0})
    user = {1: 1, 2: 6, 3: None}
    out = lc.nest(da, user, unknown="nodata")
    np.testing.assert_array_equal(out.values, [1, ND, 6, ND, ND])  # 2.5 is not a code
    with pytest.raises(InputError, match="2.5"):
        lc.nest(da, user)
    with pytest.raises(InputError, match="not UNCCD classes"):
        lc.nest(da, {1: 8})


def test_nest_dask_matches_numpy_and_time_series():
    rng = np.random.default_rng(0)
    codes = np.array(sorted(lc.MODIS_IGBP_TO_UNCCD))
    arr = rng.choice(codes, size=(3, 20, 30))
    da = xr.DataArray(arr, dims=("time", "y", "x"))
    eager = lc.nest(da, lc.MODIS_IGBP_TO_UNCCD)
    lazy = lc.nest(da.chunk({"y": 7, "x": 11}), lc.MODIS_IGBP_TO_UNCCD)
    assert isinstance(lazy.data, dsa.Array)
    np.testing.assert_array_equal(eager.values, lazy.values)
    np.testing.assert_array_equal(eager.values, np.vectorize(lc.MODIS_IGBP_TO_UNCCD.get)(arr))


def test_land_cover_series():
    start = xr.DataArray(np.array([[2, 1]], np.int8), dims=("y", "x"))
    end = xr.DataArray(np.array([[3, 1]], np.int8), dims=("y", "x"))
    s = lc.land_cover_series(start, end, range(2000, 2006), 2003)
    assert s.dims == ("time", "y", "x")
    np.testing.assert_array_equal(s.time.dt.year, range(2000, 2006))
    np.testing.assert_array_equal(s.values[:, 0, 0], [2, 2, 2, 3, 3, 3])
    np.testing.assert_array_equal(s.values[:, 0, 1], [1] * 6)
    with pytest.raises(InputError, match="transition_year"):
        lc.land_cover_series(start, end, range(2000, 2006), 2010)
