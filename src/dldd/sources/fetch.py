"""Acquisition: search a public STAC API, download the assets, load them with odc-stac into a Zarr cache.

``dldd fetch --product NAME --region ISO3|AOI --years A-B --out CACHE`` (:func:`fetch_command`) writes
one cache entry ``CACHE/<product>/<region>_<A>-<B>.zarr`` holding the product's raw layers (STAC asset
keys as variable names, stored values and their ``nodata``) clipped to the region's bounding box, in the
product's native grid. The product readers (:func:`dldd.sources.products.open_product`) read an entry like
any other local file, so scale factors, fill values and quality masks are applied in one place.

- Search: pystac-client, all pages (``next`` links), collection and date range of the product, items
  intersecting the region's bounding box; items of another platform sharing the collection (Aqua
  ``MYD13Q1`` beside Terra ``MOD13Q1`` in ``modis-13Q1-061``) are dropped by their id prefix, and items
  whose nominal date (``datetime``, else ``start_datetime``) falls outside the years are dropped (the
  search returns items overlapping the range, such as the composite starting 19 December before).
- Years: a catalogue lacking some requested years is refused, naming them and where to get them
  (``Product.coverage``, ``Product.more_years``); the entry records the years it holds.
- Download: each needed asset is downloaded (retries with backoff on 403/429/5xx and dropped
  connections; Planetary Computer URLs signed by the ``planetary-computer`` package, which renews its
  SAS tokens) into ``CACHE/.downloads/<product>/<entry>/`` and checked (every block read); a missing (HTTP 404)
  or truncated asset stops the fetch with a message naming the item, the asset and the URL. Completed
  downloads are kept, so the same fetch run again resumes; a progress bar (items and bytes) shows on a
  terminal.
- Load: odc-stac (``groupby="solar_day"`` mosaics the tiles of one date) into the region's bounding box,
  with the product's own fill as each asset's nodata (:func:`_band_config`: never 0 where no item covers
  the box), then written as Zarr atomically (:func:`dldd.core.io.atomic_path`): a failed fetch leaves no
  entry; each variable carries its ``nodata``.
- Reuse: an existing entry holding every requested year is returned without any network access.

Catalogues (``CATALOGS``) and the products they hold (``Product.stac``): only collections known to
exist are listed; other products need a local path (see docs/sources.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import typer

from dldd.core.io import atomic_path, write_text
from dldd.errors import InputError
from dldd.sources import formats
from dldd.sources.products import Product, asset_nodata, get_product, parse_product

#: Public STAC APIs by name.
CATALOGS = {
    "planetary-computer": "https://planetarycomputer.microsoft.com/api/stac/v1",
    "earth-search": "https://earth-search.aws.element84.com/v1",
}
DEFAULT_CATALOG = "planetary-computer"
#: Seconds before a STAC request or an asset download is given up.
HTTP_TIMEOUT_S = 60
#: Retries of a failed request (connection error, dropped transfer, HTTP 403 and RETRY_STATUS), waiting
#: RETRY_BACKOFF_S x 2^n seconds between them.
HTTP_RETRIES = 5
RETRY_BACKOFF_S = 2.0
RETRY_STATUS = (429, 500, 502, 503, 504)
#: Folder of the cache holding the downloads of unfinished fetches (``<product>/<entry>``), kept so that
#: the same fetch run again resumes; emptied when the entry is written.
DOWNLOADS_DIR = ".downloads"
#: Suffix of an asset being downloaded (kept when a transfer is cut off, so the next fetch resumes it).
PART_SUFFIX = ".dldd.part"
#: Bytes written at a time while downloading.
DOWNLOAD_CHUNK_BYTES = 1 << 20
#: Region keys longer than this become "<n>regions-<hash>" in cache entry names.
MAX_REGION_KEY = 40
#: Name of the attribute marking a complete cache entry.
COMPLETE_ATTR = "dldd_fetch"


# --------------------------------------------------------------------------------------------------
# regions and years
# --------------------------------------------------------------------------------------------------


def parse_years(years) -> tuple[int, int]:
    """``"2001-2020"``, ``"2019"``, ``(2001, 2020)`` -> (2001, 2020)."""
    if isinstance(years, (tuple, list)) and len(years) == 2:
        a, b = int(years[0]), int(years[1])
    else:
        m = re.fullmatch(r"\s*(\d{4})\s*(?:[-:/]\s*(\d{4}))?\s*", str(years))
        if not m:
            raise InputError(f"years: expected A-B (e.g. 2001-2020) or one year, got {years!r}")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
    if b < a:
        raise InputError(f"years: the range {a}-{b} is reversed")
    return a, b


def resolve_region(region) -> tuple[str, object]:
    """(cache key, shapely geometry in lon/lat) of ISO3 codes / region names (a list, or one string with
    ``+`` or ``,`` between names) or of an AOI file (GeoJSON, GeoPackage, shapefile)."""
    import shapely

    if isinstance(region, (str, Path)) and Path(str(region)).suffix and Path(str(region)).exists():
        from dldd.regions.polygons import read_polygon

        path = Path(str(region))
        geom = read_polygon(path, "region (AOI file)")
        digest = hashlib.sha1(path.read_bytes()).hexdigest()[:8]
        return f"{formats.normalize(path.stem)}-{digest}", geom
    from dldd.regions.registry import Registry

    names = [n for n in re.split(r"[+,]", region) if n.strip()] if isinstance(region, str) else list(region)
    if not names:
        raise InputError("region: no region given (ISO3 codes, region names or an AOI file)")
    regions = Registry.default().select(names)
    geom = shapely.union_all([r.geometry for r in regions])
    key = "+".join(sorted(r.id for r in regions))
    if len(key) > MAX_REGION_KEY:
        key = f"{len(regions)}regions-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
    return key, geom


def cache_folder(out, product: Product, layer: str | None = None) -> Path:
    """``out/<product>`` for the product's first (default) layer, ``out/<product>-<layer>`` for others."""
    lay = product.layer(layer) if layer else product.layers[0]
    default = product.layers[0]
    same = lay.names == default.names
    return Path(out) / (product.name if same else f"{product.name}-{formats.normalize(lay.names[0])}")


