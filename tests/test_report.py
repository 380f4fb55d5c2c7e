"""The science report: pages, the country table against the run's CSV tables, escaping of user names,
the Chinese report against the English one, the PDF (rendered by poppler) and the site in Chromium.

System tools needed (Debian): chromium (Playwright drives it), poppler-utils (pdftoppm, pdftotext),
fonts-wqy-microhei (Chinese glyphs); weasyprint needs libpango (pulled in by chromium's dependencies).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from dldd.demo.scenes import write_scene
from dldd.pipeline import run_assessment
from dldd.report import build_report, build_reports, region_slug
from dldd.report.messages import I18N_DIR, missing_keys
from dldd.report.numbers import format_value, round_value
from dldd.spec import load_spec

#: A small piece of the regional demo scene: three Central Asian countries at 0.5 degrees.
N_REGIONS = 3
SCENE = dict(res=0.5, climate_res=1.0, extent=(66.0, 37.0, 75.0, 43.0), regions=["Uzbekistan", "Tajikistan", "Kyrgyzstan"],
             indicators={"aridity": {}, "land_cover": {}, "sdg_15_3_1": {}, "drought": {}})
EVIL = "<script>alert(1)</script>"


# --- fixtures ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("report_run")
    run_assessment(load_spec(write_scene("regional", folder, **SCENE)), folder)
    return folder


@pytest.fixture(scope="module")
def both(run_dir) -> dict[str, Path]:
    """The English and Chinese reports (site and PDF) of one build (tests/test_report_languages.py: the
    same pages as a build of each)."""
    paths = build_reports(run_dir, ["en", "zh"], out_dirs={"zh": run_dir / "report_zh"})
    return {lang: p.parent for lang, p in paths.items()}


@pytest.fixture(scope="module")
def en(both) -> Path:
    return both["en"]


@pytest.fixture(scope="module")
def zh(both) -> Path:
    return both["zh"]


@pytest.fixture(scope="module")
def evil_report(run_dir, tmp_path_factory) -> Path:
    """A copy of the run whose first region (id and name, in the summary and the tables) is a script tag."""
    folder = tmp_path_factory.mktemp("evil")
    shutil.copytree(run_dir, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("report*"))
    summary = json.loads((folder / "summary.json").read_text())
    old = summary["regions"][0]["id"]
    summary["regions"] = [dict(summary["regions"][0], id=EVIL, name=EVIL)]
    (folder / "summary.json").write_text(json.dumps(summary))
    for f in (folder / "tables").glob("*.csv"):
        t = pd.read_csv(f, keep_default_na=False, na_values=[""], dtype={"region": str, "name": str})
        if "region" in t:
            t = t[t["region"] == old].assign(region=EVIL, name=EVIL)
            t.to_csv(f, index=False)
    return build_report(folder, pdf=False).parent


# --- helpers -------------------------------------------------------------------------------------------------------
class _Tables(HTMLParser):
    """Tables of a page as lists of rows of cell texts, with each table's id and class."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell, self._row = [], None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append({"id": a.get("id"), "class": a.get("class", ""), "rows": []})
        elif tag == "tr" and self.tables:
            self._row = []
            self.tables[-1]["rows"].append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(path: Path) -> list[dict]:
    p = _Tables()
    p.feed(path.read_text(encoding="utf-8"))
    return p.tables


def country_table(path: Path) -> pd.DataFrame:
    t = next(t for t in tables(path) if t["id"] == "country-table")
    return pd.DataFrame(t["rows"][1:], columns=t["rows"][0])


def number(cell: str) -> float | None:
    cell = cell.replace(",", "").replace("\u00a0", "").strip()
    return None if cell in ("", "–") else float(cell)


class _Text(HTMLParser):
    """Visible body text, leaving out user data (translate="no"), code and citations."""

    SKIP = {"code", "pre", "cite", "script", "style", "title", "head"}

    def __init__(self):
        super().__init__()
        self.stack, self.parts = [], []

    def handle_starttag(self, tag, attrs):
        if tag in ("br", "img", "meta", "link"):
            return
        skip = tag in self.SKIP or dict(attrs).get("translate") == "no" or (self.stack and self.stack[-1])
        self.stack.append(bool(skip))

    def handle_endtag(self, tag):
        if tag not in ("br", "img", "meta", "link") and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not (self.stack and self.stack[-1]):
            self.parts.append(data)


def body_text(path: Path) -> str:
    p = _Text()
    p.feed(path.read_text(encoding="utf-8"))
    return " ".join(" ".join(p.parts).split())


def pages(report: Path, run_dir: Path) -> list[Path]:
    summary = json.loads((run_dir / "summary.json").read_text())
    return [report / "index.html"] + [report / f"region-{region_slug(r['id'])}.html" for r in summary["regions"]]


