"""Hide passwords in every text that leaves the process: log lines and recorded task errors.

``redact(text)`` is the one function every path uses. It masks, with ``***``:

- the secrets this process holds (``remember`` / ``remember_dsn``): the password of the DSN
  it connects with, ``PGPASSWORD``, and the password libpq actually used (which may come from
  a passfile), in each form a text can carry them: raw, URL-encoded, escaped as in a libpq
  ``key=value`` string, as a Python ``repr`` or a JSON string (and those nested once more);
- and any password written in a recognisable place: a URL's ``user:password@``, a libpq or
  query-string ``password=...``, ``PGPASSWORD=...``, a ``'password': ...`` mapping entry.

A known secret shorter than ``MIN_SECRET_LENGTH`` characters is hidden only in those places
(masking every occurrence of two letters would make the texts unreadable).
"""

from __future__ import annotations

import json
import os
import re
import threading
from urllib.parse import quote, quote_plus

MARKER = "***"
MIN_SECRET_LENGTH = 4

# scheme://user:password@ — the password runs to the last "@" before the path, so that a
# password holding a raw "@" or ":" is hidden whole.
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^\s/?#]*)@(?=[^\s@/?#]*(?:[/?#\s]|$))"
)
# password=secret, password = 'sec ret', PGPASSWORD=x, "password": "x", ?password=x&...
_KV_PASSWORD = re.compile(
    r"""(?P<head>(?<![A-Za-z0-9])(?:pg)?pass(?:word|wd)?['"]?\s*[=:]\s*)"""
    r"""(?P<pw>'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s&,;'"}\])]+)""",
    re.IGNORECASE,
)

_lock = threading.Lock()
_secrets: set[str] = set()
_known: re.Pattern[str] | None = None
_heads: tuple[str, ...] = ()  # how the spellings start: a cheap test before the regex


def _forms(secret: str) -> set[str]:
    """Return every spelling of ``secret`` a text may hold: raw, encoded, escaped."""
    encoded = {quote(secret, safe=""), quote(secret), quote_plus(secret)}
    encoded |= {re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), form) for form in encoded}
    libpq = secret.replace("\\", "\\\\").replace("'", "\\'")
    forms = {secret, libpq, *encoded}
    for _ in range(2):  # e.g. a repr inside a JSON log line: escaped twice
        forms |= {json.dumps(form)[1:-1] for form in forms}
        forms |= {json.dumps(form, ensure_ascii=False)[1:-1] for form in forms}
        forms |= {repr(form)[1:-1] for form in forms}
    return forms


def remember(secret: str | None) -> None:
    """Hide ``secret`` (in all its forms) from every text ``redact`` sees from now on."""
    global _known, _heads
    if not secret or len(secret) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if secret in _secrets:
            return
        _secrets.add(secret)
        forms = set().union(*(_forms(s) for s in _secrets))
        ordered = sorted(forms, key=lambda form: (-len(form), form))  # longest spelling first
        _known = re.compile("|".join(map(re.escape, ordered)))
        _heads = tuple({form[:MIN_SECRET_LENGTH] for form in forms})


def remember_dsn(dsn: str) -> None:
    """Hide the password of ``dsn`` and the one in ``PGPASSWORD``."""
    remember(os.environ.get("PGPASSWORD"))
    try:
        from psycopg.conninfo import conninfo_to_dict

        password = conninfo_to_dict(dsn).get("password")
    except Exception:  # a DSN that does not parse: only the patterns can help
        return
    remember(str(password) if password is not None else None)


def redact(text: str) -> str:
    """Return ``text`` with every known secret and every recognisable password as ``***``.

    Covers the secrets given to ``remember`` in any of their forms, URLs
    (``postgresql://user:pw@host``), libpq ``key=value`` strings (quoted or not), URL query
    parameters, ``PGPASSWORD=...`` and dict or JSON renderings (``'password': 'x'``).
    """
    known, heads = _known, _heads
    if known is not None and any(head in text for head in heads):
        text = known.sub(MARKER, text)
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MARKER}@" if m["pw"] else m[0], text)
    return _KV_PASSWORD.sub(_mask_kv, text)


def _mask_kv(match: re.Match[str]) -> str:
    value = match["pw"]
    quote_char = value[0] if value[:1] in {"'", '"'} else ""
    return f"{match['head']}{quote_char}{MARKER}{quote_char}"
