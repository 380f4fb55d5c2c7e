"""The practice store: the YAML catalogue loaded into an embedded SQLite database with full-text search.

``open_store()`` opens, or creates, an SQLite file at the cache path and returns a
:class:`PracticeStore`. The cache path is, in order: the ``cache_path`` argument; ``$DLDD_CACHE/
practices.sqlite`` when the environment variable ``DLDD_CACHE`` (a cache *directory*) is set;
``$XDG_CACHE_HOME/dldd/practices.sqlite``; ``~/.cache/dldd/practices.sqlite``. The database keeps the
SHA-256 hash of the catalogue files it was built from (table ``dldd_meta``); when the YAML files change,
the next ``open_store`` rebuilds the tables inside one transaction, so readers never see half a
catalogue. Full-text search uses an FTS5 table with the ``trigram`` tokenizer (SQLite >= 3.34), which
indexes every three-character sequence and so finds Chinese names (FTS5's default tokenizer does not
split CJK text): a search for 草方格 finds the straw checkerboard. Search terms shorter than three
characters (沙障) are matched with ``LIKE`` on the same columns.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import sqlite3
from pathlib import Path

from dldd.errors import InputError
from dldd.practices.loader import CATALOGUE_DIR, catalogue_hash, load_catalogue
from dldd.practices.schema import CATEGORIES, Practice

#: Bumped whenever the tables change, so that an old cache is rebuilt.
STORE_SCHEMA_VERSION = "2"
#: Environment variable naming dldd's cache directory.
CACHE_ENV = "DLDD_CACHE"
#: File name of the embedded store inside the cache directory.
CACHE_FILE = "practices.sqlite"
#: Shortest term the trigram index can match; shorter terms fall back to LIKE.
TRIGRAM_MIN_CHARS = 3
#: bm25 column weights for (id, name_en, name_zh, body): a hit in a name outranks one in the text.
BM25_WEIGHTS = (0.0, 10.0, 10.0, 1.0)
#: Default number of search results.
SEARCH_LIMIT = 20

_TABLES_DDL = (
    "CREATE TABLE IF NOT EXISTS dldd_meta (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE dldd_practice (id VARCHAR(64) PRIMARY KEY, category VARCHAR(64) NOT NULL, "
    "name_en TEXT NOT NULL, name_zh TEXT, body TEXT NOT NULL, doc TEXT NOT NULL)",
)


def default_cache_path() -> Path:
    """The embedded store's file: ``$DLDD_CACHE``, else ``$XDG_CACHE_HOME/dldd``, else ``~/.cache/dldd``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        base = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "dldd"
    return base / CACHE_FILE


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _terms(text: str) -> list[str]:
    terms = [t.strip("\"'") for t in re.split(r"\s+", text.strip())]
    return [t for t in terms if t]


def _connect(path: Path):
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
    except (OSError, sqlite3.Error) as e:
        raise InputError(
            f"practice store: cannot open the cache database {str(path)!r} ({e}); "
            f"set {CACHE_ENV} to a writable directory or pass cache_path"
        ) from e
    return conn


def _search_sql(text: str, limit: int) -> tuple[str, list]:
    """The FTS5 query (trigram MATCH for terms of 3+ characters, LIKE for shorter ones) and its parameters."""
    terms = _terms(text)
    long = [t for t in terms if len(t) >= TRIGRAM_MIN_CHARS]
    short = [t for t in terms if len(t) < TRIGRAM_MIN_CHARS]
    where, params = [], []
    if long:
        where.append("dldd_practice_fts MATCH ?")
        params.append(" AND ".join('"' + t.replace('"', '""') + '"' for t in long))
    for t in short:
        where.append(
            "(name_en LIKE ? ESCAPE '\\' OR name_zh LIKE ? ESCAPE '\\' OR body LIKE ? ESCAPE '\\')"
        )
        params += [_like_pattern(t)] * 3
    weights = ", ".join(f"{w:g}" for w in BM25_WEIGHTS)
    order = f"bm25(dldd_practice_fts, {weights}), id" if long else "id"
    sql = f"SELECT id FROM dldd_practice_fts WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"
    return sql, params + [limit]