def csv(run_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(run_dir / "tables" / f"{name}.csv", keep_default_na=False, na_values=[""],
                       dtype={"region": str})


def latest(t: pd.DataFrame, col: str) -> pd.DataFrame:
    return t[t[col] == t[col].iloc[-1]]


# --- tests ---------------------------------------------------------------------------------------------------------
def test_every_page_and_linked_file_exists(run_dir, en):
    summary = json.loads((run_dir / "summary.json").read_text())
    assert len(summary["regions"]) == N_REGIONS
    for page in pages(en, run_dir):
        assert page.is_file(), page
        html = page.read_text(encoding="utf-8")
        for ref in re.findall(r'(?:src|href)="([^"#]+)"', html):
            assert not re.match(r"[a-z]+:", ref), f"{page.name} links outside the report: {ref}"
            assert (en / ref).is_file(), f"{page.name}: missing {ref}"
        assert "synthetic-banner" in html and "Synthetic demonstration data" in html
    assert (en / "assets" / "report.css").is_file()
    assert (en / "report.pdf").stat().st_size > 10_000
    index = (en / "index.html").read_text(encoding="utf-8")
    for csv_link in ("tables/country_table.csv", "tables/subregions.csv"):  # tables link to their CSV
        assert f'href="{csv_link}"' in index, csv_link
    shown = pd.read_csv(en / "tables" / "country_table.csv", dtype={"region": str})
    assert sorted(shown["region"]) == sorted(r["id"] for r in summary["regions"])


def test_sections_follow_the_tables(run_dir, en):
    html = (en / "index.html").read_text(encoding="utf-8")
    for section in ("summary", "maps", "charts", "methods", "data", "limitations", "profiles"):
        assert f'id="{section}"' in html
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for f in manifest["inputs"]["precipitation"]:
        assert f["sha256"] in html  # checksums from the manifest


def test_missing_tables_leave_their_sections_out(run_dir, en, tmp_path):
    shutil.copytree(run_dir, tmp_path / "run", ignore=shutil.ignore_patterns("report*"))
    for f in (tmp_path / "run" / "tables").glob("*.csv"):
        if not f.stem.startswith("so3"):
            f.unlink()
    (tmp_path / "run" / "maps").rename(tmp_path / "run" / "maps_gone")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    (tmp_path / "run" / "summary.json").write_text(json.dumps({**summary, "synthetic": False}))  # as a real run
    index = build_report(tmp_path / "run", pdf=False)
    html = index.read_text(encoding="utf-8")
    synthetic_limit = "This run used synthetic demonstration data"  # a limitation only when it applies
    assert synthetic_limit not in html and synthetic_limit in (en / "index.html").read_text()
    assert 'id="trends"' not in html and "Hotspots" not in html  # no SDG tables: no chapter
    assert "drought (moderate or worse)" in html and "Most severe drought class of the land in" in html
    assert "Drylands" not in html and "degraded land cover" not in html.lower()
    assert 'id="maps"' not in html
    header = list(country_table(index).columns)
    assert not any("Drylands" in h for h in header) and any("Drought" in h for h in header)


def test_interventions_and_practices_come_from_their_tables(run_dir, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(run_dir, folder, ignore=shutil.ignore_patterns("report*", "maps"))
    for f in (folder / "tables").glob("*.csv"):
        if f.stem != "so3_1_hazard_blocks":
            f.unlink()
    name = "Belt <b>A</b> $x^{2$"  # markup and broken matplotlib mathtext
    pd.DataFrame({"name": [name], "type": ["shelterbelt"], "outcome": ["ndvi"], "units": ["1"], "start_year": [2016],
                  "effect": [0.08504], "ci_low": [0.06913], "ci_high": [0.11207], "effect_relative_pct": [21.0455],
                  "pre_mean_treated": [0.404], "n_post_years": [2], "break_year": [2019], "break_p_value": [0.41],
                  "break_significant": [False], "placebo_start_year": [2013], "placebo_effect": [0.004],
                  "placebo_ci_low": [-0.011], "placebo_ci_high": [0.019],
                  "confidence": [0.95], "n_treated": [9], "n_controls": [12],
                  "roles_map": ["effectiveness/belt-roles.tif"]}).to_csv(
        folder / "tables" / "effectiveness_summary.csv", index=False)
    _write_roles(folder / "effectiveness" / "belt-roles.tif", json.loads((folder / "summary.json").read_text()))
    pd.DataFrame({"intervention": [name], "variable": ["ndvi_pre_mean"], "mean_treated_before": [0.3],
                  "mean_control_before": [0.4], "smd_before": [-0.52], "mean_treated_after": [0.3],
                  "mean_control_after": [0.31], "smd_after": [-0.04], "balanced_after": [True]}).to_csv(
        folder / "tables" / "effectiveness_balance.csv", index=False)
    rel = np.arange(-6, 4)
    pd.DataFrame({"intervention": name, "year": 2016 + rel, "rel_year": rel, "effect": np.where(rel >= 0, 0.08, 0.0),
                  "ci_low": np.where(rel >= 0, 0.05, -0.03), "ci_high": np.where(rel >= 0, 0.11, 0.03)}).to_csv(
        folder / "tables" / "effectiveness_event_study.csv", index=False)
    region = json.loads((folder / "summary.json").read_text())["regions"][0]
    pd.DataFrame({"region": [region["id"]] * 2, "rank": [1, 2], "practice": ["straw_checkerboard", "enclosure"],
                  "name": ["Straw checkerboard", "Grazing enclosure"], "category": ["mechanical sand barrier", "grazing and land management"],
                  "score": [0.875, 0.5], "reasons": ["fit: aridity class arid is documented", "unknown: slope"],
                  "reason_parts": [json.dumps([{"verdict": "fit", "parts": [["ordinal_among", {
                      "condition": "aridity_class", "value": "arid", "docs": ["arid", "semi-arid"]}]]}]),
                      json.dumps([{"verdict": "unknown", "parts": [["unknown", {"condition": "slope_percent"}]]}])]}).to_csv(
        folder / "tables" / "practices_matches.csv", index=False)
    steps = []
    index = build_report(folder, pdf=False, progress=steps.append, workers=1)
    assert steps[0] == "reading the run" and steps[-1] == "done"  # progress messages, one per step
    assert any(re.fullmatch(r"figures \d+/\d+", x) for x in steps)
    html = index.read_text(encoding="utf-8")
    assert 'id="effectiveness"' in html and 'id="practices"' in html and 'href="practices.html"' in html
    appendix = (index.parent / "practices.html").read_text(encoding="utf-8")  # the full reasons: site appendix only
    assert "Straw checkerboard" in appendix and "fit: aridity class arid is documented" in appendix
    page = index.parent / f"intervention-{region_slug(name)}.html"
    text = page.read_text(encoding="utf-8")
    for expected in ("+0.085 [+0.069, +0.112]", "+21.0\u00a0%", "2016", "95.0\u00a0%", "Belt &lt;b&gt;A&lt;/b&gt; $x^{2$"):
        assert expected in text, expected
    assert "<b>A" not in text
    # one plain sentence with the uncertainty; caveats; balance; placebo; no break year without significance
    assert "rose by +0.085 more inside the intervention than on matched control land (95 % confidence interval +0.069 to +0.112)" in text
    assert "Only 2 years after the start were observed" in text and "no significant break" in text
    assert "2019" not in text and "Effect per year" not in text
    assert "start moved to 2013: +0.004 [-0.011, +0.019]" in text
    bal = next(t for t in tables(page) if "balance-table" in t["class"])
    assert bal["rows"][1] == ["ndvi_pre_mean", "-0.520", "-0.040", "yes"]
    imgs = re.findall(r'<img src="([^"]+)"', text)
    assert len(imgs) == 2 and all((index.parent / i).is_file() for i in imgs)
    # the map of the design: treated cells and matched controls in the role colours, with its caption
    from dldd.report.chapters import role_legend

    assert "Treated area and matched controls" in text and "9 treated cells, 12 control cells" in text
    rgb = np.asarray(Image.open(index.parent / imgs[0]).convert("RGB")).reshape(-1, 3).astype(int)
    for c in role_legend().classes[:4]:
        target = np.array([int(c.color[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(rgb - target).sum(axis=1) < 30).sum() > 50, c.name
    profile = (index.parent / f"region-{region_slug(region['id'])}.html").read_text(encoding="utf-8")
    assert "0.88" in profile  # score rounded to 2 decimals
    assert "1 conditions fit, 0 fit partly, 0 do not fit, 0 not known. Best fit: aridity class arid is documented" in profile
    zh_index = build_report(folder, "zh", out_dir=folder / "report_zh", pdf=False)
    zh_page = (zh_index.parent / page.name).read_text(encoding="utf-8")
    assert "防护林带" in zh_page and "+0.085 [+0.069, +0.112]" in zh_page
    zh_profile = (zh_index.parent / f"region-{region_slug(region['id'])}.html").read_text(encoding="utf-8")
    assert "机械沙障" in zh_profile and "fit: aridity" not in zh_profile  # English reasons stay out of the zh report
    assert "草方格沙障" in zh_profile and "Straw checkerboard" not in zh_profile  # the catalogue's Chinese name
    assert "1 项条件符合" in zh_profile and "最佳匹配: 干燥度类别为干旱" in zh_profile  # the one line, in Chinese
    # the full reasons in Chinese in the site's appendix; no English message on the Chinese pages
    zh_appendix = (zh_index.parent / "practices.html").read_text(encoding="utf-8")
    assert "符合：干燥度类别为干旱，在记录的类别（干旱、半干旱）之内" in zh_appendix and "未知：坡度未给出" in zh_appendix
    assert "fit: aridity" not in zh_appendix and "Straw checkerboard" not in zh_appendix
    assert "处理区与匹配对照" in zh_page  # the map of the design, in Chinese
    for p in (zh_index.parent / "practices.html", zh_index.parent / page.name):
        assert_no_english(p, english_fragments())


def test_country_table_equals_the_csv_tables(run_dir, en):
    summary = json.loads((run_dir / "summary.json").read_text())
    by_name = {r["name"]: r for r in summary["regions"]}
    table = country_table(en / "index.html")
    assert sorted(table.iloc[:, 1]) == sorted(by_name)
    hz = latest(csv(run_dir, "so3_1_hazard_blocks"), "block")
    zones = latest(csv(run_dir, "aridity_zone_areas"), "period")
    lc = latest(csv(run_dir, "so1_1_land_cover_degradation"), "period")
    expo = latest(csv(run_dir, "so3_2_exposure"), "block")
    shift = csv(run_dir, "aridity_shift_areas")
    expected = {
        "Drought-affected land": lambda i: (hz[(hz.region == i) & (hz.code >= 2)].share_pct.sum(), "pct"),  # moderate+
        "Drylands area": lambda i: (zones[(zones.region == i) & zones.code.isin([1, 2, 3, 4])].area_km2.sum(), "area_km2"),
        "Degraded land cover": lambda i: (lc[(lc.region == i) & (lc.code == -1)].share_of_land_pct.sum(), "pct"),
        "People in drought-affected land": lambda i: (expo[(expo.region == i) & (expo.code >= 2)].population.sum(), "population"),
        "Land that became drier": lambda i: (shift[(shift.region == i) & (shift.code == -1)].share_pct.sum(), "pct"),
    }
    if (run_dir / "tables" / "sdg_15_3_1_summary.csv").is_file():
        sdg = csv(run_dir, "sdg_15_3_1_summary")
        first, last = sdg.period.iloc[0], sdg.period.iloc[-1]

        def pct(i, p):
            r = sdg[(sdg.region == i) & (sdg.period == p)].iloc[0]
            # one number: the table's degraded / land area, which summary.json repeats
            assert summary["sdg_15_3_1"]["headline"][str(i)][p]["degraded_share_of_land_pct"] == pytest.approx(
                r.degraded_share_of_land_pct, rel=1e-9)
            return r.degraded_share_of_land_pct

        expected["Degraded land (SDG 15.3.1)"] = lambda i: (pct(i, last), "pct")
        expected["Change since baseline"] = lambda i: (pct(i, last) - pct(i, first), "pp")
    checked = 0
    for label, fn in expected.items():
        cols = [c for c in table.columns if c.startswith(label)]
        assert len(cols) == 1, (label, list(table.columns))
        for _, row in table.iterrows():
            value, kind = fn(by_name[row.iloc[1]]["id"])
            assert number(row[cols[0]]) == pytest.approx(round_value(value, kind), abs=1e-9), (label, row.iloc[1])
            checked += 1
    assert checked >= 5 * N_REGIONS
    area_col = next(c for c in table.columns if c.startswith("Area"))
    for _, row in table.iterrows():
        assert number(row[area_col]) == round_value(by_name[row.iloc[1]]["area_km2"], "area_km2")
    # ranked by the first ranking metric, highest first
    rank_col = next(c for c in table.columns if c.startswith(("Degraded land (SDG", "Degraded land cover")))
    vals = [number(v) for v in table[rank_col]]
    assert vals == sorted(vals, reverse=True)
    assert [int(r) for r in table.iloc[:, 0]] == list(range(1, len(table) + 1))


def test_numbers_are_formatted_one_way():
    assert format_value(1234.5678, "area_km2", unit="km²") == "1,235\u00a0km²"
    assert format_value(3.14159, "area_km2") == "3.1"
    assert format_value(12.345, "pct", unit="%") == "12.3\u00a0%"
    assert format_value(-0.04, "pct") == "0.0"
    assert format_value(0.25, "pp", signed=True) == "+0.2"  # round half to even, as Python's round
    assert format_value(float("nan"), "pct") == "–"
    assert round_value(2_017_769.4, "population") == 2_017_769


def test_catalogues_fall_back_to_english_and_name_unknown_languages(monkeypatch, tmp_path):
    from dldd.errors import InputError
    from dldd.report import messages

    shutil.copyfile(I18N_DIR / "en.yaml", tmp_path / "en.yaml")
    (tmp_path / "fr.yaml").write_text('section:\n  maps: "Cartes"\n', encoding="utf-8")
    monkeypatch.setattr(messages, "I18N_DIR", tmp_path)
    messages._load.cache_clear()
    try:
        fr = messages.Catalogue("fr")
        assert fr.plain("section.maps") == "Cartes"
        assert fr.plain("section.charts") == "Charts"  # not translated: English
        assert "section.charts" in messages.missing_keys("fr")
        with pytest.raises(InputError, match="xx"):
            messages.Catalogue("xx")
        assert str(fr.t("intro", version="1", name="<i>x</i>", n=1, area="2 km²")).count("&lt;i&gt;x&lt;/i&gt;") == 1
    finally:
        messages._load.cache_clear()


def test_region_slugs_are_file_safe_and_distinct():
    assert region_slug("KAZ") == "KAZ"
    names = ["a/b", "a b", "a:b", "../../etc", "Côte d'Ivoire", EVIL]
    slugs = [region_slug(n) for n in names]
    assert len(set(slugs)) == len(slugs)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", s) for s in slugs)


def test_user_names_are_escaped(evil_report):
    index = (evil_report / "index.html").read_text(encoding="utf-8")
    page = evil_report / f"region-{region_slug(EVIL)}.html"
    assert re.fullmatch(r"region-script-alert-1-script-[0-9a-f]{8}\.html", page.name)
    for html in (index, page.read_text(encoding="utf-8")):
        assert EVIL not in html and "<script" not in html.lower()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert EVIL in body_text_with_user_data(evil_report / "index.html")


def body_text_with_user_data(path: Path) -> str:
    p = HTMLParser()
    parts = []
    p.handle_data = parts.append
    p.feed(path.read_text(encoding="utf-8"))
    return "".join(parts)


def test_chinese_report_has_the_same_numbers(run_dir, en, zh):
    t_en, t_zh = country_table(en / "index.html"), country_table(zh / "index.html")
    assert t_en.shape == t_zh.shape
    numeric_en = t_en.drop(columns=t_en.columns[[1, 2]]).map(number).to_numpy(dtype=float)
    numeric_zh = t_zh.drop(columns=t_zh.columns[[1, 2]]).map(number).to_numpy(dtype=float)
    assert np.isfinite(numeric_en).sum() >= 8 * N_REGIONS
    np.testing.assert_array_equal(numeric_en, numeric_zh)
    zh_names = {"Tajikistan": "塔吉克斯坦", "Uzbekistan": "乌兹别克斯坦", "Kyrgyzstan": "吉尔吉斯坦"}
    assert [zh_names[n] for n in t_en.iloc[:, 1]] == list(t_zh.iloc[:, 1])  # same ranking, names in Chinese
    for p_en, p_zh in zip(pages(en, run_dir), pages(zh, run_dir)):
        cells_en = [[number(c) for c in r if re.fullmatch(r"[-+]?[\d,]+(\.\d+)?", c)] for t in tables(p_en) if "class-table" in t["class"] for r in t["rows"]]
        cells_zh = [[number(c) for c in r if re.fullmatch(r"[-+]?[\d,]+(\.\d+)?", c)] for t in tables(p_zh) if "class-table" in t["class"] for r in t["rows"]]
        assert cells_en == cells_zh, p_en.name
        assert len(re.findall("<img ", p_en.read_text())) == len(re.findall("<img ", p_zh.read_text()))
    assert sorted(f.name for f in (en / "figures").glob("*.png")) == sorted(f.name for f in (zh / "figures").glob("*.png"))


def english_fragments() -> set[str]:
    """Pieces (6 characters or more) of the English catalogue's messages that the Chinese one does not
    hold: none may appear on a page of the Chinese site."""
    en_msgs = yaml.safe_load((I18N_DIR / "en.yaml").read_text(encoding="utf-8"))
    zh_msgs = yaml.safe_load((I18N_DIR / "zh.yaml").read_text(encoding="utf-8"))

    def flat(d, pre=""):
        if isinstance(d, dict):
            for k, v in d.items():
                yield from flat(v, f"{pre}{k}.")
        elif isinstance(d, list):
            for i, v in enumerate(d):
                yield from flat(v, f"{pre}{i}.")
        else:
            yield pre[:-1], str(d)

    zh_flat = dict(flat(zh_msgs))
    zh_all = "\n".join(zh_flat.values())
    fragments = set()
    for key, msg in flat(en_msgs):
        if zh_flat.get(key) == msg or key.startswith("meta."):
            continue
        for frag in re.split(r"\{[^}]*\}", msg):
            frag = frag.strip(" .,:;()“”")
            if len(frag) >= 6 and frag not in zh_all:  # names such as "SDG 15.3.1" stay as they are
                fragments.add(frag)
    assert len(fragments) > 50
    return fragments


def assert_no_english(page: Path, fragments: set[str]) -> None:
    """No English message of the catalogue and no run of four English words in the page's text outside
    user data, code and citations."""
    text = body_text(page)
    left = [f for f in fragments if f in text]
    assert not left, f"{page.name}: English text left: {left[:5]}"
    assert not re.search(r"\b[A-Za-z]{2,}(?:\s+[A-Za-z]{2,}){3}\b", text), re.search(
        r"\b[A-Za-z]{2,}(?:\s+[A-Za-z]{2,}){3}\b", text)


def test_chinese_report_has_no_english_sentence_left(run_dir, zh):
    assert missing_keys("zh") == []
    fragments = english_fragments()
    for page in pages(zh, run_dir):
        assert "合成演示数据" in body_text(page)
        assert_no_english(page, fragments)


def test_pdf_renders_and_has_the_sections_of_the_site(en, zh, tmp_path):
    for rep in (en, zh):
        pdf = rep / "report.pdf"
        assert shutil.which("pdftoppm"), "pdftoppm missing: apt-get install -y poppler-utils"
        out = tmp_path / rep.name
        subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "3", str(pdf), str(out)], check=True,
                       capture_output=True, timeout=120)
        pngs = sorted(tmp_path.glob(f"{rep.name}*.png"))
        assert len(pngs) == 3
        for png in pngs:
            assert len(np.unique(np.asarray(Image.open(png).convert("L")))) > 2
        text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                              timeout=120).stdout.decode("utf-8")
        index = (rep / "index.html").read_text(encoding="utf-8")
        h2 = [re.sub("<[^>]+>", "", h) for h in re.findall(r'<section id="[a-z]+" class="chapter">\s*<h2>(.*?)</h2>', index)]
        assert len(h2) >= 6
        for title in h2:
            assert title in text, f"{rep.name}: section {title!r} not in the PDF"
        n_figs = len(re.findall("<img ", index))
        assert re.search(rf"(Figure|图) {n_figs}\b", text), "figure numbers continue through the PDF"


def test_figures_are_not_blank(en):
    pngs = list((en / "figures").glob("*.png"))
    assert len(pngs) >= 15
    for png in pngs:
        colors = Image.open(png).convert("RGB").getcolors(maxcolors=64)
        assert colors is None or len(colors) > 8, png.name  # None: more than 64 colours


def test_pages_load_offline_in_chromium(run_dir, en, zh, evil_report):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "Chromium is not installed: apt-get install -y chromium (the browser tests need it)"
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run"]
    urls = [p for rep in (en, zh) for p in pages(rep, run_dir)] + [evil_report / "index.html"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=args)
        try:
            for path in urls:
                page = browser.new_page()
                errors, requests, dialogs = [], [], []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("request", lambda r: requests.append(r.url))
                page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
                page.goto(path.as_uri(), wait_until="load")
                assert not errors, (path.name, errors)
                assert not dialogs, (path.name, dialogs)
                assert requests and all(u.startswith("file://") for u in requests), (path.name, requests)
                widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
                assert widths and all(w > 0 for w in widths), (path.name, widths)
                if path.name == "index.html" and path.parent == en:
                    # the table as the browser shows it is the one checked against the CSV tables above
                    shown = page.eval_on_selector_all(
                        "#country-table tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))")
                    assert shown == country_table(path).values.tolist()
                banner = page.inner_text(".synthetic-banner")
                assert ("合成演示数据" if "report_zh" in str(path) else "Synthetic demonstration data") in banner
                page.close()
        finally:
            browser.close()


# --- maps fit for print, PDF layout, Chinese names ----------------------------------------------------------------
#: Deuteranopia (severity 1) on linear sRGB, Machado, Oliveira & Fernandes (2009), IEEE TVCG 15(6), Table 1.
MACHADO_DEUTERANOPIA = np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                                 [-0.011820, 0.042940, 0.968881]])
#: Linear sRGB -> CIE XYZ (D65, IEC 61966-2-1) and the D65 white point.
SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
D65 = np.array([0.95047, 1.0, 1.08883])