def cache_entry(out, product: Product, region_key: str, years: tuple[int, int], layer: str | None = None) -> Path:
    return cache_folder(out, product, layer) / f"{region_key}_{years[0]}-{years[1]}.zarr"


def find_cached(out, product: Product, region_key: str, years: tuple[int, int], layer: str | None = None) -> Path | None:
    """A complete cache entry for the region holding every one of the years, or None. The years an entry
    holds are read from the entry (recorded ``years_found``, else its time axis), never from its name."""
    folder = cache_folder(out, product, layer)
    if not folder.is_dir():
        return None
    wanted = set(range(years[0], years[1] + 1))
    for entry in sorted(folder.glob(f"{region_key}_*.zarr")):
        if re.fullmatch(rf"{re.escape(region_key)}_(\d{{4}})-(\d{{4}})\.zarr", entry.name) and wanted <= entry_years(entry):
            return entry
    return None


def entry_years(entry: Path) -> set[int]:
    """The years a complete cache entry holds (empty for an incomplete or unreadable one)."""
    try:
        with formats.open_zarr_store(entry) as ds:
            if COMPLETE_ATTR not in ds.attrs:
                return set()
            record = json.loads(ds.attrs[COMPLETE_ATTR])
            if "years_found" in record:
                return {int(y) for y in record["years_found"]}
            return set(ds["time"].dt.year.values.tolist()) if "time" in ds.coords else set()
    except Exception:
        return set()


# --------------------------------------------------------------------------------------------------
# fetching
# --------------------------------------------------------------------------------------------------


