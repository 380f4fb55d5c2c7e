"""Acquisition end to end against a STAC API served on 127.0.0.1 by the test itself: search with paging,
asset download of small COGs, loading into a Zarr cache clipped to the region, cache reuse without any
request, broken assets (HTTP 404, truncated file) giving a clear error and no cache entry, offline errors.
No test touches the internet."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
import xarray as xr
from rasterio.transform import from_origin

from dldd.errors import InputError
from dldd.sources import fetch, open_input, products
from dldd.spec import parse_spec

PAGE_SIZE = 2
PROJ_EXT = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
# COGs cover 103.5-104.2 E, 1.0-1.6 N (Singapore and around) at 0.01 deg
WEST, NORTH, RES, NX, NY = 103.5, 1.6, 0.01, 70, 60


class StacServer:
    """A tiny STAC API: landing page, /search (GET and POST) with `next` links, and /files/<name>."""

    def __init__(self, root: Path):
        self.root = root
        self.items: list[dict] = []
        self.requests: Counter = Counter()
        self.drop: set[str] = set()  # files whose transfer is cut halfway (connection closed)
        self.validators = True  # send a strong ETag and honour If-Range, as storage services do
        self.sent: Counter = Counter()  # body bytes sent per file
        self.ranges: dict[str, list[str]] = {}  # Range headers received per file
        self.fail: dict[str, list[int]] = {}  # file -> HTTP statuses answered before the file is served
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, obj, status=200):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urlparse(self.path)
                server.requests[url.path] += 1
                if url.path in ("", "/"):
                    return self._json(server.landing())
                if url.path == "/search":
                    q = {k: v[0] for k, v in parse_qs(url.query).items()}
                    return self._json(server.search(q, "GET"))
                if url.path.startswith("/files/"):
                    return self._file(url.path, head=False)
                return self._json({"code": "NotFound"}, 404)

            def do_HEAD(self):
                url = urlparse(self.path)
                server.requests[url.path] += 1
                return self._file(url.path, head=True)

            def _file(self, path, head):
                f = server.root / path.removeprefix("/files/")
                if not f.is_file():
                    return self._json({"code": "NotFound"}, 404)
                name = path.removeprefix("/files/")
                if server.fail.get(name):
                    return self._json({"code": "Busy"}, server.fail[name].pop(0))
                body = f.read_bytes()
                etag = '"%s"' % hashlib.md5(body).hexdigest()
                rng = self.headers.get("Range")
                if rng and not head:
                    server.ranges.setdefault(name, []).append(rng)
                if_range = self.headers.get("If-Range")
                if if_range is not None and (not server.validators or if_range != etag):
                    rng = None  # the file changed (or no validators): the whole file, RFC 9110 13.1.5
                if name in server.drop and not head:  # announce the rest of the file, send half of it, hang up
                    start = int(rng.removeprefix("bytes=").partition("-")[0]) if rng else 0
                    self.send_response(206 if rng else 200)
                    if rng:
                        self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                    if server.validators:
                        self.send_header("ETag", etag)
                    self.send_header("Content-Length", str(len(body) - start))
                    self.end_headers()
                    half = body[start: start + (len(body) - start) // 2]
                    self.wfile.write(half)
                    server.sent[name] += len(half)
                    self.wfile.flush()
                    self.close_connection = True
                    return None
                status = 200
                if rng and rng.startswith("bytes="):  # range requests, as GDAL's /vsicurl/ makes them
                    a, _, b = rng.removeprefix("bytes=").partition("-")
                    start, stop = int(a), min(int(b) if b else len(body) - 1, len(body) - 1)
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{stop}/{len(body)}")
                    body = body[start:stop + 1]
                    status = 206
                if status == 200:
                    self.send_response(200)
                self.send_header("Accept-Ranges", "bytes")
                if server.validators:
                    self.send_header("ETag", etag)
                self.send_header("Content-Type", "image/tiff")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)
                    server.sent[name] += len(body)
                return None

            def do_POST(self):
                url = urlparse(self.path)
                server.requests[url.path] += 1
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if url.path == "/search":
                    return self._json(server.search(body, "POST"))
                return self._json({"code": "NotFound"}, 404)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def landing(self):
        return {"type": "Catalog", "id": "test-stac", "stac_version": "1.0.0", "description": "test catalogue",
                "conformsTo": ["https://api.stacspec.org/v1.0.0/core", "https://api.stacspec.org/v1.0.0/item-search"],
                "links": [{"rel": "self", "href": self.url + "/", "type": "application/json"},
                          {"rel": "root", "href": self.url + "/", "type": "application/json"},
                          {"rel": "search", "href": self.url + "/search", "type": "application/geo+json", "method": "GET"},
                          {"rel": "search", "href": self.url + "/search", "type": "application/geo+json", "method": "POST"}]}

    def search(self, q, method):
        cols = q.get("collections")
        cols = cols.split(",") if isinstance(cols, str) else (cols or [])
        bbox = q.get("bbox")
        bbox = [float(v) for v in bbox.split(",")] if isinstance(bbox, str) else bbox
        start, end = (pd.Timestamp(v.replace("Z", "")) for v in q["datetime"].split("/"))
        hits = []
        for it in self.items:  # items overlapping the range, as STAC APIs answer
            p = it["properties"]
            t0, t1 = (pd.Timestamp((p["datetime"] or p[k]).replace("Z", "")) for k in ("start_datetime", "end_datetime"))
            b = it["bbox"]
            if (it["collection"] in cols and t0 <= end and start <= t1
                    and b[0] <= bbox[2] and bbox[0] <= b[2] and b[1] <= bbox[3] and bbox[1] <= b[3]):
                hits.append(it)
        token = int(q.get("token", 0))
        page = hits[token:token + PAGE_SIZE]
        links = []
        if token + PAGE_SIZE < len(hits):
            nxt = {**{k: v for k, v in q.items() if k != "token"}, "token": token + PAGE_SIZE}
            if method == "GET":
                query = "&".join(f"{k}={v}" for k, v in nxt.items())
                links.append({"rel": "next", "href": f"{self.url}/search?{query}", "method": "GET",
                              "type": "application/geo+json"})
            else:
                links.append({"rel": "next", "href": f"{self.url}/search", "method": "POST", "body": nxt,
                              "type": "application/geo+json"})
        return {"type": "FeatureCollection", "features": page, "links": links, "numberReturned": len(page)}

    def add_item(self, item_id, collection, date, assets: dict[str, str], year_range=False):
        """An item on the COG grid; ``year_range``: dated as ESA CCI LC items are (``datetime: null``,
        ``start_datetime``/``end_datetime`` spanning the year, ``raster:bands`` with data type and nodata)."""
        east, south = WEST + NX * RES, NORTH - NY * RES
        self.items.append({
            "type": "Feature", "stac_version": "1.0.0", "stac_extensions": [PROJ_EXT], "id": item_id,
            "collection": collection, "bbox": [WEST, south, east, NORTH],
            "geometry": {"type": "Polygon", "coordinates": [[[WEST, south], [east, south], [east, NORTH],
                                                              [WEST, NORTH], [WEST, south]]]},
            "properties": {"datetime": f"{date}T00:00:00Z", "proj:epsg": 4326, "proj:shape": [NY, NX],
                           "proj:transform": [RES, 0.0, WEST, 0.0, -RES, NORTH]},
            "assets": {k: {"href": f"{self.url}/files/{v}", "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                           "roles": ["data"]} for k, v in assets.items()},
            "links": [],
        })
        if year_range:
            year = date[:4]
            self.items[-1]["properties"].update({"datetime": None, "start_datetime": f"{year}-01-01T00:00:00Z",
                                                 "end_datetime": f"{year}-12-31T23:59:59Z"})
            self.items[-1]["stac_extensions"].append("https://stac-extensions.github.io/raster/v1.1.0/schema.json")
            for a in self.items[-1]["assets"].values():
                a["raster:bands"] = [{"spatial_resolution": 300, "sampling": "area", "data_type": "uint8", "nodata": 0}]


def write_cog(path, data, nodata):
    with rasterio.open(path, "w", driver="COG", height=NY, width=NX, count=1, dtype=data.dtype, crs="EPSG:4326",
                       transform=from_origin(WEST, NORTH, RES, RES), nodata=nodata) as dst:
        dst.write(data[None])


@pytest.fixture()
def stac(tmp_path):
    files = tmp_path / "served"
    files.mkdir()
    server = StacServer(files)
    yield server
    server.close()


def _modis_items(stac, rng):
    """Three Terra composites (2019 x 2, 2020 x 1) and one Aqua composite, NDVI + pixel reliability COGs."""
    truth = {}
    for item_id, date in (("MOD13Q1.A2019001.h28v08.061", "2019-01-01"), ("MOD13Q1.A2019017.h28v08.061", "2019-01-17"),
                          ("MOD13Q1.A2020001.h28v08.061", "2020-01-01"), ("MYD13Q1.A2019009.h28v08.061", "2019-01-09")):
        ndvi = rng.integers(1000, 8000, size=(NY, NX)).astype("int16")
        ndvi[:5, :5] = -3000
        rel = rng.choice(np.array([0, 1, 3], "int8"), size=(NY, NX), p=[0.6, 0.2, 0.2])
        write_cog(stac.root / f"{item_id}_ndvi.tif", ndvi, -3000)
        write_cog(stac.root / f"{item_id}_rel.tif", rel, -1)
        stac.add_item(item_id, "modis-13Q1-061", date, {"250m_16_days_NDVI": f"{item_id}_ndvi.tif",
                                                         "250m_16_days_pixel_reliability": f"{item_id}_rel.tif",
                                                         "250m_16_days_EVI": "never_downloaded.tif"})
        truth[date] = np.where((ndvi != -3000) & np.isin(rel, (0, 1)), ndvi / 10000.0, np.nan)
    return truth


def test_fetch_search_paging_download_cache_and_reuse(stac, tmp_path, monkeypatch):
    truth = _modis_items(stac, np.random.default_rng(3))
    cache = tmp_path / "cache"
    entry = fetch.fetch("mod13q1", "SGP", "2019-2020", cache, catalog=stac.url)
    assert entry == cache / "mod13q1" / "SGP_2019-2020.zarr" and entry.is_dir()
    assert stac.requests["/search"] >= 2  # 3 Terra + 1 Aqua items at 2 per page: the next links were followed
    assert stac.requests["/files/MYD13Q1.A2019009.h28v08.061_ndvi.tif"] == 0  # Aqua item dropped by its id prefix
    assert stac.requests["/files/never_downloaded.tif"] == 0  # EVI is not a layer the product reads from here
    assert [p.name for p in cache.rglob("*") if p.name.endswith(".tmp") or "-download-" in p.name] == []

    ndvi = products.open_product("mod13q1", entry, layer="ndvi", min_valid=1)  # 2 and 1 composites
    assert ndvi.time.dt.year.values.tolist() == [2019, 2020]
    # clipped to Singapore's bounding box, on the COGs' grid
    from dldd.regions.registry import Registry

    w, s, e, n = Registry.default().select(["SGP"])[0].geometry.bounds
    assert ndvi.x.min() >= w - RES and ndvi.x.max() <= e + RES and ndvi.y.min() >= s - RES and ndvi.y.max() <= n + RES
    assert ndvi.sizes["x"] < NX and ndvi.sizes["y"] < NY
    cols = np.round((ndvi.x.values - WEST) / RES - 0.5).astype(int)
    rows = np.round((NORTH - ndvi.y.values) / RES - 0.5).astype(int)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want2019 = np.nanmean(np.stack([truth["2019-01-01"], truth["2019-01-17"]]), axis=0)
    np.testing.assert_allclose(ndvi.sel(time="2019-01-01").values.squeeze(), want2019[np.ix_(rows, cols)], rtol=1e-6)
    np.testing.assert_allclose(ndvi.sel(time="2020-01-01").values.squeeze(), truth["2020-01-01"][np.ix_(rows, cols)], rtol=1e-6)

    before = sum(stac.requests.values())
    again = fetch.fetch("mod13q1", "SGP", "2019-2020", cache, catalog=stac.url)
    assert again == entry and sum(stac.requests.values()) == before  # the cache answered, no request made

    # a spec naming the product reads the cache entry (no request either)
    monkeypatch.setenv("DLDD_CACHE", str(cache))
    spec = parse_spec({"name": "t", "regions": ["SGP"], "inputs": {"ndvi": {"product": "mod13q1", "min_valid_composites": 1}},
                       "indicators": {"sdg_15_3_1": {}},
                       "periods": {"baseline": [2019, 2020],
                                   "reporting": {"r1": {"productivity": [2019, 2020], "land_cover": [2019, 2020]}}}},
                      base_dir=tmp_path)
    da = open_input(spec, "ndvi", chunks=32)
    np.testing.assert_allclose(da.values, ndvi.values)
    assert sum(stac.requests.values()) == before


def _lc_items(stac, broken: str):
    lc = np.full((NY, NX), 190, "uint8")
    write_cog(stac.root / "lc2015.tif", lc, 0)
    stac.add_item("C3S-LC-L4-LCCS-Map-300m-P1Y-2015", "esa-cci-lc", "2015-01-01", {"lccs_class": "lc2015.tif"})
    if broken == "missing":
        stac.add_item("C3S-LC-L4-LCCS-Map-300m-P1Y-2016", "esa-cci-lc", "2016-01-01", {"lccs_class": "gone.tif"})
    else:
        write_cog(stac.root / "lc2016.tif", lc, 0)
        data = (stac.root / "lc2016.tif").read_bytes()
        (stac.root / "lc2016.tif").write_bytes(data[: len(data) // 2])
        stac.add_item("C3S-LC-L4-LCCS-Map-300m-P1Y-2016", "esa-cci-lc", "2016-01-01", {"lccs_class": "lc2016.tif"})


@pytest.mark.parametrize("broken, message", [("missing", "HTTP 404"), ("truncated", "unreadable or truncated")])
def test_broken_asset_clear_error_and_no_cache_entry(stac, tmp_path, broken, message):
    _lc_items(stac, broken)
    aoi = tmp_path / "aoi.geojson"
    aoi.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
                   "geometry": {"type": "Polygon", "coordinates": [[[103.7, 1.2], [103.9, 1.2], [103.9, 1.4],
                                                                    [103.7, 1.4], [103.7, 1.2]]]}}]}))
    cache = tmp_path / "cache"
    with pytest.raises(InputError, match=rf"(?s)lccs_class.*C3S-LC-L4-LCCS-Map-300m-P1Y-2016.*{message}.*nothing was cached"):
        fetch.fetch("esa_cci_lc", aoi, "2015-2016", cache, catalog=stac.url)
    assert list((cache / "esa_cci_lc").iterdir()) == []  # no entry, no temporary folder
    kept = [p.name for p in (cache / fetch.DOWNLOADS_DIR).rglob("*") if p.is_file()]
    assert kept == ["c3s_lc_l4_lccs_map_300m_p1y_2015__lccs_class.tif"]  # the good download is kept for a re-run
    # the good year alone fetches, and the class layer keeps its codes and legend
    entry = fetch.fetch("esa_cci_lc", aoi, "2015", cache, catalog=stac.url)
    lc = products.open_product("esa_cci_lc", entry)
    assert lc.attrs["legend"] == "esa_cci" and int(lc.max()) == 190 and lc.sizes["time"] == 1
    assert lc.sizes["x"] == 20 and lc.sizes["y"] == 20


def test_offline_errors_say_what_is_missing_and_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "RETRY_BACKOFF_S", 0.0)  # connection errors are retried with backoff
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setitem(fetch.CATALOGS, "planetary-computer", f"http://127.0.0.1:{port}")
    with pytest.raises(InputError, match=r"(?s)lacks mod13q1 for SGP 2019-2020.*cannot be reached.*"
                                         r"dldd fetch --product mod13q1 --region SGP --years 2019-2020"):
        fetch.ensure_cached("mod13q1", ["SGP"], (2019, 2020), tmp_path / "cache", input_name="ndvi")
    with pytest.raises(InputError, match="network access is off"):
        fetch.ensure_cached("mod13q1", ["SGP"], (2019, 2020), tmp_path / "cache", allow_fetch=False)
    with pytest.raises(InputError, match="no public STAC catalogue.*chirps@"):
        fetch.fetch("chirps", "SGP", "2019", tmp_path / "cache")
    with pytest.raises(InputError, match="years: expected A-B"):
        fetch.parse_years("19-20")


def test_stream_mode_reads_cogs_by_range_requests(stac, tmp_path):
    _lc_items(stac, "truncated")
    cache = tmp_path / "cache"
    entry = fetch.fetch("esa-cci-lc", "SGP", "2015", cache, catalog=stac.url, stream=True)
    lc = products.open_product("esa_cci_lc", entry)
    assert int(lc.min()) == 190 and lc.attrs["_FillValue"] == 0
    with pytest.raises(InputError, match="nothing was cached"):
        fetch.fetch("esa-cci-lc", "SGP", "2016", cache, catalog=stac.url, stream=True)
    assert sorted(p.name for p in (cache / "esa_cci_lc").iterdir()) == ["SGP_2015-2015.zarr"]


# --------------------------------------------------------------------------------------------------
# real layouts: items as the Planetary Computer publishes them (stactools-packages/modis, esa-cci-lc):
# datetime null with start/end, the MODIS sinusoidal grid as proj:wkt2 with proj:epsg null, raster:bands
# with data_type and scale but no nodata, COGs without a nodata tag. Synthetic values.
# --------------------------------------------------------------------------------------------------

MODIS_SPHERE_WKT2 = pyproj.CRS.from_proj4(
    "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs").to_wkt(pyproj.enums.WktVersion.WKT2_2019)
CELL_250M = 231.65635826395825
RASTER_EXT = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
#: an AOI in Singapore, lon 103.70-103.90, lat 1.20-1.40
AOI = [[103.7, 1.2], [103.9, 1.2], [103.9, 1.4], [103.7, 1.4], [103.7, 1.2]]


def _aoi(tmp_path):
    aoi = tmp_path / "aoi.geojson"
    aoi.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [AOI]}}]}))
    return aoi


def _sinusoidal_tile():
    """A grid on the MODIS 250 m sinusoidal lattice covering the AOI's rows but only its western half."""
    to_sinu = pyproj.Transformer.from_crs("EPSG:4326", MODIS_SPHERE_WKT2, always_xy=True)
    xs, ys = to_sinu.transform([103.68, 103.8, 103.68, 103.8], [1.18, 1.18, 1.42, 1.42])
    west = np.floor(min(xs) / CELL_250M) * CELL_250M
    north = np.ceil(max(ys) / CELL_250M) * CELL_250M
    nx = int(np.ceil((max(xs) - west) / CELL_250M))
    ny = int(np.ceil((north - min(ys)) / CELL_250M))
    return west, north, nx, ny


