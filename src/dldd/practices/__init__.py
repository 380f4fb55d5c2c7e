"""Knowledge base of sand-control and land-management practices, matched to assessed conditions.

- :mod:`dldd.practices.schema`: the pydantic schema of a practice (``extra="forbid"``).
- :mod:`dldd.practices.loader`: the YAML catalogue (``catalogue/*.yaml``), validated on load.
- :mod:`dldd.practices.store`: embedded SQLite store with FTS5 search (PostgreSQL by URL).
- :mod:`dldd.practices.engine`: applicability ranking with reasons; effectiveness evidence.
- :mod:`dldd.practices.cli`: the ``dldd practices`` commands (Typer sub-app ``app``).
"""

from dldd.practices.engine import (
    INTERVENTION_TYPES,
    AssessedEffect,
    Conditions,
    EvidenceBook,
    Match,
    Reason,
    attach_evidence,
    match,
    practices_for,
)
from dldd.practices.loader import CATALOGUE_DIR, catalogue_hash, load_catalogue, load_practice
from dldd.practices.schema import Citation, Practice
from dldd.practices.store import PracticeStore, default_cache_path, open_store

__all__ = [
    "AssessedEffect", "CATALOGUE_DIR", "Citation", "Conditions", "EvidenceBook", "INTERVENTION_TYPES",
    "Match", "Practice", "PracticeStore", "Reason", "attach_evidence", "catalogue_hash",
    "default_cache_path", "load_catalogue", "load_practice", "match", "open_store", "practices_for",
]