def fetch(product: str, region, years, out, *, catalog: str | None = None, collection: str | None = None,
          assets: list[str] | None = None, session=None, stream: bool = False) -> Path:
    """Fetch a product for a region and years into the cache folder ``out``; return the entry's path.

    ``catalog``: a name in :data:`CATALOGS` or a STAC API URL (default: the product's own catalogue);
    ``collection``/``assets`` override the product's collection and asset keys (for other catalogues).
    An existing complete entry holding every year is returned at once, with no network access. A
    catalogue lacking some of the years is refused, naming them and where to get them. ``stream``: read
    the COGs over HTTP range requests (GDAL) instead of downloading them whole first; lighter for a small
    region in large tiles, but a broken asset is then reported by odc-stac's loader rather than checked
    first. Downloads of a failed fetch are kept, so the same call again resumes.
    """
    prod, layer, _ = parse_product(product)
    region_key, geom = resolve_region(region)
    span = parse_years(years)
    if out is None:
        raise InputError("fetch: no cache folder; give --out CACHE (or set DLDD_CACHE)")
    cached = find_cached(out, prod, region_key, span, layer)
    if cached is not None:
        return cached
    url, collection, prefix = _catalog_for(prod, catalog, collection)
    entry = cache_entry(out, prod, region_key, span, layer)
    items = search(url, collection, geom.bounds, span, prefix)
    if not items:
        raise InputError(f"fetch {prod.name}: the catalogue {url} has no {collection!r} items for region "
                         f"{region_key} in {span[0]}-{span[1]}. {_where_else(prod)}")
    found = sorted({nominal_date(it).year for it in items})
    missing = [y for y in range(span[0], span[1] + 1) if y not in found]
    if missing:
        raise InputError(
            f"fetch {prod.name}: the catalogue {url} collection {collection!r} holds {region_key} for "
            f"{_year_ranges(found)} only; missing {_year_ranges(missing)}. Fetch the years it holds with "
            f"--years {found[0]}-{found[-1]}. {_where_else(prod)}")
    keys = assets or _asset_keys(prod, prod.layer(layer) if layer else prod.layers[0], items)
    session = session or http_session()
    signer = _pc_signer(url)
    Path(out).mkdir(parents=True, exist_ok=True)
    downloads = Path(out) / DOWNLOADS_DIR / entry.parent.name / entry.stem
    with atomic_path(entry, is_dir=True) as tmp:
        if stream:
            info = {k: _asset_header(it.assets[k].href if signer is None else signer(it.assets[k].href), it.id, k)
                    for k in keys for it in items[:1] if k in it.assets}
            done = []
        else:
            info, done = _download_all(items, keys, downloads, session, signer)
        bands = _band_config(prod, keys, info)
        ds = _load(items, keys, geom.bounds, bands, prod, signer if stream else None)
        ds.attrs.update({
            COMPLETE_ATTR: json.dumps({"product": prod.name, "catalog": url, "collection": collection,
                                       "region": region_key, "years": list(span), "years_found": found,
                                       "assets": keys, "nodata": {k: b["nodata"] for k, b in bands.items()},
                                       "items": [it.id for it in items]}),
        })
        try:
            ds.to_zarr(tmp, mode="w", consolidated=False)
        except Exception as err:  # a streamed asset failing mid-read
            raise InputError(f"fetch {prod.name}: reading the assets failed ({type(err).__name__}: {err}); "
                             "nothing was cached") from None
    for f in done:  # the entry is whole: the downloads it was made from are no longer needed
        f.unlink(missing_ok=True)
    for folder in (downloads, downloads.parent, downloads.parent.parent):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return entry


def nominal_date(item):
    """An item's nominal date: ``datetime``, else ``start_datetime`` (MODIS and ESA CCI LC items on the
    Planetary Computer have ``datetime: null`` and a start/end range), as a naive UTC timestamp."""
    import pandas as pd

    when = item.datetime or item.common_metadata.start_datetime
    if when is None:
        raise InputError(f"fetch: item {item.id!r} has neither datetime nor start_datetime")
    return pd.Timestamp(when).tz_convert(None) if pd.Timestamp(when).tzinfo else pd.Timestamp(when)


def _year_ranges(years) -> str:
    """[2018, 2019, 2021] -> "2018-2019, 2021"."""
    runs: list[list[int]] = []
    for y in sorted(years):
        if runs and y == runs[-1][-1] + 1:
            runs[-1].append(y)
        else:
            runs.append([y])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def _where_else(prod: Product) -> str:
    """Where the years a catalogue lacks can be found (for the refusal of a fetch)."""
    text = f"Other years: {prod.more_years}. " if prod.more_years else ""
    cover = "; ".join(f"{src} {a}-{b or 'present'}" for src, (a, b) in prod.coverage.items())
    return text + (f"{prod.name} time coverage: {cover} (docs/sources.md)." if cover else "See docs/sources.md.")