def _write_sinu_cog(path, data, west, north):
    with rasterio.open(path, "w", driver="COG", height=data.shape[0], width=data.shape[1], count=1, dtype=data.dtype,
                       crs=rasterio.crs.CRS.from_wkt(MODIS_SPHERE_WKT2),
                       transform=from_origin(west, north, CELL_250M, CELL_250M)) as dst:  # no nodata tag
        dst.write(data[None])


def _add_pc_modis_item(stac, item_id, start, end, assets, grid):
    """A MOD13Q1 item in the Planetary Computer's layout (see the module comment)."""
    west, north, nx, ny = grid
    to_ll = pyproj.Transformer.from_crs(MODIS_SPHERE_WKT2, "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform([west, west + nx * CELL_250M], [north - ny * CELL_250M, north])
    ring = [[lon[0], lat[0]], [lon[1], lat[0]], [lon[1], lat[1]], [lon[0], lat[1]], [lon[0], lat[0]]]
    dtypes = {"250m_16_days_NDVI": ("int16", {"scale": 0.0001, "unit": "NDVI"}),
              "250m_16_days_pixel_reliability": ("int8", {"unit": "Rank"}),
              "250m_16_days_VI_Quality": ("uint16", {})}
    stac.items.append({
        "type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": "modis-13Q1-061",
        "stac_extensions": [PROJ_EXT, RASTER_EXT],
        "bbox": [lon[0], lat[0], lon[1], lat[1]], "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"datetime": None, "start_datetime": f"{start}T00:00:00Z", "end_datetime": f"{end}T23:59:59Z",
                       "platform": "terra", "proj:epsg": None, "proj:wkt2": MODIS_SPHERE_WKT2, "proj:shape": [ny, nx],
                       "proj:transform": [CELL_250M, 0.0, west, 0.0, -CELL_250M, north]},
        "assets": {k: {"href": f"{stac.url}/files/{v}", "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                       "roles": ["data"],
                       "raster:bands": [{"data_type": dtypes[k][0], "spatial_resolution": 250, **dtypes[k][1]}]}
                   for k, v in assets.items()},
        "links": [],
    })


