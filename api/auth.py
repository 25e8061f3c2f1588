"""Who may call the API: bearer tokens (``serve --auth tokens``) and CORS origins (``--cors-origin``).

With tokens, every request except the probes needs ``Authorization: Bearer <token>``: 401 (with
``WWW-Authenticate: Bearer``) when it is missing, unknown, expired or revoked; 403 when the token lacks the
scope the route declares (``Route.scope``; routes outside the table need ``read``; paths without a route,
such as the documentation assets, need only a valid token). The token is hashed and looked up by its
SHA-256, the stored digest compared in constant time; each worker remembers a lookup for ``CACHE_SECONDS``
so a revocation reaches every worker within that time, and the lookup (an indexed read on the worker's
connection) runs about once per token per worker in that period. The token is never logged; the access
log names the token instead (``token=NAME``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import falcon
from falcon.asgi import Request, Response

from api.database import Database
from api.ops import PROBES
from api.problems import Problem
from api.settings import Settings
from api.ui import is_public
from models import tokens

CACHE_SECONDS = 2.0
CACHE_ENTRIES = 4096  # unknown tokens are remembered too; a flood of them only clears the memory
EXPOSED_HEADERS = ("ETag", "Link", "X-Total-Count", "X-Readmodel-Revision", "Retry-After")
REALM = 'Bearer realm="omni-readmodel"'
TOKEN_NAME: ContextVar[str] = ContextVar("omni_readmodel_token_name", default="-")


@dataclass(frozen=True, slots=True)
class Grant:
    """What a valid token allows, as one worker remembers it."""

    name: str
    scopes: frozenset[str]
    expires_at: float | None  # time.time(); None: never


class TokenCache:
    """One worker's token lookups, each reused for at most ``ttl`` seconds (unknown tokens included).

    Lookups are remembered by the Authorization header as sent, so a remembered one costs a dict lookup
    instead of a SHA-256 (which costs more than the rest of the check together). Python keys its string
    hashes with a per-process secret, so the dict's timing says nothing about which tokens it holds; the
    database is searched by the token's SHA-256 and the stored digest compared in constant time."""

    def __init__(self, db: Database, ttl: float = CACHE_SECONDS, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.ttl = ttl
        self.clock = clock  # wall time, for token expiry
        self.statement = db.compile(tokens.lookup_statement())
        self._entries: dict[str, tuple[float, Grant | None]] = {}

    def find(self, authorization: str) -> Grant | None:
        """The grant of ``Authorization: Bearer <token>`` for a known, unrevoked, unexpired token; None
        otherwise. DatabaseUnavailable (503) when the lookup cannot be made."""
        now = time.monotonic()
        entry = self._entries.get(authorization)
        if entry is None or entry[0] <= now:
            token = bearer_token(authorization)
            entry = (now + self.ttl, None if token is None else self._load(tokens.digest(token)))
            if len(self._entries) >= CACHE_ENTRIES:
                self._entries.clear()
            self._entries[authorization] = entry
        grant = entry[1]
        if grant is None or (grant.expires_at is not None and grant.expires_at <= self.clock()):
            return None
        return grant

    def _load(self, presented: str) -> Grant | None:
        row = self.db.one(self.statement, {"sha256": presented})
        if row is None or not tokens.same_digest(row[0], presented):
            return None
        record = tokens.from_row(row[1:])
        if record.revoked is not None:
            return None
        return Grant(record.name, record.scopes, None if record.expires is None else record.expires.timestamp())


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value; None for any other form."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def unauthorized(detail: str, error: str | None = None) -> Problem:
    challenge = REALM if error is None else f'{REALM}, error="{error}"'
    return Problem(401, "unauthorized", "Unauthorized", detail, headers={"WWW-Authenticate": challenge})


def forbidden(scope: str) -> Problem:
    return Problem(403, "forbidden", "Forbidden", f"this token lacks the {scope!r} scope this route needs",
                   headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{scope}"'})


def required_scope(resource: object) -> str:
    """The scope a resource needs: its route table row's, else ``read``."""
    route = getattr(resource, "route", None)
    return tokens.READ if route is None else route.scope


class BearerAuth:
    """Falcon ASGI middleware: authenticate in ``process_request`` (every path, routed or not), check the
    route's scope in ``process_resource`` (once the router has found it)."""

    def __init__(self, cache: TokenCache, *, open_preflight: bool = False) -> None:
        self.cache = cache
        self.open_preflight = open_preflight  # CORS: browsers send preflights without credentials

    async def process_request(self, req: Request, resp: Response) -> None:
        if req.path in PROBES or is_public(req.path):  # the page's files hold no data
            return
        if self.open_preflight and req.method == "OPTIONS" and req.get_header("Access-Control-Request-Method"):
            return
        header = req.get_header("Authorization")
        if header is None:
            raise unauthorized("this API needs a bearer token: Authorization: Bearer <token>")
        grant = self.cache.find(header)
        if grant is None:
            if bearer_token(header) is None:
                raise unauthorized("the Authorization header must be: Bearer <token>", "invalid_request")
            raise unauthorized("unknown, expired or revoked token", "invalid_token")
        req.context.grant = grant
        TOKEN_NAME.set(grant.name)

    async def process_resource(self, req: Request, resp: Response, resource: object, params: dict) -> None:
        grant: Grant | None = getattr(req.context, "grant", None)
        if grant is None:  # a probe or a preflight
            return
        scope = required_scope(resource)
        if scope not in grant.scopes:
            raise forbidden(scope)


class AccessLogTokenName(logging.Filter):
    """Adds ``token=NAME`` after the client address of uvicorn's access log lines (``token=-`` when no
    token was accepted). uvicorn logs while the application sends the response, in the request's own task,
    so it sees the name the middleware set for this request. uvicorn's formatter unpacks exactly its five
    arguments, hence the name rides on the first one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = (f"{record.args[0]} token={TOKEN_NAME.get()}", *record.args[1:])
        return True


def access_middleware(settings: Settings, db: Database) -> list[Any]:
    """The CORS and bearer-token middleware ``settings`` ask for (none by default)."""
    middleware: list[Any] = []
    if settings.cors_origins:
        origins = "*" if "*" in settings.cors_origins else list(settings.cors_origins)
        middleware.append(falcon.CORSMiddleware(allow_origins=origins, expose_headers=EXPOSED_HEADERS))
    if settings.auth == "tokens":
        middleware.append(BearerAuth(TokenCache(db), open_preflight=bool(settings.cors_origins)))
        access_log = logging.getLogger("uvicorn.access")
        if not any(isinstance(f, AccessLogTokenName) for f in access_log.filters):
            access_log.addFilter(AccessLogTokenName())
    return middleware