def seen_lab(hexes, deuteranope: bool) -> np.ndarray:
    """CIELAB of sRGB colours as seen by a deuteranope (Machado 2009) or by normal vision."""
    from matplotlib.colors import to_rgb

    c = np.array([to_rgb(h) for h in hexes])
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    if deuteranope:
        lin = np.clip(lin @ MACHADO_DEUTERANOPIA.T, 0, 1)
    xyz = (lin @ SRGB_TO_XYZ.T) / D65
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.column_stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])])


def deuteranope_confusions(hexes, pair_min: float = 10.0, ends_min: float = 25.0) -> list:
    """Pairs of classes a deuteranope cannot tell apart: CIE76 distance below ``pair_min`` for any pair, below
    ``ends_min`` for the first and last class (the two ends of an ordered legend, e.g. degraded and improved)."""
    lab = seen_lab(hexes, True)
    out = [(i, j) for i in range(len(hexes)) for j in range(i + 1, len(hexes))
           if np.linalg.norm(lab[i] - lab[j]) < pair_min]
    if np.linalg.norm(lab[0] - lab[-1]) < ends_min:
        out.append((0, len(hexes) - 1))
    return out


def test_report_class_colours_survive_deuteranopia():
    from dldd.core.legend import SDG3
    from dldd.indicators.aridity import ARIDITY_ZONES
    from dldd.report import figures as rf

    from dldd.pipeline.contracts import Product, legend_to_json
    from dldd.pipeline.registry import STAGES

    # every legend a stage declares for a map it writes, as a run's contracts.json would hold it
    declared = {p.legend.name: p.legend for s in STAGES.values() for p in s.provides
                if isinstance(p, Product) and p.kind == "map" and p.legend is not None}
    legs = rf.legends({"maps": {name: {"legend": legend_to_json(leg)} for name, leg in declared.items()}})
    assert set(legs) == set(declared) and set(legs) <= set(rf.REPORT_PALETTES)
    for name, leg in legs.items():
        colors = [c.color for c in leg.classes]
        assert name in rf.REPORT_PALETTES, f"{name}: no report palette"
        assert deuteranope_confusions(colors) == [], (name, colors)
        assert [c.code for c in leg.classes] == declared[name].codes
    # the check can fail: the package's own red/green SDG legend and its aridity ramp are confused
    assert deuteranope_confusions([c.color for c in SDG3.classes]) == [(0, 2)]
    assert deuteranope_confusions([c.color for c in ARIDITY_ZONES.classes])