def _pc_modis(stac, composites, rng):
    """MOD13Q1 composites (item id date, start, end) on the western-half tile; returns grid and NDVI by id."""
    grid = _sinusoidal_tile()
    ndvis = {}
    for doy, start, end in composites:
        item_id = f"MOD13Q1.A{doy}.h28v08.061"
        ndvi = rng.integers(1000, 8000, size=(grid[3], grid[2])).astype("int16")
        _write_sinu_cog(stac.root / f"{item_id}_ndvi.tif", ndvi, grid[0], grid[1])
        _write_sinu_cog(stac.root / f"{item_id}_rel.tif", np.zeros_like(ndvi, dtype="int8"), grid[0], grid[1])
        _add_pc_modis_item(stac, item_id, start, end, {"250m_16_days_NDVI": f"{item_id}_ndvi.tif",
                                                        "250m_16_days_pixel_reliability": f"{item_id}_rel.tif"}, grid)
        ndvis[item_id] = ndvi
    return grid, ndvis


@pytest.mark.parametrize("stream", [False, True])
def test_uncovered_pixels_are_missing_not_zero(stac, tmp_path, stream):
    """Items declaring no nodata, COGs without a nodata tag, covering half the AOI: odc-stac used to fill
    the other half with 0 = NDVI 0.0 with pixel reliability 0 ("good")."""
    grid, _ = _pc_modis(stac, [("2019001", "2019-01-01", "2019-01-16")], np.random.default_rng(5))
    cache = tmp_path / "cache"
    entry = fetch.fetch("mod13q1", _aoi(tmp_path), "2019", cache, catalog=stac.url, stream=stream)
    raw = xr.open_zarr(entry, consolidated=False)
    east = grid[0] + grid[2] * CELL_250M
    outside = raw.x.values > east
    assert outside.sum() > 10 and (~outside).sum() > 10  # the AOI reaches past the tile
    comp = products.open_product("mod13q1", entry, layer="ndvi_composites").isel(time=0).values
    assert np.isnan(comp[:, outside]).all() and np.isfinite(comp[:, ~outside]).all()
    ndvi_raw = raw["250m_16_days_NDVI"].isel(time=0).values
    assert (ndvi_raw[:, outside] == -3000).all() and (ndvi_raw[:, ~outside] >= 1000).all()
    assert (raw["250m_16_days_pixel_reliability"].isel(time=0).values[:, outside] == -1).all()
    assert raw["250m_16_days_NDVI"].attrs["nodata"] == -3000
    assert raw["250m_16_days_pixel_reliability"].attrs["nodata"] == -1
    record = json.loads(raw.attrs[fetch.COMPLETE_ATTR])
    assert record["nodata"] == {"250m_16_days_NDVI": -3000, "250m_16_days_pixel_reliability": -1}


