"""SDG 15.3.1 one out, all out, status tables and default periods (METHODS 1.7)."""

import itertools

import numpy as np
import pytest
import xarray as xr

from dldd.core.legend import CLASS_NODATA
from dldd.errors import GridMismatchError, InputError
from dldd.indicators import sdg

ND = CLASS_NODATA
D, S, I = -1, 0, 1  # noqa: E741

# METHODS 1.7 status table, by hand: rows baseline, columns period (D, St, I).
STATUS_BY_HAND = {
    (D, D): D, (D, S): D, (D, I): I,
    (S, D): D, (S, S): S, (S, I): I,
    (I, D): D, (I, S): I, (I, I): I,
}
# METHODS 1.7 seven-code form, by hand.
STATUS7_BY_HAND = {
    (D, D): 1,  # persistent degradation
    (S, D): 2, (I, D): 2,  # recent degradation
    (D, S): 3,  # baseline degradation
    (S, S): 4,  # stability
    (I, S): 5,  # baseline improvement
    (D, I): 6, (S, I): 6,  # recent improvement
    (I, I): 7,  # persistent improvement
}


def vec(values):
    return xr.DataArray(np.array(values, np.int8), dims="x")


@pytest.mark.parametrize("form,table", [("sdg3", STATUS_BY_HAND), ("seven", STATUS7_BY_HAND)])
def test_status_all_nine_combinations(form, table):
    pairs = list(table)
    base = vec([b for b, _ in pairs] + [ND, S, ND])
    period = vec([p for _, p in pairs] + [S, ND, ND])
    out = sdg.status(base, period, form=form)
    np.testing.assert_array_equal(out.values, [table[p] for p in pairs] + [ND, ND, ND])
    assert out.dtype == np.int8 and out.attrs["_FillValue"] == ND
    assert dict(sdg.STATUS_TABLE if form == "sdg3" else sdg.STATUS7_TABLE) == table


def test_seven_codes_collapse_to_three_classes():
    # 1-3 degraded, 4 stable, 5-7 improved; consistent with the three-class table
    assert dict(sdg.STATUS7_TO_SDG3) == {1: D, 2: D, 3: D, 4: S, 5: I, 6: I, 7: I}
    for pair, code in STATUS7_BY_HAND.items():
        assert sdg.STATUS7_TO_SDG3[code] == STATUS_BY_HAND[pair]
    assert [c.name for c in sdg.STATUS7.classes][0] == "persistent degradation"


def test_status_errors():
    with pytest.raises(InputError, match="form"):
        sdg.status(vec([0]), vec([0]), form="five")
    with pytest.raises(InputError, match="baseline holds codes \\[2\\]"):
        sdg.status(vec([2]), vec([0]), form="sdg3")


def expected_ooao(p, lc, sc):
    """The rule of METHODS 1.7 restated: no data if productivity has none; among the classes present,
    degraded beats improved beats stable."""
    if p == ND:
        return ND
    votes = {v for v in (p, lc, sc) if v is not None and v != ND}
    return D if D in votes else (I if I in votes else S)


VALUES = (D, S, I, ND)


@pytest.mark.parametrize("with_lc,with_soc", [(True, True), (True, False), (False, True), (False, False)])
def test_one_out_all_out_truth_table(with_lc, with_soc):
    combos = list(itertools.product(VALUES, VALUES if with_lc else [None], VALUES if with_soc else [None]))
    p = vec([c[0] for c in combos])
    lc = vec([c[1] for c in combos]) if with_lc else None
    sc = vec([c[2] for c in combos]) if with_soc else None
    out = sdg.one_out_all_out(p, lc, sc)
    np.testing.assert_array_equal(out.values, [expected_ooao(*c) for c in combos])
    assert out.dtype == np.int8 and out.attrs["_FillValue"] == ND


