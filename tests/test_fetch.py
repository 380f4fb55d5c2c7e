"""Acquisition end to end against a STAC API served on 127.0.0.1 by the test itself: search with paging,
asset download of small COGs, loading into a Zarr cache clipped to the region, cache reuse without any
request, broken assets (HTTP 404, truncated file) giving a clear error and no cache entry, offline errors.
No test touches the internet."""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest
import rasterio
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
                body = f.read_bytes()
                rng = self.headers.get("Range")
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
                self.send_header("Content-Type", "image/tiff")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)
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
        for it in self.items:
            t = pd.Timestamp(it["properties"]["datetime"].replace("Z", ""))
            b = it["bbox"]
            if (it["collection"] in cols and start <= t <= end
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

    def add_item(self, item_id, collection, date, assets: dict[str, str]):
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

    ndvi = products.open_product("mod13q1", entry, layer="ndvi")
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
    spec = parse_spec({"name": "t", "regions": ["SGP"], "inputs": {"ndvi": {"product": "mod13q1"}},
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
    assert [p for p in cache.iterdir() if p.name != "esa_cci_lc"] == []  # downloads removed
    # the good year alone fetches, and the class layer keeps its codes and legend
    entry = fetch.fetch("esa_cci_lc", aoi, "2015", cache, catalog=stac.url)
    lc = products.open_product("esa_cci_lc", entry)
    assert lc.attrs["legend"] == "esa_cci" and int(lc.max()) == 190 and lc.sizes["time"] == 1
    assert lc.sizes["x"] == 20 and lc.sizes["y"] == 20


def test_offline_errors_say_what_is_missing_and_how_to_fetch(tmp_path, monkeypatch):
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