def test_registry_nodata_of_every_asset():
    mod = products.get_product("mod13q1")
    assert products.asset_nodata(mod, "250m_16_days_EVI") == -3000
    assert products.asset_nodata(mod, "250m_16_days_VI_Quality") == 65535
    assert products.asset_nodata(products.get_product("esa_cci_lc"), "lccs_class") == 0
    assert products.asset_nodata(products.get_product("vnp13a1"), "500_m_16_days_NDVI") == -15000
    assert products.asset_nodata(mod, "250m_16_days_sun_zenith_angle") is None


def test_band_config_registry_fill_first_file_fill_kept_unknown_refused():
    mod = products.get_product("mod13q1")
    bands = fetch._band_config(mod, ["250m_16_days_NDVI", "250m_16_days_VI_Quality"],
                               {"250m_16_days_NDVI": {"data_type": "int16", "nodata": -32768}})
    assert bands["250m_16_days_NDVI"] == {"data_type": "int16", "nodata": -3000, "missing_value": -32768}
    assert bands["250m_16_days_VI_Quality"] == {"data_type": None, "nodata": 65535, "missing_value": None}
    assert fetch._band_config(mod, ["other"], {"other": {"data_type": "int16", "nodata": -1}})["other"]["nodata"] == -1
    with pytest.raises(InputError, match="'250m_16_days_sun_zenith_angle' declares no nodata.*read as 0"):
        fetch._band_config(mod, ["250m_16_days_sun_zenith_angle"], {})


