"""Knowledge base of sand-control and land-management practices, matched to assessed conditions.

- :mod:`dldd.practices.schema`: the pydantic schema of a practice (``extra="forbid"``).
- :mod:`dldd.practices.loader`: the YAML catalogue (``catalogue/*.yaml``), validated on load.
- :mod:`dldd.practices.store`: embedded SQLite store with FTS5 search.
- :mod:`dldd.practices.conditions`: the assessed conditions a practice is matched to.
- :mod:`dldd.practices.scoring`: applicability ranking with reasons (:func:`match`).
- :mod:`dldd.practices.land_share`: ranking on the share of a region's land a practice fits.
- :mod:`dldd.practices.evidence`: effectiveness results filed under practices.
- :mod:`dldd.practices.cli`: the ``dldd practices`` commands (Typer sub-app ``app``).
"""

from dldd.practices.conditions import Conditions
from dldd.practices.evidence import INTERVENTION_TYPES, AssessedEffect, EvidenceBook, attach_evidence, practices_for
from dldd.practices.scoring import Match, Reason, match
from dldd.practices.loader import CATALOGUE_DIR, catalogue_hash, load_catalogue, load_practice
from dldd.practices.schema import Citation, Practice
from dldd.practices.store import PracticeStore, default_cache_path, open_store

__all__ = [
    "AssessedEffect", "CATALOGUE_DIR", "Citation", "Conditions", "EvidenceBook", "INTERVENTION_TYPES",
    "Match", "Practice", "PracticeStore", "Reason", "attach_evidence", "catalogue_hash",
    "default_cache_path", "load_catalogue", "load_practice", "match", "open_store", "practices_for",
]
