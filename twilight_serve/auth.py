"""Bearer tokens of the read API, stored hashed in SQLite.

Only a SHA-256 digest of each token is kept: tokens are 256 random bits, so a plain digest is
as good as a slow hash and lets every request be checked with one indexed lookup. The token
itself is shown once, when created. The CLI (``twilight token``) and the server share the file,
so a revocation takes effect on the server's next request.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from twilight_resources.logs import register_secret

TOKEN_PREFIX = "tw_"
SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    revoked_at REAL
);
"""


class TokenStoreError(RuntimeError):
    """The token store cannot be opened for writing; the server must not start without it."""


@dataclass(frozen=True)
class Principal:
    """Who a valid token belongs to."""

    token_id: int
    user: str
    created_at: float


@dataclass(frozen=True)
class TokenRow:
    """A stored token as ``twilight token list`` shows it (never the token itself)."""

    token_id: int
    user: str
    created_at: float
    revoked_at: float | None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """Create, revoke, list and verify bearer tokens in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, check_same_thread=False, timeout=10)
            with self._conn:
                self._conn.executescript(SCHEMA)
                # Prove the file takes writes now rather than at the first `token create`.
                self._conn.execute("UPDATE tokens SET id = id WHERE 0")
                self._conn.execute("PRAGMA user_version = 1")
        except (OSError, sqlite3.Error) as exc:
            raise TokenStoreError(
                f"the bearer token store {path} is not writable ({exc}); "
                "set TWILIGHT_BEARER_DB_PATH to a writable file"
            ) from None
        self._lock = threading.Lock()

    def create(self, user: str) -> str:
        """A new token for ``user``; the only time the token is returned."""
        if not user.strip():
            raise ValueError("the user name must not be empty")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO tokens (user, token_hash, created_at) VALUES (?, ?, ?)",
                (user.strip(), _digest(token), time.time()),
            )
        return token

    def revoke(self, token_id: int | None = None, user: str | None = None) -> int:
        """Revoke one token by id, or every token of a user; returns how many were revoked."""
        if (token_id is None) == (user is None):
            raise ValueError("give a token id or a user, not both")
        column, value = ("id", token_id) if token_id is not None else ("user", user)
        with self._lock, self._conn:
            cursor = self._conn.execute(
                f"UPDATE tokens SET revoked_at = ? WHERE {column} = ? AND revoked_at IS NULL",
                (time.time(), value),
            )
        return cursor.rowcount

    def list(self) -> list[TokenRow]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, user, created_at, revoked_at FROM tokens ORDER BY id"
            ).fetchall()
        return [TokenRow(*row) for row in rows]

    def verify(self, token: str) -> Principal | None:
        """The principal of a valid, unrevoked token, else None."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        with self._lock:
            row = self._conn.execute(
                "SELECT id, user, created_at FROM tokens WHERE token_hash = ? "
                "AND revoked_at IS NULL",
                (_digest(token),),
            ).fetchone()
        if row is None:
            return None
        register_secret(token)  # a valid token that slips into a message is still redacted
        return Principal(*row)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