def test_docs_state_the_years_of_every_product_and_source():
    text = (Path(__file__).resolve().parents[1] / "docs" / "sources.md").read_text()
    table = text.split("## Time coverage")[1].split("\n## ")[0]
    for p in products.PRODUCTS.values():
        row = next((line for line in table.splitlines() if line.startswith("|") and f"`{p.name}`" in line.split("|")[1]), None)
        assert row is not None, p.name
        for first, last in p.coverage.values():
            assert str(first) in row and (last is None or str(last) in row), (p.name, first, last)


def test_stray_previous_year_composite_left_out(stac, tmp_path):
    """The 16-day composite starting 19 December 2018 overlaps 2019 and comes back from the search."""
    composites = [("2018353", "2018-12-19", "2019-01-03"), ("2019001", "2019-01-01", "2019-01-16"),
                  ("2019017", "2019-01-17", "2019-02-01")]
    _, ndvis = _pc_modis(stac, composites, np.random.default_rng(6))
    entry = fetch.fetch("mod13q1", _aoi(tmp_path), "2019", tmp_path / "cache", catalog=stac.url)
    raw = xr.open_zarr(entry, consolidated=False)
    assert pd.DatetimeIndex(raw.time.values).year.tolist() == [2019, 2019]
    assert "MOD13Q1.A2018353.h28v08.061" not in json.loads(raw.attrs[fetch.COMPLETE_ATTR])["items"]
    assert stac.requests["/files/MOD13Q1.A2018353.h28v08.061_ndvi.tif"] == 0
    # two composites of 23 make no annual value by default (18 needed); on request they do
    annual = products.open_product("mod13q1", entry, layer="ndvi")
    assert annual.sizes["time"] == 1 and np.isnan(annual.values).all()
    two = products.open_product("mod13q1", entry, layer="ndvi", min_valid=2).isel(time=0).values
    assert np.isfinite(two).sum() > 10


