"""Acquisition: search a public STAC API, download the assets, load them with odc-stac into a Zarr cache.

``dldd fetch --product NAME --region ISO3|AOI --years A-B --out CACHE`` (:func:`fetch_command`) writes
one cache entry ``CACHE/<product>/<region>_<A>-<B>.zarr`` holding the product's raw layers (STAC asset
keys as variable names, stored values and their ``nodata``) clipped to the region's bounding box, in the
product's native grid. The product readers (:func:`dldd.sources.products.open_product`) read an entry like
any other local file, so scale factors, fill values and quality masks are applied in one place.

- Search: pystac-client, all pages (``next`` links), collection and date range of the product, items
  intersecting the region's bounding box; items of another platform sharing the collection (Aqua
  ``MYD13Q1`` beside Terra ``MOD13Q1`` in ``modis-13Q1-061``) are dropped by their id prefix.
- Download: each needed asset is downloaded and checked (opened and every block read) before loading,
  so a missing (HTTP 404) or truncated asset stops the fetch with a message naming the item, the asset
  and the URL. Planetary Computer asset URLs are signed with its anonymous SAS token.
- Load: odc-stac (``groupby="solar_day"`` mosaics the tiles of one date) into the region's bounding box,
  then written as Zarr atomically (:func:`dldd.core.io.atomic_path`): a failed fetch leaves no entry.
- Reuse: an existing entry is returned without any network access.

Catalogues (``CATALOGS``) and the products they hold (``Product.stac``): only collections known to
exist are listed; other products need a local path (see docs/sources.md).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import typer

from dldd.core.io import atomic_path
from dldd.errors import InputError
from dldd.sources import formats
from dldd.sources.products import Product, get_product, parse_product

#: Public STAC APIs by name.
CATALOGS = {
    "planetary-computer": "https://planetarycomputer.microsoft.com/api/stac/v1",
    "earth-search": "https://earth-search.aws.element84.com/v1",
}
DEFAULT_CATALOG = "planetary-computer"
#: Planetary Computer anonymous SAS tokens, per collection (its data access documentation).
PC_TOKEN_URL = "https://planetarycomputer.microsoft.com/api/sas/v1/token/{collection}"
#: Seconds before a STAC request or an asset download is given up.
HTTP_TIMEOUT_S = 60
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
        import geopandas as gpd

        path = Path(str(region))
        try:
            gdf = gpd.read_file(path)
        except Exception as err:
            raise InputError(f"region: cannot read the AOI file {path} ({err})") from None
        if gdf.empty:
            raise InputError(f"region: the AOI file {path} has no features")
        if gdf.crs is not None:
            gdf = gdf.to_crs("EPSG:4326")
        geom = shapely.union_all(gdf.geometry.values)
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
    """A complete cache entry for the region covering the years, or None."""
    folder = cache_folder(out, product, layer)
    if not folder.is_dir():
        return None
    for entry in sorted(folder.glob(f"{region_key}_*.zarr")):
        m = re.fullmatch(rf"{re.escape(region_key)}_(\d{{4}})-(\d{{4}})\.zarr", entry.name)
        if m and int(m.group(1)) <= years[0] and int(m.group(2)) >= years[1] and _complete(entry):
            return entry
    return None


def _complete(entry: Path) -> bool:
    import xarray as xr

    try:
        with xr.open_zarr(entry, consolidated=(entry / ".zmetadata").exists()) as ds:
            return COMPLETE_ATTR in ds.attrs
    except Exception:
        return False


# --------------------------------------------------------------------------------------------------
# fetching
# --------------------------------------------------------------------------------------------------


def fetch(product: str, region, years, out, *, catalog: str | None = None, collection: str | None = None,
          assets: list[str] | None = None, session=None, stream: bool = False) -> Path:
    """Fetch a product for a region and years into the cache folder ``out``; return the entry's path.

    ``catalog``: a name in :data:`CATALOGS` or a STAC API URL (default: the product's own catalogue);
    ``collection``/``assets`` override the product's collection and asset keys (for other catalogues).
    An existing complete entry is returned at once, with no network access. ``stream``: read the COGs
    over HTTP range requests (GDAL) instead of downloading them whole first; lighter for a small region
    in large tiles, but a broken asset is then reported by odc-stac's loader rather than checked first.
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
                         f"{region_key} in {span[0]}-{span[1]}")
    keys = assets or _asset_keys(prod, prod.layer(layer) if layer else prod.layers[0], items)
    import requests

    session = session or requests.Session()
    signer = _pc_signer(collection, session) if urlparse(url).hostname == urlparse(CATALOGS["planetary-computer"]).hostname else None
    Path(out).mkdir(parents=True, exist_ok=True)
    downloads = Path(tempfile.mkdtemp(prefix=f".{prod.name}-download-", dir=Path(out)))
    try:
        with atomic_path(entry, is_dir=True) as tmp:
            if stream:
                cfg = {}
                for it in items:
                    for key in keys:
                        if signer is not None and key in it.assets:
                            it.assets[key].href = signer(it.assets[key].href)
            else:
                cfg = _download_all(items, keys, downloads, session, signer)
            ds = _load(items, keys, geom.bounds, cfg, prod)
            ds.attrs.update({
                COMPLETE_ATTR: json.dumps({"product": prod.name, "catalog": url, "collection": collection,
                                           "region": region_key, "years": list(span), "assets": keys,
                                           "items": [it.id for it in items]}),
            })
            try:
                ds.to_zarr(tmp, mode="w", consolidated=False)
            except Exception as err:  # a streamed asset failing mid-read
                raise InputError(f"fetch {prod.name}: reading the assets failed ({type(err).__name__}: {err}); "
                                 "nothing was cached") from None
    finally:
        shutil.rmtree(downloads, ignore_errors=True)
    return entry


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

    try:
        client = pystac_client.Client.open(url, timeout=HTTP_TIMEOUT_S)
        result = client.search(collections=[collection], bbox=list(bbox),
                               datetime=f"{years[0]}-01-01T00:00:00Z/{years[1]}-12-31T23:59:59Z")
        items = list(result.items())
    except (requests.exceptions.RequestException, pystac_client.exceptions.APIError, OSError) as err:
        raise OfflineError(f"cannot search the STAC API {url} ({type(err).__name__}: {err})") from None
    return [it for it in items if it.id.startswith(prefix)]


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


