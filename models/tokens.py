"""API bearer tokens (table ``api_tokens``): create, list, revoke, and look up by hash.

A token is ``omr_`` followed by 32 random bytes in URL-safe base64 (256 bits). It is shown once, when it is
created; the database keeps only its SHA-256, so a copy of the database (or a replica) gives no token away.
The API looks a presented token up by that hash and compares the stored digest in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from .schema import api_tokens

PREFIX = "omr_"
READ = "read"
SENSITIVE = "sensitive"
SCOPES = (READ, SENSITIVE)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DURATION = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class TokenError(ValueError):
    """A token request that cannot be honoured; the message is meant for the operator."""


@dataclass(frozen=True)
class Token:
    """What the database knows about a token (never the token itself)."""

    name: str
    scopes: frozenset[str]
    created: datetime
    expires: datetime | None
    revoked: datetime | None

    def state(self, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and self.expires <= now:
            return "expired"
        return "active"


def generate() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """The hex SHA-256 stored for ``token``."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_digest(stored: str, presented: str) -> bool:
    return hmac.compare_digest(stored.encode(), presented.encode())


def parse_duration(text: str) -> timedelta | None:
    """``90d``, ``12h``, ``30m``, ``2w``, ``45s``; ``never`` is None."""
    if text == "never":
        return None
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise TokenError(f"invalid duration {text!r}: use a positive number with s, m, h, d or w (e.g. 90d), "
                         "or never")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _scopes(scopes: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(scopes)
    unknown = chosen - set(SCOPES)
    if not chosen or unknown:
        raise TokenError(f"scopes must be among {', '.join(SCOPES)} (got {', '.join(sorted(chosen)) or 'none'})")
    return chosen


def create(connection: sa.Connection, name: str, scopes: Iterable[str], lifetime: timedelta | None,
           now: datetime | None = None) -> str:
    """Store a new token's hash and return the token (the only time it exists outside the caller)."""
    if not NAME.fullmatch(name):
        raise TokenError(f"invalid token name {name!r}: 1-64 letters, digits, '.', '_' or '-'")
    chosen = _scopes(scopes)
    if connection.execute(sa.select(api_tokens.c.name).where(api_tokens.c.name == name)).first() is not None:
        raise TokenError(f"a token named {name!r} exists already; choose another name")
    now = now or datetime.now(UTC)
    token = generate()
    connection.execute(sa.insert(api_tokens).values(
        name=name, sha256=digest(token), scopes=" ".join(sorted(chosen)), created=now,
        expires=None if lifetime is None else now + lifetime, revoked=None))
    return token


def revoke(connection: sa.Connection, name: str, now: datetime | None = None) -> Token:
    """Mark the token revoked (kept for the record); TokenError when there is none by that name."""
    found = connection.execute(_select().where(api_tokens.c.name == name)).first()
    if found is None:
        raise TokenError(f"no token named {name!r}")
    if found.revoked is None:
        connection.execute(sa.update(api_tokens).where(api_tokens.c.name == name)
                           .values(revoked=now or datetime.now(UTC)))
    return from_row(connection.execute(_select().where(api_tokens.c.name == name)).one())


def list_all(connection: sa.Connection) -> list[Token]:
    return [from_row(row) for row in connection.execute(_select().order_by(api_tokens.c.name))]


def lookup_statement() -> sa.Select:
    """Select (sha256, name, scopes, created, expires, revoked) by the bound parameter ``sha256``."""
    return sa.select(api_tokens.c.sha256, *_select().selected_columns).where(
        api_tokens.c.sha256 == sa.bindparam("sha256"))


def lookup(connection: sa.Connection, token: str) -> Token | None:
    """The token's record if its hash is stored (whatever its state), else None."""
    presented = digest(token)
    row = connection.execute(lookup_statement(), {"sha256": presented}).first()
    if row is None or not same_digest(row[0], presented):
        return None
    return from_row(row[1:])


def _select() -> sa.Select:
    c = api_tokens.c
    return sa.select(c.name, c.scopes, c.created, c.expires, c.revoked)


def from_row(row: Sequence[Any]) -> Token:
    """A record from (name, scopes, created, expires, revoked) as any driver returns them (SQLite: text)."""
    name, scopes, created, expires, revoked = row
    return Token(name, frozenset(scopes.split()), _utc(created), _utc(expires), _utc(revoked))


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