def _lc_years(stac, years):
    lc = np.full((NY, NX), 190, "uint8")
    for y in years:
        write_cog(stac.root / f"lc{y}.tif", lc, None)
        stac.add_item(f"C3S-LC-L4-LCCS-Map-300m-P1Y-{y}", "esa-cci-lc", f"{y}-01-01", {"lccs_class": f"lc{y}.tif"},
                      year_range=True)


def test_cache_holds_only_years_found_and_refuses_missing(stac, tmp_path):
    _lc_years(stac, (2018, 2019))
    cache, aoi = tmp_path / "cache", _aoi(tmp_path)
    with pytest.raises(InputError, match=r"(?s)holds .* for 2018-2019 only; missing 2020-2023.*Climate Data Store"):
        fetch.fetch("esa_cci_lc", aoi, "2018-2023", cache, catalog=stac.url)
    assert not (cache / "esa_cci_lc").exists() or list((cache / "esa_cci_lc").iterdir()) == []
    entry = fetch.fetch("esa_cci_lc", aoi, "2018-2019", cache, catalog=stac.url)
    assert fetch.entry_years(entry) == {2018, 2019}
    key = entry.name.split("_")[0]
    assert fetch.find_cached(cache, products.get_product("esa_cci_lc"), key, (2019, 2019)) == entry
    # an entry whose name claims more years than it holds is not served for them
    import shutil

    liar = entry.with_name(f"{key}_2018-2023.zarr")
    shutil.copytree(entry, liar)
    shutil.rmtree(entry)
    assert fetch.find_cached(cache, products.get_product("esa_cci_lc"), key, (2018, 2023)) is None
    assert fetch.find_cached(cache, products.get_product("esa_cci_lc"), key, (2018, 2019)) == liar
    # an entry without the record of its years: its time axis says which it holds
    ds = xr.open_zarr(liar, consolidated=False).load()
    record = json.loads(ds.attrs[fetch.COMPLETE_ATTR])
    record.pop("years_found")
    ds.attrs[fetch.COMPLETE_ATTR] = json.dumps(record)
    ds.to_zarr(liar, mode="w", consolidated=False)
    assert fetch.entry_years(liar) == {2018, 2019}


