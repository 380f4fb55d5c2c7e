"""Reading and validating the practice catalogue (one YAML file per practice).

Every file is read with ``yaml.safe_load`` and validated against :class:`~dldd.practices.schema.Practice`.
A file that is not YAML, not a mapping, or has an invalid field raises :class:`dldd.errors.InputError`
naming the file, the field path (``evidence.0.citation.year``), the value found and what was expected.
The practice ``id`` must equal the file name without ``.yaml``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml
from pydantic import ValidationError

from dldd.errors import InputError
from dldd.practices.schema import Practice, validation_problems

#: The catalogue shipped with dldd.
CATALOGUE_DIR = Path(__file__).resolve().parent / "catalogue"
#: File suffixes read as practices.
YAML_SUFFIXES = (".yaml", ".yml")
#: yaml.safe_load's loader, in C (libyaml) when PyYAML has it: the same documents, read ten times faster.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def catalogue_files(directory: str | Path | None = None) -> list[Path]:
    """The practice files of a catalogue directory, sorted by name."""
    d = Path(directory) if directory is not None else CATALOGUE_DIR
    if not d.is_dir():
        raise InputError(f"practice catalogue directory {str(d)!r} does not exist or is not a directory")
    return sorted(p for p in d.iterdir() if p.suffix in YAML_SUFFIXES and p.is_file())


def catalogue_hash(directory: str | Path | None = None) -> str:
    """SHA-256 over the names and bytes of every practice file: changes when any file changes."""
    h = hashlib.sha256()
    for p in catalogue_files(directory):
        h.update(p.name.encode("utf-8"))
        h.update(b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def load_practice(path: str | Path) -> Practice:
    """Read and validate one practice file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"practice file {str(p)!r} cannot be read as UTF-8 text: {e}") from e
    try:
        data = yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as e:
        raise InputError(f"practice file {str(p)!r} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise InputError(
            f"practice file {str(p)!r}: expected a mapping of fields at the top level, "
            f"found {type(data).__name__}"
        )
    try:
        practice = Practice.model_validate(data)
    except ValidationError as e:
        raise InputError(f"practice file {str(p)!r}: {validation_problems(e)}") from e
    if practice.id != p.stem:
        raise InputError(
            f"practice file {str(p)!r}: field 'id' is {practice.id!r} but must equal the file name "
            f"{p.stem!r}"
        )
    return practice


def load_catalogue(directory: str | Path | None = None) -> list[Practice]:
    """Every practice of a catalogue directory (default: the shipped one), validated, sorted by id."""
    practices = [load_practice(p) for p in catalogue_files(directory)]
    if not practices:
        raise InputError(f"practice catalogue {str(directory or CATALOGUE_DIR)!r} holds no .yaml files")
    seen: dict[str, int] = {}
    for pr in practices:
        seen[pr.id] = seen.get(pr.id, 0) + 1
    dupes = sorted(k for k, n in seen.items() if n > 1)
    if dupes:
        raise InputError(f"practice catalogue: ids {dupes} appear in more than one file (.yaml and .yml)")
    return sorted(practices, key=lambda pr: pr.id)