def _catalog_for(prod: Product, catalog, collection):
    if catalog is None:
        if not prod.stac:
            raise InputError(
                f"product {prod.name!r} is in no public STAC catalogue dldd knows ({prod.note or 'local files only'}); "
                f"give a local path (product: {prod.name}@/path/to/files), or --catalog URL --collection ID")
        catalog = next(iter(prod.stac))
    url = CATALOGS.get(catalog, catalog)
    if not re.match(r"https?://", url):
        raise InputError(f"catalog: expected one of {sorted(CATALOGS)} or an http(s) URL, got {catalog!r}")
    known = prod.stac.get(catalog) or next((v for k, v in prod.stac.items() if CATALOGS.get(k) == url), None)
    if known is None and catalog not in CATALOGS and prod.stac:
        known = next(iter(prod.stac.values()))  # a URL of its own: a mirror holding the same collection
    if collection is None:
        if known is None:
            raise InputError(f"product {prod.name!r}: no collection known in {url}; give --collection ID")
        return url, known[0], known[1]
    return url, collection, known[1] if known else ""


def search(url: str, collection: str, bbox, years: tuple[int, int], prefix: str = ""):
    """All items of ``collection`` intersecting ``bbox`` in the years (every page followed)."""
    import pystac_client
    import requests
    from pystac_client.stac_api_io import StacApiIO

    try:
        client = pystac_client.Client.open(url, stac_io=StacApiIO(max_retries=http_retry(), timeout=HTTP_TIMEOUT_S))
        result = client.search(collections=[collection], bbox=list(bbox),
                               datetime=f"{years[0]}-01-01T00:00:00Z/{years[1]}-12-31T23:59:59Z")
        items = list(result.items())
    except (requests.exceptions.RequestException, pystac_client.exceptions.APIError, OSError) as err:
        raise OfflineError(f"cannot search the STAC API {url} ({type(err).__name__}: {err})") from None
    # STAC search returns items *overlapping* the range (the composite starting 19 December of the year
    # before); keep those whose nominal date falls in the years
    return [it for it in items if it.id.startswith(prefix) and years[0] <= nominal_date(it).year <= years[1]]


class OfflineError(InputError):
    """A STAC API or an asset could not be reached."""


def _asset_keys(prod: Product, lay, items) -> list[str]:
    """Asset keys of the items matching the layer and the product's quality layers (normalised names)."""
    wanted = {formats.normalize(n) for n in lay.names}
    wanted |= {formats.normalize(n) for names in prod.qa_layers.values() for n in names}
    keys = sorted({k for it in items for k in it.assets if formats.normalize(k) in wanted})
    if not keys:
        raise InputError(f"fetch {prod.name}: the items' assets {sorted(items[0].assets)} match none of the "
                         f"product's layers {sorted(wanted)}")
    return keys


def http_retry():
    """Retries of connection errors and HTTP 429/500/502/503/504 with exponential backoff (urllib3
    ``Retry``: ``RETRY_BACKOFF_S`` x 2^n seconds, ``Retry-After`` honoured), ``HTTP_RETRIES`` times."""
    from urllib3.util.retry import Retry

    return Retry(total=HTTP_RETRIES, connect=HTTP_RETRIES, read=HTTP_RETRIES, status=HTTP_RETRIES,
                 backoff_factor=RETRY_BACKOFF_S, status_forcelist=RETRY_STATUS, allowed_methods=("GET", "HEAD", "POST"),
                 respect_retry_after_header=True, raise_on_status=False)


def http_session():
    """A requests session with :func:`http_retry` on every request."""
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(max_retries=http_retry())
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _pc_signer(url: str):
    """The Planetary Computer's signing (``planetary_computer.sign``: SAS tokens per storage container,
    renewed before they expire) for its own catalogue; None for other catalogues."""
    if urlparse(url).hostname != urlparse(CATALOGS["planetary-computer"]).hostname:
        return None
    import planetary_computer

    return planetary_computer.sign


def _forget_pc_tokens() -> None:
    """Drop the Planetary Computer tokens ``planetary_computer.sign`` caches (it renews one only within 60 s
    of its expiry), so that the next signature after an HTTP 403 asks for a fresh token."""
    sas = sys.modules.get("planetary_computer.sas")
    if sas is not None:
        sas.TOKEN_CACHE.clear()


def _asset_header(href: str, item_id: str, key: str) -> dict:
    """Data type and declared nodata of an asset, from its header (a range request for a remote COG)."""
    import rasterio

    try:
        with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", GDAL_HTTP_TIMEOUT=str(HTTP_TIMEOUT_S)), \
                rasterio.open(href) as src:
            return {"data_type": src.dtypes[0], "nodata": src.nodata}
    except Exception as err:
        raise InputError(f"fetch: asset {key!r} of item {item_id!r} ({href.split('?')[0]}) cannot be opened ({err}); "
                         "nothing was cached") from None


