"""Message catalogues: all report text, one YAML file per language in ``i18n/`` (``en.yaml``, ``zh.yaml``).

A third language is a new file with the same keys; keys missing from it fall back to English (and
:func:`missing_keys` lists them). Messages are plain text with ``{name}`` placeholders; :meth:`Catalogue.t`
escapes the message and its arguments and returns markup-safe text for the Jinja templates.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml
from markupsafe import Markup, escape

from dldd.errors import InputError

I18N_DIR = Path(__file__).resolve().parent / "i18n"
DEFAULT_LANG = "en"


def available_languages() -> list[str]:
    return sorted(p.stem for p in I18N_DIR.glob("*.yaml"))


def _flatten(d: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, list):
            out.update(_flatten({str(i): x for i, x in enumerate(v)}, key + "."))
        else:
            out[key] = str(v)
    return out


@functools.lru_cache(maxsize=None)
def _load(lang: str) -> dict[str, str]:
    """The flattened catalogue of ``lang``, one of :func:`available_languages` (never a path made from
    other text: ``../x`` or ``/abs/x`` is refused, not read)."""
    if lang not in available_languages():
        raise InputError(f"lang: no message catalogue for {lang!r}; available: {available_languages()}")
    with open(I18N_DIR / f"{lang}.yaml", encoding="utf-8") as f:
        return _flatten(yaml.safe_load(f) or {})


def missing_keys(lang: str) -> list[str]:
    """Keys of the English catalogue that ``lang`` does not translate."""
    return sorted(set(_load(DEFAULT_LANG)) - set(_load(lang)))


class Catalogue:
    """The messages of one language, English as fallback."""

    def __init__(self, lang: str = DEFAULT_LANG):
        self.lang = lang
        self.messages = {**_load(DEFAULT_LANG), **_load(lang)}

    def has(self, key: str) -> bool:
        return key in self.messages

    def plain(self, key: str, default: str | None = None, **kw) -> str:
        """The message as plain text (for figures), placeholders filled."""
        if key not in self.messages:
            if default is None:
                raise KeyError(f"message {key!r} is in no catalogue ({self.lang}, {DEFAULT_LANG})")
            return default
        msg = self.messages[key]
        return msg.format(**kw) if kw else msg

    def t(self, key: str, **kw) -> Markup:
        """The message as escaped markup, placeholders filled with escaped arguments."""
        if key not in self.messages:
            raise KeyError(f"message {key!r} is in no catalogue ({self.lang}, {DEFAULT_LANG})")
        return Markup(escape(self.messages[key])).format(**kw)

    def items(self, prefix: str) -> list[Markup]:
        """The escaped messages of a list (``prefix.0``, ``prefix.1``, ...)."""
        out, i = [], 0
        while f"{prefix}.{i}" in self.messages:
            out.append(self.t(f"{prefix}.{i}"))
            i += 1
        return out

    def group(self, prefix: str) -> dict[str, str]:
        """The plain messages ``prefix.<key>`` as {key: message} (English where not translated)."""
        return {k[len(prefix) + 1:]: v for k, v in self.messages.items() if k.startswith(prefix + ".")}

    def label(self, group: str, name: str) -> str:
        """A translated data label (class, period, metric ...), or ``name`` itself when not translated."""
        return self.messages.get(f"{group}.{name}", name)