def test_change_maps_have_a_centred_scale_that_cannot_collapse():
    from dldd.report import figures as rf

    mostly_zero = np.zeros(1000)
    mostly_zero[:5], mostly_zero[5:9] = -31.5, 33.3  # the SOC change map: almost every pixel unchanged
    assert rf.diverging_limit(mostly_zero) == pytest.approx(33.3)
    assert rf.diverging_limit(np.zeros(10)) == 1.0 and rf.diverging_limit(np.array([np.nan])) == 1.0
    spread = np.linspace(-2.0, 2.0, 1001)
    assert rf.diverging_limit(spread) == pytest.approx(np.percentile(np.abs(spread), rf.ROBUST_PERCENTILE))
    lo, hi = rf.sequential_limits(np.full(50, 0.3))
    assert lo < 0.3 < hi
    for name in ("soc_change_reporting_2", "spi12_december_2023", "spei12_december_2023"):
        assert rf.is_change_map(name), name
    for name in ("aridity_index", "esai", "sand_dp"):
        assert not rf.is_change_map(name), name


@pytest.fixture(scope="module")
def caspian_tif(tmp_path_factory) -> Path:
    """A float raster over the Caspian Sea, Turkmenistan, Uzbekistan and Kazakhstan: -30 west of 55.5 E,
    +30 east of 56.5 E, 0 between (synthetic test data)."""
    import rasterio
    from rasterio.transform import from_origin

    path = tmp_path_factory.mktemp("maps") / "soc_change_test.tif"
    arr = np.zeros((80, 120), dtype="float32")
    arr[:, :75], arr[:, 85:] = -30.0, 30.0
    with rasterio.open(path, "w", driver="GTiff", width=120, height=80, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(48.0, 44.0, 0.1, 0.1), nodata=float("nan")) as dst:
        dst.write(arr, 1)
    return path