def _download_all(items, keys, folder: Path, session, signer) -> tuple[dict, list[Path]]:
    """Download every asset into ``folder`` (kept across runs: a file already there from an earlier,
    interrupted fetch is not downloaded again), check it (every block read), point the item at the local
    copy. Returns the assets' data type and declared nodata by key, and the files."""
    import rasterio
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn

    folder.mkdir(parents=True, exist_ok=True)
    info: dict[str, dict] = {}
    files: list[Path] = []
    todo = [(it, key) for it in items for key in keys]
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), DownloadColumn(),
                        console=Console(stderr=True), disable=not sys.stderr.isatty(), transient=True)
    with progress:
        task = progress.add_task("download", total=len(todo))
        for it, key in todo:
            if key not in it.assets:
                raise InputError(f"fetch: item {it.id!r} has no asset {key!r} (it has {sorted(it.assets)})")
            asset = it.assets[key]
            href = asset.get_absolute_href() or asset.href
            target = folder / f"{formats.normalize(it.id)}__{formats.normalize(key)}{Path(urlparse(href).path).suffix or '.tif'}"
            if not target.exists():
                _download(href, target, session, signer, it.id, key, folder, progress)
            try:
                with rasterio.open(target) as src:
                    for _, window in src.block_windows(1):
                        src.read(1, window=window)
                    meta = {"data_type": src.dtypes[0], "nodata": src.nodata}
            except Exception as err:
                target.unlink(missing_ok=True)
                raise InputError(f"fetch: asset {key!r} of item {it.id!r} ({href}) is unreadable or truncated "
                                 f"({err}); nothing was cached - try again later or report it to the catalogue") from None
            info.setdefault(key, meta)
            asset.href = str(target.resolve())
            files.append(target)
            progress.update(task, description=f"download {len(files)}/{len(todo)}", advance=1)
    return info, files


def _download(href: str, target: Path, session, signer, item_id: str, key: str, folder: Path, progress) -> None:
    """One asset to ``target``, written as ``target`` + :data:`PART_SUFFIX` and renamed when whole.

    A transfer cut off (here or in an earlier fetch) resumes where it stopped: the request asks for the
    missing bytes (``Range``) on condition that the file is still the one begun (``If-Range`` with the
    strong ``ETag`` or the ``Last-Modified`` date the server gave, kept beside the partial file); a server
    that answers with the whole file (changed file, no range support) is downloaded again from the start,
    and a server that gives no validator is never resumed. HTTP 403 (an expired SAS token) and a connection
    dropped mid-transfer are retried with a fresh signature, ``HTTP_RETRIES`` times with exponential
    backoff; 429/5xx are retried by the session."""
    import requests

    if not re.match(r"https?://", href):
        src = Path(href.removeprefix("file://"))
        if not src.exists():
            raise InputError(f"fetch: asset {key!r} of item {item_id!r} not found at {href}")
        shutil.copyfile(src, target)
        return
    part = target.with_name(target.name + PART_SUFFIX)
    kept = f"; the completed downloads are kept in {folder}: run the same fetch again to resume"
    bytes_task = progress.add_task(f"{item_id} {key}", total=None)
    try:
        for attempt in range(HTTP_RETRIES + 1):
            if attempt:
                time.sleep(RETRY_BACKOFF_S * 2 ** (attempt - 1))
            offset, validator = _partial_download(part)
            headers = {"Range": f"bytes={offset}-", "If-Range": validator} if validator else {}
            try:
                with session.get(href if signer is None else signer(href), stream=True, timeout=HTTP_TIMEOUT_S,
                                 headers=headers) as r:
                    if r.status_code == 403 and attempt < HTTP_RETRIES:
                        _forget_pc_tokens()
                        continue
                    resumed = r.status_code == 206 and validator is not None and _range_start(r) == offset
                    if r.status_code == 206 and not resumed and attempt < HTTP_RETRIES:
                        _discard_partial(part)  # not the range asked for: start again
                        continue
                    if r.status_code not in (200, 206) or (r.status_code == 206 and not resumed):
                        _discard_partial(part)
                        raise InputError(f"fetch: asset {key!r} of item {item_id!r} could not be downloaded from "
                                         f"{href.split('?')[0]}: HTTP {r.status_code}; nothing was cached{kept}")
                    if not resumed:  # the whole file, from the start
                        _discard_partial(part)
                        offset = 0
                        # replaced whole, never written through a link left in its place
                        write_text(_partial_meta(part), json.dumps({"validator": _strong_validator(r.headers)}))
                    expected = _total_length(r, offset)
                    size = offset
                    progress.update(bytes_task, total=expected, completed=size)
                    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if resumed else os.O_TRUNC),
                                 0o644)
                    with os.fdopen(fd, "wb") as fh:
                        for chunk in r.iter_content(DOWNLOAD_CHUNK_BYTES):
                            fh.write(chunk)
                            size += len(chunk)
                            progress.update(bytes_task, completed=size)
            except requests.exceptions.RequestException as err:
                if attempt < HTTP_RETRIES:
                    continue
                raise OfflineError(f"fetch: asset {key!r} of item {item_id!r} could not be downloaded from "
                                   f"{href.split('?')[0]} ({type(err).__name__}: {err}); nothing was cached{kept}"
                                   "; the part already received is kept and the next fetch asks only for the rest"
                                   ) from None
            if expected is not None and expected != size:
                if attempt < HTTP_RETRIES:
                    continue
                raise InputError(f"fetch: asset {key!r} of item {item_id!r} arrived truncated ({size} of {expected} "
                                 f"bytes) from {href.split('?')[0]}; nothing was cached{kept}")
            os.replace(part, target)
            _partial_meta(part).unlink(missing_ok=True)
            return
    finally:
        progress.remove_task(bytes_task)
        if part.exists() and _partial_download(part)[1] is None:  # nothing to resume from: leave nothing behind
            _discard_partial(part)


