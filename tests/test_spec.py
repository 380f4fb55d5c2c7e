"""The assessment spec: valid specs load; each kind of error names the field, the value and what is expected."""

import pytest
import yaml

from dldd.errors import SpecError
from dldd.spec import DEFAULT_BASELINE, load_spec, parse_spec

VALID = {
    "name": "test",
    "regions": ["KAZ", "Central Asia"],
    "inputs": {"ndvi": {"path": "ndvi.nc", "variable": "ndvi", "scale_factor": 0.0001}},
    "indicators": {"land_cover": {}},
}


def test_valid_spec_and_defaults(tmp_path):
    p = tmp_path / "spec.yaml"
    p.write_text(yaml.safe_dump(VALID))
    spec = load_spec(p)
    assert spec.regions.include == ["KAZ", "Central Asia"]
    assert spec.periods.baseline.as_tuple() == DEFAULT_BASELINE
    assert spec.periods.land_cover_years("reporting_2") == (2015, 2022)
    assert spec.periods.reporting["reporting_1"].productivity.as_tuple() == (2004, 2019)
    assert spec.resolve("ndvi.nc") == tmp_path.resolve() / "ndvi.nc"


@pytest.mark.parametrize(
    "patch, field, fragment",
    [
        ({"colour": "red"}, "colour", "unknown key"),
        ({"inputs": {"ndvi": {"path": "x.nc", "scale_factr": 2}}}, "inputs.ndvi.scale_factr", "unknown key"),
        ({"inputs": {"ndvi": {"path": "x.nc", "scale_factor": "ten"}}}, "inputs.ndvi.scale_factor", "'ten'"),
        ({"periods": {"baseline": [2015, 2000]}}, "periods.baseline", "reversed"),
        ({"inputs": {"ndvi": {"variable": "ndvi"}}}, "inputs.ndvi", "exactly one of `path` or `product`"),
        ({"compute": {"chunk_size": 3}}, "compute.chunk_size", "greater than or equal to 16"),
        ({"indicators": {}}, "indicators", "no indicators"),
        ({"regions": {"include": []}}, "regions", "no regions"),
    ],
)
def test_errors_name_the_field(patch, field, fragment):
    data = {**VALID, **patch}
    with pytest.raises(SpecError) as info:
        parse_spec(data, source="my.yaml")
    msg = str(info.value)
    assert f"- {field}:" in msg, msg
    assert fragment in msg, msg
    assert msg.startswith("my.yaml")


def test_not_yaml_and_missing_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(p)
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "nope.yaml")


def test_yaml_is_loaded_safely(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(p)


def test_unknown_indicator_family_and_bad_parameter(tmp_path):
    from dldd.pipeline import stage_params

    spec = parse_spec({**VALID, "indicators": {"sdg_15_3_2": {}}})
    with pytest.raises(SpecError, match=r"indicators\.sdg_15_3_2: unknown indicator family"):
        stage_params(spec)
    spec = parse_spec({**VALID, "inputs": {"land_cover": {"path": "lc.nc"}}, "indicators": {"land_cover": {"colour": 1}}})
    with pytest.raises(SpecError, match=r"indicators\.land_cover\.colour"):
        stage_params(spec)
    spec = parse_spec({**VALID, "indicators": {"land_cover": {}}})
    with pytest.raises(SpecError, match=r"needs input\(s\) \['land_cover'\]"):
        stage_params(spec)