def test_maps_are_masked_to_the_assessed_regions_and_equal_area(caspian_tif, tmp_path):
    import pyproj

    from dldd.regions.registry import world_countries
    from dldd.report import figures as rf

    world = {r.id: r.geometry for r in world_countries()}
    extent = (48.0, 60.0, 36.0, 44.0)
    data, land, img_extent, *_ = rf._prepare_layer(caspian_tif, None, extent, [world["TKM"]], 400)
    to_map = rf._to_map(rf.map_crs(extent))
    rows, cols = data.shape

    def at(lon, lat):
        x, y = to_map.transform(lon, lat)
        c = int((x - img_extent[0]) / (img_extent[1] - img_extent[0]) * cols)
        r = int((img_extent[3] - y) / (img_extent[3] - img_extent[2]) * rows)
        return data[r, c]

    assert np.isnan(at(51.0, 41.5))  # the Caspian Sea: not coloured
    assert np.isnan(at(58.5, 43.0))  # Uzbekistan, not assessed here: not coloured
    assert at(59.0, 38.5) == 30.0 and at(54.5, 39.5) == -30.0  # Turkmenistan: coloured
    # equal-area: a 1 x 1 degree cell has its geodesic (WGS84) area on the map, even far from the centre
    geod = pyproj.Geod(ellps="WGS84")
    for lon, lat in ((54.0, 40.0), (49.0, 37.0)):
        lons, lats = [lon, lon + 1, lon + 1, lon], [lat, lat, lat + 1, lat + 1]
        xs, ys = to_map.transform(lons, lats)
        planar = 0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1)))
        assert planar == pytest.approx(abs(geod.polygon_area_perimeter(lons, lats)[0]), rel=2e-3)
    png = tmp_path / "map.png"
    rf.draw_map(caspian_tif, png, title="change", legend=None, class_labels={}, scale_label="{km} km",
                nodata_label="no data", units_label="%", diverging=True, outlines=[world["TKM"]], extent=extent,
                note="disclaimer", svg=True)
    assert png.with_suffix(".svg").is_file() and "<svg" in png.with_suffix(".svg").read_text()[:500]
    img = Image.open(png)
    assert round(img.info["dpi"][0]) == rf.DPI == 300
    rgb = np.asarray(img.convert("RGB")).reshape(-1, 3).astype(int)
    cmap = __import__("matplotlib").colormaps[rf.DIVERGING_CMAP]
    for end in (0.02, 0.98):  # both ends of the centred scale are on the map (losses are not shown as no change)
        target = np.array(cmap(end)[:3]) * 255
        assert (np.abs(rgb - target).sum(axis=1) < 40).sum() > 200, end


