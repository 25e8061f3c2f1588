"""The fleet page (``/ui/``): static HTML, CSS and ES modules shipped inside this package.

The files are read once at start-up and served from memory with strong ETags. The page is a client of
the public API only (``/api/v1/...``, the reports, the timeline, the change feed), so its files carry
no data and are served without a token, like the documentation; the page asks for a token when the API
answers 401 and sends it as ``Authorization: Bearer``.
"""

from __future__ import annotations

import hashlib
from importlib import resources

import falcon
from falcon.asgi import Request, Response

PREFIX = "/ui"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
# Only our own files, never a CDN; the page talks to this origin only.
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
          "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _load() -> dict[str, tuple[bytes, str, str]]:
    files = {}
    for entry in resources.files(__name__).iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in TYPES:
            data = entry.read_bytes()
            files[entry.name] = (data, TYPES[suffix], '"' + hashlib.sha256(data).hexdigest()[:32] + '"')
    return files


def is_public(path: str) -> bool:
    """The page's own files and the redirects to it need no token (they hold no data)."""
    return path == "/" or path == PREFIX or path.startswith(PREFIX + "/")


class Page:
    """``/ui/`` and ``/ui/{name}``: one of the package's files, else 404."""

    def __init__(self) -> None:
        self.files = _load()

    async def on_get(self, req: Request, resp: Response, name: str | None = None) -> None:
        if name is None:
            if not req.scope.get("raw_path", b"/").endswith(b"/"):
                raise falcon.HTTPMovedPermanently("ui/")  # relative: works behind a path prefix; the page needs the slash
            name = "index.html"
        found = self.files.get(name)
        if found is None:
            raise falcon.HTTPNotFound(description=f"no file {name!r} in the page")
        data, content_type, etag = found
        resp.set_header("Content-Security-Policy", POLICY)
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.cache_control = ("no-cache",)
        resp.etag = etag
        if req.get_header("If-None-Match") == etag:
            resp.status = falcon.HTTP_304
            return
        resp.content_type = content_type
        resp.data = data

    on_head = on_get


def register(app: falcon.asgi.App) -> None:
    page = Page()
    app.add_route(PREFIX, page)
    app.add_route(PREFIX + "/{name}", page)