def test_interrupted_fetch_resumes_without_downloading_finished_files(stac, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "RETRY_BACKOFF_S", 0.0)
    _lc_years(stac, (2015, 2016, 2017, 2018))
    stac.drop.add("lc2017.tif")  # the server hangs up halfway through this file, on every try
    cache, aoi = tmp_path / "cache", _aoi(tmp_path)
    with pytest.raises(InputError, match=r"(?s)lc2017|2017.*could not be downloaded.*run the same fetch again"):
        fetch.fetch("esa_cci_lc", aoi, "2015-2018", cache, catalog=stac.url)
    assert stac.requests["/files/lc2017.tif"] == fetch.HTTP_RETRIES + 1
    kept = sorted(p.name for p in (cache / fetch.DOWNLOADS_DIR).rglob("*") if p.is_file())
    whole = [n for n in kept if not n.endswith((fetch.PART_SUFFIX, fetch.PART_SUFFIX + ".json"))]
    assert len(whole) == 2 and all("2015" in n or "2016" in n for n in whole)
    assert all("2017" in n for n in kept if n not in whole)  # only 2017's received part is kept, to resume
    stac.drop.clear()
    entry = fetch.fetch("esa_cci_lc", aoi, "2015-2018", cache, catalog=stac.url)
    assert fetch.entry_years(entry) == {2015, 2016, 2017, 2018}
    assert [stac.requests[f"/files/lc{y}.tif"] for y in (2015, 2016, 2018)] == [1, 1, 1]
    assert not (cache / fetch.DOWNLOADS_DIR).exists()  # emptied once the entry is whole


def _fetch_cut_off(stac, tmp_path, monkeypatch):
    """A fetch of two years whose 2016 file the server cuts off halfway on every try; the part received."""
    monkeypatch.setattr(fetch, "RETRY_BACKOFF_S", 0.0)
    monkeypatch.setattr(fetch, "DOWNLOAD_CHUNK_BYTES", 256)  # so that every cut-off leaves bytes written
    _lc_years(stac, (2015, 2016))
    stac.drop.add("lc2016.tif")
    cache, aoi = tmp_path / "cache", _aoi(tmp_path)
    with pytest.raises(InputError, match="the part already received is kept"):
        fetch.fetch("esa_cci_lc", aoi, "2015-2016", cache, catalog=stac.url)
    parts = list((cache / fetch.DOWNLOADS_DIR).rglob("*" + fetch.PART_SUFFIX))
    assert len(parts) == 1 and "2016" in parts[0].name
    return cache, aoi, parts[0]


def test_cut_off_download_resumes_from_the_bytes_received(stac, tmp_path, monkeypatch):
    cache, aoi, part = _fetch_cut_off(stac, tmp_path, monkeypatch)
    size = (stac.root / "lc2016.tif").stat().st_size
    received = part.stat().st_size
    assert size // 2 < received < size  # each try resumed and added half of what was missing
    assert (stac.root / "lc2016.tif").read_bytes()[:received] == part.read_bytes()
    stac.drop.clear()
    stac.sent.clear()
    stac.ranges.clear()
    entry = fetch.fetch("esa_cci_lc", aoi, "2015-2016", cache, catalog=stac.url)
    assert fetch.entry_years(entry) == {2015, 2016}
    assert stac.ranges["lc2016.tif"] == [f"bytes={received}-"]
    assert stac.sent["lc2016.tif"] == size - received  # only the missing bytes were sent again
    assert stac.sent["lc2015.tif"] == 0  # the finished file was not downloaded again
    assert (xr.open_zarr(entry, consolidated=False)["lccs_class"] == 190).all()


def test_cut_off_download_of_a_file_changed_since_starts_again(stac, tmp_path, monkeypatch):
    cache, aoi, part = _fetch_cut_off(stac, tmp_path, monkeypatch)
    write_cog(stac.root / "lc2016.tif", np.full((NY, NX), 10, "uint8"), None)  # replaced on the server
    stac.drop.clear()
    stac.sent.clear()
    entry = fetch.fetch("esa_cci_lc", aoi, "2015-2016", cache, catalog=stac.url)
    assert stac.sent["lc2016.tif"] == (stac.root / "lc2016.tif").stat().st_size  # whole new file
    lc = xr.open_zarr(entry, consolidated=False)["lccs_class"]
    assert set(np.unique(lc.values)) == {10, 190}  # 2016 is the new file, not old bytes with a new tail