def pdf_words(pdf: Path) -> tuple[list, list]:
    """Pages (width, height) and words (page index, xmin, xmax, text) of a PDF, by pdftotext -bbox."""
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], check=True, capture_output=True,
                         timeout=120).stdout.decode("utf-8")
    sizes, words = [], []
    for m in re.finditer(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', out, re.S):
        sizes.append((float(m.group(1)), float(m.group(2))))
        for w in re.finditer(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">(.*?)</word>', m.group(3)):
            words.append((len(sizes) - 1, float(w.group(1)), float(w.group(2)), w.group(3)))
    return sizes, words


def test_pdf_tables_fit_the_page_and_numbers_match_the_site(run_dir, en, zh):
    margin_pt = 16 / 25.4 * 72  # print.css: 16 mm left and right
    for rep in (en, zh):
        sizes, words = pdf_words(rep / "report.pdf")
        assert words
        over = [w for w in words if w[2] > sizes[w[0]][0] - margin_pt + 1.0 or w[1] < margin_pt - 1.0]
        assert not over, f"{rep.name}: text outside the page margins (clipped table?): {over[:5]}"
        text = " ".join(w[3] for w in words)
        label = "Figure" if rep == en else "图"
        # every numbered figure of the site has the same number (and title) in the PDF
        site = [rep / "index.html"] + [rep / f"region-{region_slug(r['id'])}.html"
                                        for r in json.loads((run_dir / "summary.json").read_text())["regions"]]
        seen = []
        for page in site:
            for n, title in re.findall(r'<span class="fignum">\S+ (\d+)</span> ([^<.]+)', page.read_text(encoding="utf-8")):
                seen.append(int(n))
                head = " ".join(title.split()[:3])
                assert re.search(rf"{label} ?{n} {re.escape(head)}", text), (rep.name, n, head)
        assert seen == list(range(1, len(seen) + 1)), "one numbering through the site"
        assert "practices.html" not in text or "fit:" not in text  # the full reasons stay out of the PDF


def test_chinese_site_names_countries_in_chinese(run_dir, zh):
    import pycountry

    regions = json.loads((run_dir / "summary.json").read_text())["regions"]
    english = {r["name"] for r in regions} | {pycountry.countries.get(alpha_3=r["id"]).name for r in regions}
    for page in [zh / "index.html", *(zh / f"region-{region_slug(r['id'])}.html" for r in regions)]:
        html = re.sub(r"<cite.*?</cite>", "", page.read_text(encoding="utf-8"), flags=re.S)
        left = [n for n in english if n in html]
        assert not left, (page.name, left)
    index = (zh / "index.html").read_text(encoding="utf-8")
    for chinese in ("乌兹别克斯坦", "塔吉克斯坦", "吉尔吉斯坦", "中亚"):
        assert chinese in index, chinese
    # the shared challenges of the sub-regions (a fixed vocabulary of the knowledge base) are named in Chinese
    from dldd.practices.schema import CHALLENGES

    lists = [m for r in regions for m in re.findall(r'<ul class="challenges">(.*?)</ul>', (zh / f"region-{region_slug(r['id'])}.html").read_text(encoding="utf-8"), re.S)]
    assert lists, "some profile lists its sub-region's challenges"
    assert not [c for c in CHALLENGES for lst in lists if c in lst]
    assert any("风蚀与沙尘暴" in lst or "干旱" in lst for lst in lists)
    # the catalogue's English prose (risks, labour) stays out of the zh profiles; the fit of a practice is in Chinese
    from dldd.report.build import _practice_catalogue

    prose = {r for p in _practice_catalogue().values() for r in p.risks if len(r) > 20}
    prose |= {p.inputs.labour for p in _practice_catalogue().values() if p.inputs is not None and p.inputs.labour}
    for r in regions:
        html = re.sub(r"<cite.*?</cite>", "", (zh / f"region-{region_slug(r['id'])}.html").read_text(encoding="utf-8"),
                      flags=re.S)
        assert not [x for x in prose if x in html], r["id"]


def test_the_knowledge_bases_fit_and_periods_in_chinese():
    """In the zh profile the fit of each best-fitting practice is worded from its reason's parts and a case
    period the catalogue gives in English words is left out (a period of years only is kept)."""
    from types import SimpleNamespace

    from dldd.report.build import _Builder
    from dldd.report.messages import Catalogue

    parts = json.dumps([{"verdict": "partial", "parts": [
        ["share", {"share": 0.77, "region": "MNG", "fit_km2": 1204944.7, "total_km2": 1564551.9}],
        ["share_drylands", {"share": 0.869, "fit_km2": 1204944.7, "total_km2": 1386220.9}]]}])
    case = {"countries": ["MNG"], "years": "before and after the 2009-2010 dzud"}
    knowledge = {"countries": {"MNG": {"top": [{"reason": "fits 77.0% of MNG's area on the grid", "reason_parts": parts}],
                                       "cases": [case, {**case, "years": "2009-2010"}], "subregion_cases": [],
                                       "subregion": "East Asia"}},
                 "challenges": {"East Asia": []}}
    names = {"MNG": "蒙古"}
    b = SimpleNamespace(lang="zh", msgs=Catalogue("zh"), region_name=lambda c: names.get(c, c),
                        subregion_name=lambda s: Catalogue("zh").label("subregion", s))
    k = _Builder.knowledge(b, knowledge, "MNG")
    reason = k["top"][0]["reason"]
    assert "蒙古" in reason and "77.0" in reason and not re.search(r"[A-Za-z]{3,}", reason.replace("km", "")), reason
    assert [c["years"] for c in k["cases"]] == ["", "2009-2010"] and k["cases"][0]["countries"] == ["蒙古"]
    en = SimpleNamespace(lang="en", msgs=Catalogue("en"), region_name=lambda c: c, subregion_name=lambda s: s)
    k = _Builder.knowledge(en, knowledge, "MNG")
    assert k["top"][0]["reason"].startswith("fits 77.0%") and k["cases"][0]["years"] == case["years"]



QGIS_CHECK = r"""
import json, sys
from qgis.core import QgsApplication, QgsProject
app = QgsApplication([], False)
app.initQgis()
project = QgsProject.instance()
ok = project.read(sys.argv[1])
out = {"read": ok, "layers": {}}
for layer in project.mapLayers().values():
    r = layer.renderer()
    classes = [(c.value, c.color.name(), c.label) for c in r.classes()] if r.type() == "paletted" else []
    out["layers"][layer.name()] = {"valid": layer.isValid(), "renderer": r.type(), "classes": classes}
print(json.dumps(out))
app.exitQgis()
"""


def test_qgis_project_opens_every_map_styled_and_run_folder_has_a_readme(run_dir, en, tmp_path):
    import xml.etree.ElementTree as ET

    from dldd.report import figures as rf
    from dldd.report.qgis import MARK

    manifest = json.loads((run_dir / "manifest.json").read_text())
    contracts = json.loads((run_dir / "contracts.json").read_text())  # the legends the stages declare
    maps = manifest["outputs"]["maps"]
    class_maps = {}
    for name, rel in maps.items():
        import rasterio

        with rasterio.open(run_dir / rel) as src:
            leg = rf.legend_for_map(name, src.tags(), contracts)
        if leg is not None:
            class_maps[name] = leg
            qml = ET.parse((run_dir / rel).with_suffix(".qml")).getroot()
            entries = qml.findall("./pipe/rasterrenderer[@type='paletted']/colorPalette/paletteEntry")
            assert [(int(e.get("value")), e.get("color")) for e in entries] == [(c.code, c.color) for c in leg.classes]
    assert len(class_maps) >= 8
    project = run_dir / "maps.qgs"
    root = ET.parse(project).getroot()
    layers = {ml.findtext("layername"): ml for ml in root.iter("maplayer")}
    assert set(layers) == set(maps)
    for name, ml in layers.items():
        assert (project.parent / ml.findtext("datasource")).resolve() == (run_dir / maps[name]).resolve()
        assert ml.findtext("provider") == "gdal" and ml.find("srs/spatialrefsys/wkt").text
        pal = ml.find("pipe/rasterrenderer[@type='paletted']")
        assert (pal is not None) == (name in class_maps), name
    labels = [e.get("label") for e in layers["aridity_zones"].iter("paletteEntry")]
    assert labels == ["hyper-arid", "arid", "semi-arid", "dry sub-humid", "humid"]
    # in QGIS itself (Debian's python3-qgis), when installed
    if subprocess.run(["/usr/bin/python3", "-c", "import qgis.core"], capture_output=True).returncode == 0:
        res = subprocess.run(["/usr/bin/python3", "-c", QGIS_CHECK, str(project)], capture_output=True, timeout=120,
                             env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
        assert res.returncode == 0, res.stderr.decode()[-2000:]
        got = json.loads(res.stdout.decode().strip().splitlines()[-1])
        assert got["read"] and set(got["layers"]) == set(maps)
        for name, lay in got["layers"].items():
            assert lay["valid"], name
            if name in class_maps:
                assert lay["renderer"] == "paletted", name
                assert [(v, c) for v, c, _ in lay["classes"]] == [(c.code, c.color) for c in class_maps[name].classes]
    readme = (run_dir / "README.md").read_text(encoding="utf-8")
    assert MARK in readme and "maps.qgs" in readme and "Synthetic demonstration data" in readme
    for t in (run_dir / "tables").glob("*.csv"):
        assert f"tables/{t.name}" in readme
    assert oct((run_dir / "README.md").stat().st_mode & 0o777) == "0o644"
    # a README the user wrote is left alone
    folder = tmp_path / "run"
    shutil.copytree(run_dir, folder, ignore=shutil.ignore_patterns("report*"))
    (folder / "README.md").write_text("my notes\n")
    build_report(folder, pdf=False, progress=lambda m: None)
    assert (folder / "README.md").read_text() == "my notes\n" and MARK in (folder / "maps.qgs").read_text()


def test_corrections_are_listed_in_the_methods():
    """GPG v2 corrections of false positives/negatives (table ``sdg_15_3_1_corrections``) appear in the
    report's methods with their reason, periods and the area moved between classes, summed per pair."""
    from types import SimpleNamespace

    import pandas as pd

    from dldd.report.build import _Builder
    from dldd.report.messages import Catalogue

    corr = pd.DataFrame({"region": ["KAZ", "KAZ", "UZB"], "period": ["baseline", "reporting_1", "baseline"],
                         "correction": ["fields.geojson#0"] * 3, "from": ["degraded"] * 3, "to": ["stable"] * 3,
                         "area_km2": [10.0, 5.0, 2.5], "reason": ["irrigated fields misread as decline"] * 3})
    stub = SimpleNamespace(run=SimpleNamespace(tables={"sdg_15_3_1_corrections": corr}), msgs=Catalogue("en"),
                           class_label=lambda c: c, qty=lambda v, kind: f"{v:.1f} km²")
    notes = [str(n) for n in _Builder.method_notes(stub, "sdg_15_3_1")]
    assert len(notes) == 1, notes
    assert "irrigated fields misread as decline" in notes[0] and "degraded → stable 17.5 km²" in notes[0]
    assert "baseline, reporting_1" in notes[0] and "fields.geojson#0" in notes[0]
    assert _Builder.method_notes(stub, "sand") == []


def _write_roles(path: Path, summary: dict) -> None:
    """A role map of an intervention design (codes of dldd.effectiveness.evaluate.ROLE_LEGEND) in the middle
    of the first region: treated cells matched and not, controls used and not around them (synthetic)."""
    import rasterio
    import shapely
    from rasterio.transform import from_origin

    from dldd.regions.registry import world_countries

    geom = next(r.geometry for r in world_countries() if r.id == summary["regions"][0]["id"])
    c = shapely.Point(geom.representative_point())
    arr = np.zeros((20, 20), dtype="int8")
    arr[2:18, 2:18] = 4
    arr[4:16, 4:16] = 3
    arr[6:14, 6:14] = 5
    arr[8:12, 8:12] = 1
    arr[8:10, 8:10] = 2
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=20, height=20, count=1, dtype="int8", crs="EPSG:4326",
                       nodata=-128, transform=from_origin(c.x - 0.5, c.y + 0.5, 0.05, 0.05)) as dst:
        dst.write(arr, 1)


CHAPTER_TABLES = ("sdg_15_3_1_trends", "sdg_15_3_1_dryland_zones", "sdg_15_3_1_hotspots", "sdg_degraded_drought_exposed")


def test_chapters_show_their_tables_and_add_up_to_the_indicator_tables(run_dir, en):
    """Trends, dryland zones, degraded land under drought and hotspots: each table on the site is its CSV
    (rounded as the report rounds), linked; the CSVs add up to the SDG 15.3.1 and drought tables."""
    index = en / "index.html"
    html = index.read_text(encoding="utf-8")
    for name in CHAPTER_TABLES:
        assert f'href="tables/{name}.csv"' in html and (en / "tables" / f"{name}.csv").is_file(), name
    assert (en / "figures" / "chart-sdg-trends.png").is_file()
    shown = {t["id"]: t["rows"] for t in tables(index)}
    trends = csv(run_dir, "sdg_15_3_1_trends")
    rows = shown["trends-table"][1:]
    assert len(rows) == len(trends) == 3 * (1 + 1 + N_REGIONS)  # 3 periods: whole, 1 sub-region, 3 countries
    for row, (_, r) in zip(rows, trends.iterrows()):
        assert [number(c) for c in row[2:]] == [round_value(r[c], k) for c, k in (
            ("degraded_share_of_land_pct", "pct"), ("stable_share_of_land_pct", "pct"),
            ("improved_share_of_land_pct", "pct"), ("no_data_share_of_land_pct", "pct"), ("degraded_change_pp", "pp"))]
    sdg = csv(run_dir, "so1_4_sdg_15_3_1")
    degraded = sdg[sdg["class"] == "degraded"].groupby("period")["area_km2"].sum()
    whole = trends[trends.level == "all"].set_index("period")
    np.testing.assert_allclose(whole.degraded_km2, degraded.reindex(whole.index), rtol=1e-9)
    zones = csv(run_dir, "sdg_15_3_1_dryland_zones")
    by_zone = zones[zones.level == "all"].groupby("period")["degraded_km2"].sum()
    np.testing.assert_allclose(by_zone.reindex(whole.index), whole.degraded_km2, rtol=1e-6)
    assert set(zones.zone) >= {"hyper-arid", "arid", "semi-arid", "dry sub-humid", "humid"}
    # degraded land under drought: the cross-tab's degraded land is the SDG table's, the overlap within both
    dd = csv(run_dir, "sdg_degraded_drought_exposed")
    last = dd.period.iloc[0]
    for _, r in dd[dd.level == "region"].iterrows():
        ref = sdg[(sdg.region == r.region) & (sdg.period == last) & (sdg["class"] == "degraded")].area_km2.sum()
        assert r.degraded_km2 == pytest.approx(ref, rel=1e-6)
        assert 0 <= r.degraded_drought_km2 <= min(r.degraded_km2, r.drought_km2) + 1e-9
    assert dd.degraded_drought_km2.sum() > 0  # the synthetic scene has both
    rows = shown["drought-table"][1:]
    assert [number(c) for c in rows[0][1:]] == [round_value(dd.iloc[0][c], k) for c, k in (
        ("degraded_km2", "area_km2"), ("degraded_drought_km2", "area_km2"),
        ("degraded_drought_share_of_land_pct", "pct"), ("degraded_drought_share_of_degraded_pct", "pct"))]
    # hotspots: the first "largest degraded area" is the region with the most degraded land in the latest period
    hot = csv(run_dir, "sdg_15_3_1_hotspots")
    summ = latest(csv(run_dir, "sdg_15_3_1_summary"), "period")
    first = hot[(hot.kind == "degraded_area") & (hot.unit == "region") & (hot["rank"] == 1)].iloc[0]
    assert first["id"] == summ.loc[summ.degraded_km2.idxmax(), "region"]
    names = {r["id"]: r["name"] for r in json.loads((run_dir / "summary.json").read_text())["regions"]}
    assert shown["hotspots-table"][1][0] == names[first["id"]]
    # the limitations name this run's coarse inputs (0.5 and 1 degree grids)
    grids = csv(run_dir, "input_grids").set_index("input")
    assert grids.loc["ndvi", "step_x"] == pytest.approx(0.5) and grids.loc["ndvi", "cell_km_x"] > 40
    assert re.search(r"Inputs at a coarse resolution: [^<]*ndvi 0.5° \(about 5\d km\)", html), re.findall(
        r"Inputs at a coarse[^<]*", html)


def test_a_maps_sources_are_the_inputs_its_stage_reads():
    """A map the caption table does not know is credited with the inputs its stage reads (contracts.json),
    never with every input of the spec."""
    from types import SimpleNamespace

    from dldd.report.build import _Builder
    from dldd.report.messages import Catalogue

    manifest = {"spec": {"inputs": {"precipitation": {"product": "chirps"}, "ndvi": {"path": "x/ndvi.nc"},
                                    "population": {"path": "pop.tif"}}}}
    contracts = {"maps": {"wetness_index": {"stage": "drought"}},
                 "stages": {"drought": {"inputs": ["precipitation", "population"]}}}
    b = SimpleNamespace(run=SimpleNamespace(manifest=manifest, contracts=contracts), msgs=Catalogue("en"))
    assert _Builder.map_sources(b, "wetness_index") == "precipitation: chirps; population: pop.tif"
    assert _Builder.map_sources(b, "lpd_reporting_1") == "ndvi: ndvi.nc"  # known by name
    assert _Builder.map_sources(b, "unknown_map") == Catalogue("en").plain("unknown_source")


def test_share_bar_charts_print_as_vectors(en):
    """The PDF prints a share-bar chart from its SVG (vectors, no image to embed); every other figure from its PNG."""
    listed = subprocess.run(["pdfimages", "-list", str(en / "report.pdf")], check=True, capture_output=True,
                            text=True, timeout=120).stdout.splitlines()[2:]
    pngs = list((en / "figures").glob("*.png"))
    vector = [p for p in pngs if p.name.startswith("chart-") and p.with_suffix(".svg").is_file()]
    assert vector, "the report has share-bar charts with their SVG"
    assert len(listed) == len(pngs) - len(vector)