def _partial_meta(part: Path) -> Path:
    """The JSON beside a partial download recording the server's validator of the file begun."""
    return part.with_name(part.name + ".json")


def _partial_download(part: Path) -> tuple[int, str | None]:
    """Bytes already received in ``part`` and the validator to resume them with (None: start again)."""
    try:
        validator = json.loads(_partial_meta(part).read_text()).get("validator")
        size = part.lstat().st_size if part.is_file() and not part.is_symlink() else 0
    except (OSError, ValueError, AttributeError):
        return 0, None
    return (size, validator) if size and isinstance(validator, str) else (0, None)


def _discard_partial(part: Path) -> None:
    part.unlink(missing_ok=True)
    _partial_meta(part).unlink(missing_ok=True)


def _strong_validator(headers) -> str | None:
    """What ``If-Range`` may carry (RFC 9110 13.1.5): a strong ETag, else the Last-Modified date."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified")


def _range_start(response) -> int | None:
    """First byte of a 206 answer, from ``Content-Range: bytes a-b/n``."""
    m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
    return int(m.group(1)) if m else None


def _total_length(response, offset: int) -> int | None:
    """Size of the whole file: ``Content-Range``'s total for a 206, ``Content-Length`` for a 200."""
    if response.status_code == 206:
        m = re.match(r"bytes \d+-\d+/(\d+)", response.headers.get("Content-Range", ""))
        return int(m.group(1)) if m else None
    length = response.headers.get("Content-Length")
    return int(length) if length else None


def _band_config(prod: Product, keys, info: dict) -> dict[str, dict]:
    """odc-stac band configuration of each asset: its data type and the product's own fill as nodata.

    The registry's fill comes first: Planetary Computer items declare no nodata in ``raster:bands`` and
    a COG may carry no nodata tag, and odc-stac would then fill the parts of the bounding box no item
    covers with 0, which reads as NDVI 0.0 with pixel reliability 0 ("good"). An asset whose file declares
    another nodata keeps it as ``missing_value`` (both are fill). An asset neither knows is refused."""
    bands = {}
    for k in keys:
        meta = info.get(k, {})
        nodata = asset_nodata(prod, k)
        declared = meta.get("nodata")
        if nodata is None and declared is None:
            raise InputError(f"fetch {prod.name}: asset {k!r} declares no nodata and the product registry knows "
                             "none, so pixels no item covers would read as 0; fetch only the product's layers")
        bands[k] = {"data_type": meta.get("data_type"), "nodata": declared if nodata is None else nodata,
                    "missing_value": declared if nodata is not None and declared is not None and declared != nodata else None}
    return bands