def test_one_out_all_out_by_hand_rows():
    # (productivity, land cover, soc) -> class, worked by hand
    rows = [((I, D, I), D), ((S, I, ND), I), ((ND, D, D), ND), ((S, S, S), S), ((I, S, S), I),
            ((S, ND, ND), S), ((D, I, I), D)]
    out = sdg.one_out_all_out(*(vec([r[0][k] for r in rows]) for k in range(3)))
    np.testing.assert_array_equal(out.values, [r[1] for r in rows])


def test_one_out_all_out_dask_and_errors():
    rng = np.random.default_rng(2)
    arrs = [xr.DataArray(rng.choice(VALUES, size=(10, 12)).astype(np.int8), dims=("y", "x")) for _ in range(3)]
    eager = sdg.one_out_all_out(*arrs)
    lazy = sdg.one_out_all_out(*(a.chunk({"y": 3}) for a in arrs))
    np.testing.assert_array_equal(eager.values, lazy.values)
    with pytest.raises(InputError, match="soc holds codes \\[5\\]"):
        sdg.one_out_all_out(arrs[0], arrs[1], arrs[2].where(arrs[2] != 0, 5).astype(np.int8))
    shifted = arrs[1].assign_coords(x=np.arange(1, 13))
    with pytest.raises(GridMismatchError, match="productivity, land_cover"):
        sdg.one_out_all_out(arrs[0].assign_coords(x=np.arange(12)), shifted)


def test_default_periods_match_methods():
    p = sdg.DEFAULT_PERIODS
    assert list(p) == ["baseline", "reporting_1", "reporting_2"]
    assert p["baseline"].productivity == (2000, 2015)
    assert p["baseline"].land_cover == (2000, 2015) and p["baseline"].soc == (2000, 2015)
    assert p["reporting_1"].productivity == (2004, 2019) and p["reporting_1"].land_cover[1] == 2019
    assert p["reporting_2"].productivity == (2008, 2023)
    assert p["reporting_2"].land_cover[1] == 2022 and p["reporting_2"].soc[1] == 2022
    assert p["reporting_2"].year == 2023
    for period in p.values():  # productivity periods are 16 years (GPG2)
        assert period.productivity[1] - period.productivity[0] + 1 == 16


def test_water_never_carries_a_class():
    """A lake (water at the start or the end of the period) is no data whatever its productivity, land cover
    and SOC classes say; land keeps its one-out-all-out class."""
    prod = vec([D, S, I, S, D, ND])
    lc = vec([S, S, S, D, S, S])
    soc = vec([ND, I, S, S, S, S])
    water = vec([0, 1, 0, 0, 1, 1])
    out = sdg.one_out_all_out(prod, lc, soc, water=water)
    assert out.values.tolist() == [D, ND, I, D, ND, ND]
    assert out.dtype == np.int8 and out.attrs["_FillValue"] == ND
    assert sdg.one_out_all_out(prod, lc, soc).values.tolist() == [D, I, I, D, D, ND]
    # dask-backed: the same
    lazy = sdg.one_out_all_out(prod.chunk(2), lc.chunk(2), soc.chunk(2), water=water.chunk(2))
    assert lazy.compute().values.tolist() == out.values.tolist()


def test_corrections_set_the_class_inside_their_mask_not_on_water():
    sdg_map = vec([D, D, S, I, ND, D])
    fp = vec([1, 1, 0, 0, 1, 0])  # a false positive: not degraded, stable
    fn = vec([0, 1, 0, 1, 0, 0])  # a later correction wins where they overlap
    water = vec([0, 0, 0, 0, 0, 1])
    out = sdg.apply_corrections(sdg_map, [(fp, S), (fn, D)], water=water)
    assert out.values.tolist() == [S, D, S, D, S, D]
    out = sdg.apply_corrections(sdg_map, [(vec([0, 0, 0, 0, 0, 1]), I)], water=water)
    assert out.values.tolist()[-1] == D  # water is never corrected into land (here the input's own value)
    assert "corrections" in out.attrs
    with pytest.raises(InputError, match="correction class"):
        sdg.apply_corrections(sdg_map, [(fp, 5)])
    assert sdg.apply_corrections(sdg_map, []) is sdg_map