class PracticeStore:
    """Query layer over the practice tables; open it with :func:`open_store`.

    Attributes: ``location`` (the SQLite file), ``catalogue_dir``, ``catalogue_hash`` and ``rebuilt``
    (True when this open rebuilt the tables).
    """

    def __init__(self, conn, location: str, catalogue_dir: Path):
        self._conn = conn
        self.location = location
        self.catalogue_dir = catalogue_dir
        self.catalogue_hash = ""
        self.rebuilt = False

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> "PracticeStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _stored_meta(self, cur) -> dict[str, str]:
        try:
            cur.execute("SELECT key, value FROM dldd_meta")
            return {k: v for k, v in cur.fetchall()}
        except Exception:  # table missing: a new database (autocommit, so nothing to roll back)
            return {}

    def _sync(self) -> None:
        """Rebuild the tables when the catalogue or the store schema changed."""
        want = catalogue_hash(self.catalogue_dir)
        self.catalogue_hash = want
        cur = self._conn.cursor()
        meta = self._stored_meta(cur)
        if meta.get("catalogue_hash") == want and meta.get("schema_version") == STORE_SCHEMA_VERSION:
            return
        practices = load_catalogue(self.catalogue_dir)  # validate before touching the database
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.execute(_TABLES_DDL[0])
            cur.execute("SELECT key, value FROM dldd_meta")
            meta = {k: v for k, v in cur.fetchall()}
            if meta.get("catalogue_hash") == want and meta.get("schema_version") == STORE_SCHEMA_VERSION:
                cur.execute("COMMIT")  # another process rebuilt it while we waited for the lock
                return
            cur.execute("DROP TABLE IF EXISTS dldd_practice_fts")
            cur.execute("DROP TABLE IF EXISTS dldd_practice")
            cur.execute(_TABLES_DDL[1])
            cur.execute("CREATE VIRTUAL TABLE dldd_practice_fts USING fts5("
                        "id UNINDEXED, name_en, name_zh, body, tokenize='trigram')")
            for p in practices:
                body = p.search_text()
                cur.execute("INSERT INTO dldd_practice (id, category, name_en, name_zh, body, doc) "
                            "VALUES (?, ?, ?, ?, ?, ?)",
                            (p.id, p.category, p.names.en, p.names.zh, body, p.model_dump_json()))
                cur.execute("INSERT INTO dldd_practice_fts (id, name_en, name_zh, body) VALUES (?, ?, ?, ?)",
                            (p.id, p.names.en, p.names.zh or "", body))
            cur.execute("DELETE FROM dldd_meta")
            for k, v in (("catalogue_hash", want), ("schema_version", STORE_SCHEMA_VERSION),
                         ("catalogue_dir", str(self.catalogue_dir)), ("count", str(len(practices)))):
                cur.execute("INSERT INTO dldd_meta (key, value) VALUES (?, ?)", (k, v))
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        self.rebuilt = True

    # -- queries ---------------------------------------------------------------------------------
    def _cursor(self):
        if self._conn is None:
            raise InputError("practice store is closed")
        return self._conn.cursor()

    def ids(self) -> list[str]:
        cur = self._cursor()
        cur.execute("SELECT id FROM dldd_practice ORDER BY id")
        return [r[0] for r in cur.fetchall()]

    def all(self, category: str | None = None) -> list[Practice]:
        """Every practice (of one category if given), sorted by id."""
        cur = self._cursor()
        if category is None:
            cur.execute("SELECT doc FROM dldd_practice ORDER BY id")
        else:
            if category not in CATEGORIES:
                raise InputError(f"practice category {category!r} is unknown; expected one of {list(CATEGORIES)}")
            cur.execute("SELECT doc FROM dldd_practice WHERE category = ? ORDER BY id", (category,))
        return [Practice.model_validate(json.loads(r[0])) for r in cur.fetchall()]

    def get(self, practice_id: str) -> Practice:
        """One practice by id; an unknown id raises InputError with the closest ids."""
        cur = self._cursor()
        cur.execute("SELECT doc FROM dldd_practice WHERE id = ?", (practice_id,))
        row = cur.fetchone()
        if row is None:
            close = difflib.get_close_matches(practice_id, self.ids(), n=3)
            hint = f"; did you mean {close}?" if close else "; `dldd practices list` shows the ids"
            raise InputError(f"practice id {practice_id!r} is not in the catalogue{hint}")
        return Practice.model_validate(json.loads(row[0]))

    def search(self, text: str, limit: int = SEARCH_LIMIT) -> list[Practice]:
        """Practices whose names or text contain every term of ``text`` (English or Chinese), best first."""
        if not _terms(text):
            raise InputError("practice search: the search text is empty")
        sql, params = _search_sql(text, int(limit))
        cur = self._cursor()
        cur.execute(sql, params)
        ids = [r[0] for r in cur.fetchall()]
        return [self.get(i) for i in ids]


def open_store(
    cache_path: str | Path | None = None,
    *,
    catalogue_dir: str | Path | None = None,
) -> PracticeStore:
    """Open the practice store, building or rebuilding it from the YAML catalogue when needed.

    The embedded SQLite store at ``cache_path`` or :func:`default_cache_path`. ``catalogue_dir``: a
    catalogue directory other than the shipped one.
    """
    cat = Path(catalogue_dir) if catalogue_dir is not None else CATALOGUE_DIR
    path = Path(cache_path).expanduser() if cache_path is not None else default_cache_path()
    store = PracticeStore(_connect(path), str(path), cat)
    try:
        store._sync()
    except BaseException:
        store.close()
        raise
    return store