def _load(items, keys, bbox, bands, prod: Product, patch_url=None):
    import odc.stac

    cfg = {k: {"nodata": b["nodata"], **({"data_type": b["data_type"]} if b["data_type"] else {})} for k, b in bands.items()}
    try:
        ds = odc.stac.load(items, bands=keys, bbox=list(bbox), groupby="solar_day", chunks={},
                           stac_cfg={"*": {"assets": cfg}}, fail_on_error=True, patch_url=patch_url)
    except Exception as err:
        raise InputError(f"fetch {prod.name}: odc-stac could not load the assets ({type(err).__name__}: {err}); "
                         "nothing was cached") from None
    for k in keys:
        ds[k].attrs["nodata"] = bands[k]["nodata"]
        if bands[k]["missing_value"] is not None:
            ds[k].attrs["missing_value"] = bands[k]["missing_value"]
    return ds


# --------------------------------------------------------------------------------------------------
# the cache, as seen by open_input
# --------------------------------------------------------------------------------------------------


def fetch_hint(product: str, regions, years, cache) -> str:
    region = "+".join(regions) if not isinstance(regions, str) else regions
    return (f"`dldd fetch --product {product} --region {region} --years {years[0]}-{years[1]} "
            f"--out {cache or 'CACHE'}` (and set DLDD_CACHE={cache or 'CACHE'})")


def ensure_cached(product: str, regions, years, cache, *, layer: str | None = None, input_name: str = "input",
                  allow_fetch: bool = True) -> Path:
    """The cache entry of ``product`` (``layer``) for ``regions`` and ``years``: found, or fetched when allowed."""
    prod = get_product(product)
    spec_name = prod.name if layer is None else f"{prod.name}:{layer}"
    span = parse_years(years)
    if not prod.stac:
        raise InputError(
            f"input {input_name!r}: product {prod.name!r} needs a location ({prod.note or 'local files'}): write "
            f"`product: {prod.name}@PATH` with PATH a file, folder or glob of its files")
    if not cache:
        raise InputError(
            f"input {input_name!r}: product {prod.name!r} is not cached: no cache folder is set (DLDD_CACHE). "
            f"Fetch it with {fetch_hint(spec_name, regions, span, None)}, or give a local path "
            f"(`product: {prod.name}@PATH`)")
    region_key, _ = resolve_region(regions)
    hit = find_cached(cache, prod, region_key, span, layer)
    if hit is not None:
        return hit
    if not allow_fetch:
        raise InputError(
            f"input {input_name!r}: the cache {cache} lacks {prod.name} for {region_key} {span[0]}-{span[1]} and "
            f"network access is off (DLDD_OFFLINE). Fetch it when online with {fetch_hint(spec_name, regions, span, cache)}")
    try:
        return fetch(spec_name, regions, span, cache)
    except OfflineError as err:
        raise InputError(
            f"input {input_name!r}: the cache {cache} lacks {prod.name} for {region_key} {span[0]}-{span[1]} and "
            f"the catalogue cannot be reached ({err}). Fetch it when online with "
            f"{fetch_hint(spec_name, regions, span, cache)}, or give a local path (`product: {prod.name}@PATH`)") from None


# --------------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------------


def fetch_command(product: str, region: str, years: str, out: str, catalog: str | None = None,
                  collection: str | None = None, stream: bool = False) -> Path:
    """``dldd fetch``: fetch ``product`` for ``region`` (ISO3 codes joined by ``+``, or an AOI file) and
    ``years`` (``A-B``) into the cache folder ``out``; print and return the cache entry."""
    entry = fetch(product, region, years, out, catalog=catalog, collection=collection, stream=stream)
    print(f"{product}: {entry}")
    return entry


def fetch_cli(
    product: str = typer.Option(..., "--product", help="product name (see docs/sources.md)"),
    region: str = typer.Option(..., "--region", help="ISO3 code(s) joined by '+', or an AOI file"),
    years: str = typer.Option(..., "--years", help="A-B, e.g. 2001-2023"),
    out: str = typer.Option(..., "--out", help="cache folder (use the same as DLDD_CACHE)"),
    catalog: str = typer.Option(None, "--catalog", help="catalogue name or STAC API URL"),
    collection: str = typer.Option(None, "--collection", help="collection id (other catalogues)"),
    stream: bool = typer.Option(False, "--stream", help="read COGs by HTTP range requests, no whole download"),
) -> None:
    """Fetch a product from a public STAC catalogue into a local Zarr cache clipped to the region."""
    try:
        fetch_command(product, region, years, out, catalog, collection, stream)
    except InputError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