def _pc_signer(collection: str, session):
    token = {}

    def sign(href: str) -> str:
        if ".blob.core.windows.net" not in href:
            return href
        if "token" not in token:
            r = session.get(PC_TOKEN_URL.format(collection=collection), timeout=HTTP_TIMEOUT_S)
            r.raise_for_status()
            token["token"] = r.json()["token"]
        return f"{href}{'&' if '?' in href else '?'}{token['token']}"

    return sign


def _download_all(items, keys, folder: Path, session, signer) -> dict:
    """Download every asset, check it, point the item at the local copy; return odc-stac band config."""
    import rasterio

    cfg: dict[str, dict] = {}
    for it in items:
        for key in keys:
            if key not in it.assets:
                raise InputError(f"fetch: item {it.id!r} has no asset {key!r} (it has {sorted(it.assets)})")
            asset = it.assets[key]
            href = asset.get_absolute_href() or asset.href
            target = folder / f"{formats.normalize(it.id)}__{formats.normalize(key)}{Path(urlparse(href).path).suffix or '.tif'}"
            _download(href if signer is None else signer(href), target, session, it.id, key)
            try:
                with rasterio.open(target) as src:
                    for _, window in src.block_windows(1):
                        src.read(1, window=window)
                    info = {"data_type": src.dtypes[0], "nodata": src.nodata}
            except Exception as err:
                raise InputError(f"fetch: asset {key!r} of item {it.id!r} ({href}) is unreadable or truncated "
                                 f"({err}); nothing was cached - try again later or report it to the catalogue") from None
            cfg.setdefault(key, info)
            asset.href = str(target.resolve())
    return cfg


def _download(href: str, target: Path, session, item_id: str, key: str) -> None:
    import requests

    if not re.match(r"https?://", href):
        src = Path(href.removeprefix("file://"))
        if not src.exists():
            raise InputError(f"fetch: asset {key!r} of item {item_id!r} not found at {href}")
        shutil.copyfile(src, target)
        return
    try:
        with session.get(href, stream=True, timeout=HTTP_TIMEOUT_S) as r:
            if r.status_code != 200:
                raise InputError(f"fetch: asset {key!r} of item {item_id!r} could not be downloaded from "
                                 f"{href.split('?')[0]}: HTTP {r.status_code}; nothing was cached")
            expected = r.headers.get("Content-Length")
            size = 0
            with open(target, "wb") as fh:
                for chunk in r.iter_content(1 << 20):
                    fh.write(chunk)
                    size += len(chunk)
    except requests.exceptions.RequestException as err:
        raise OfflineError(f"fetch: asset {key!r} of item {item_id!r} could not be downloaded from "
                           f"{href.split('?')[0]} ({type(err).__name__}: {err}); nothing was cached") from None
    if expected is not None and int(expected) != size:
        raise InputError(f"fetch: asset {key!r} of item {item_id!r} arrived truncated ({size} of {expected} bytes) "
                         f"from {href.split('?')[0]}; nothing was cached")


def _load(items, keys, bbox, cfg, prod: Product):
    import odc.stac

    stac_cfg = {"*": {"assets": {k: {"data_type": v["data_type"], "nodata": v["nodata"]} for k, v in cfg.items()}}}
    try:
        ds = odc.stac.load(items, bands=keys, bbox=list(bbox), groupby="solar_day", chunks={},
                           stac_cfg=stac_cfg if cfg else None, fail_on_error=True)
    except Exception as err:
        raise InputError(f"fetch {prod.name}: odc-stac could not load the assets ({type(err).__name__}: {err}); "
                         "nothing was cached") from None
    for k in keys:
        if k in cfg and cfg[k]["nodata"] is not None:
            ds[k].attrs["nodata"] = cfg[k]["nodata"]
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
