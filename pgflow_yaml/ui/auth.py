"""The dashboard's actions token: its file, the session cookie and the CSRF token derived from it.

An action (cancel, retry, start, signal, trigger a schedule) is allowed to a request that either
carries ``Authorization: Bearer <token>`` (scripts), or carries the session cookie that the
sign-in form sets after checking the token AND a form field ``csrf`` that matches it (browsers).
The cookie and the CSRF token are HMACs of the token, so nothing is stored on the server, and a
page of another site can neither read the CSRF token nor send the cookie (``SameSite=Strict``).
Every comparison is constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from pgflow_yaml.errors import FileError

DEFAULT_TOKEN_FILE = Path(".pgflow") / "ui-token"
COOKIE = "pgflow_ui_session"


def load_token(path: Path) -> tuple[str, bool]:
    """Return the token in ``path``, creating the file (mode 0600) with a new one if missing.

    Returns:
        The token and whether it was created now.

    Raises:
        FileError: the file cannot be read or written, is empty, or others may read it.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_token(path), False
    except OSError as exc:
        raise FileError(f"cannot create the token file {path}: {exc.strerror or exc}") from None
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    return token, True


def _read_token(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise FileError(f"cannot read the token file {path}: {exc.strerror or exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise FileError(
            f"the token file {path} is open to other users (mode {stat.S_IMODE(mode):04o});"
            f" run: chmod 600 {path}"
        )
    if not text:
        raise FileError(f"the token file {path} is empty; delete it to get a new token")
    return text


class Keys:
    """The token and the values derived from it."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()
        self.session = self._derive("session")
        self.csrf = self._derive("csrf")

    def _derive(self, purpose: str) -> str:
        return hmac.new(self._token, purpose.encode(), hashlib.sha256).hexdigest()

    def token_ok(self, value: str | None) -> bool:
        """Tell whether ``value`` is the token (constant time)."""
        return value is not None and hmac.compare_digest(value.encode(), self._token)

    def session_ok(self, value: str | None) -> bool:
        """Tell whether ``value`` is the session cookie (constant time)."""
        return value is not None and hmac.compare_digest(value, self.session)

    def csrf_ok(self, value: str | None) -> bool:
        """Tell whether ``value`` is the CSRF token (constant time)."""
        return value is not None and hmac.compare_digest(value, self.csrf)

    def bearer_ok(self, header: str | None) -> bool:
        """Tell whether an ``Authorization`` header carries the token."""
        if not header or not header.lower().startswith("bearer "):
            return False
        return self.token_ok(header[7:].strip())