def test_cut_off_download_never_writes_through_a_link(stac, tmp_path, monkeypatch):
    """A link put where the part's record lies is replaced, not written through (the file it points to is
    left as it was)."""
    cache, aoi, part = _fetch_cut_off(stac, tmp_path, monkeypatch)
    victim = tmp_path / "victim.txt"
    victim.write_text("not dldd's")
    meta = part.with_name(part.name + ".json")
    meta.unlink()
    meta.symlink_to(victim)
    with pytest.raises(InputError):
        fetch.fetch("esa_cci_lc", aoi, "2015-2016", cache, catalog=stac.url)
    assert victim.read_text() == "not dldd's"
    assert not meta.is_symlink() and "validator" in meta.read_text()


def test_cut_off_download_without_validator_keeps_no_part(stac, tmp_path, monkeypatch):
    stac.validators = False
    monkeypatch.setattr(fetch, "RETRY_BACKOFF_S", 0.0)
    monkeypatch.setattr(fetch, "DOWNLOAD_CHUNK_BYTES", 256)
    _lc_years(stac, (2015, 2016))
    stac.drop.add("lc2016.tif")
    cache, aoi = tmp_path / "cache", _aoi(tmp_path)
    with pytest.raises(InputError):
        fetch.fetch("esa_cci_lc", aoi, "2015-2016", cache, catalog=stac.url)
    assert not list((cache / fetch.DOWNLOADS_DIR).rglob("*" + fetch.PART_SUFFIX + "*"))
    assert "lc2016.tif" not in stac.ranges  # nothing it could resume safely, so it never asked for a range


def test_retries_on_busy_server_and_resigns_after_403(stac, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "RETRY_BACKOFF_S", 0.0)
    _lc_years(stac, (2015, 2016))
    stac.fail = {"lc2015.tif": [503, 429], "lc2016.tif": [403]}
    signed = []

    def sign(href):
        signed.append(href)
        return f"{href}?sig={len(signed)}"

    monkeypatch.setattr(fetch, "_pc_signer", lambda url: sign)
    import planetary_computer.sas

    monkeypatch.setitem(planetary_computer.sas.TOKEN_CACHE, "https://example/token/c", "a cached token")
    entry = fetch.fetch("esa_cci_lc", _aoi(tmp_path), "2015-2016", tmp_path / "cache", catalog=stac.url)
    assert planetary_computer.sas.TOKEN_CACHE == {}  # the 403 made the next signature ask for a fresh token
    assert fetch.entry_years(entry) == {2015, 2016}
    assert stac.requests["/files/lc2015.tif"] == 3 and stac.requests["/files/lc2016.tif"] == 2
    assert sum("lc2016" in h for h in signed) == 2  # signed again after the 403


def test_planetary_computer_urls_are_signed_by_its_package():
    import planetary_computer

    assert fetch._pc_signer(fetch.CATALOGS["planetary-computer"]) is planetary_computer.sign
    assert fetch._pc_signer("http://127.0.0.1:1") is None


def test_a_corrupt_chunk_of_a_cache_entry_is_an_input_error_naming_the_input(stac, tmp_path):
    """A product read from a fetch cache (Zarr) whose chunk does not decode is refused as the input's error
    naming the store, the variable and the cells, as a ``path:`` Zarr input is; not an unexpected error."""
    _lc_years(stac, (2018, 2019))
    entry = fetch.fetch("esa_cci_lc", _aoi(tmp_path), "2018-2019", tmp_path / "cache", catalog=stac.url)
    with xr.open_zarr(entry, consolidated=False) as ds:
        [variable] = [v for v in ds.data_vars if ds[v].ndim == 3]
    chunks = sorted(p for p in (entry / variable / "c").rglob("*") if p.is_file())
    assert len(chunks) >= 2, chunks
    chunks[-1].write_bytes(b"not a compressed chunk")
    spec = parse_spec({"name": "t", "regions": ["SGP"], "inputs": {"land_cover": {"product": f"esa_cci_lc@{entry}"}},
                       "indicators": {"land_cover": {}},
                       "periods": {"baseline": [2018, 2019],
                                   "reporting": {"r1": {"productivity": [2018, 2019], "land_cover": [2018, 2019]}}}},
                      base_dir=tmp_path)
    lc = open_input(spec, "land_cover")
    assert int(lc.isel(time=0).max()) == 190  # the good chunks read
    with pytest.raises(InputError) as info:
        lc.values
    message = str(info.value)
    assert message.startswith("input 'land_cover'") and entry.name in message, message
    assert f"variable {variable!r}" in message and "cannot be read" in message, message
