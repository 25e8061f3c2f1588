"""RFC 9457 problem details (``application/problem+json``) for every error the API answers.

Each body has ``type``, ``title``, ``status``, ``detail`` and, for clients of the seed bridge, its
``error`` member (the detail again). Never a stack trace.
"""

from __future__ import annotations

import json
import logging

import falcon
from falcon.asgi import Request, Response

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
READ_ONLY_METHODS = ("GET", "HEAD")
_TYPE = "urn:omni-readmodel:problem:"


class Problem(Exception):
    """An error answer. ``slug`` names the problem type, ``parameter`` the offending query parameter."""

    def __init__(self, status: int, slug: str, title: str, detail: str, *, parameter: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.parameter = parameter
        self.headers = headers or {}

    def body(self, instance: str | None = None) -> bytes:
        document = {"type": _TYPE + self.slug, "title": self.title, "status": self.status, "detail": self.detail}
        if instance:
            document["instance"] = instance
        if self.parameter:
            document["parameter"] = self.parameter
        document["error"] = self.detail
        return json.dumps(document, separators=(",", ":")).encode()


def not_found(detail: str) -> Problem:
    return Problem(404, "not-found", "Not Found", detail)


def bad_parameter(parameter: str, detail: str) -> Problem:
    return Problem(400, "invalid-parameter", "Bad Request", f"invalid query parameter {parameter!r}: {detail}",
                   parameter=parameter)


def method_not_allowed(method: str) -> Problem:
    return Problem(405, "read-only", "Method Not Allowed",
                   f"{method} is not supported: the read model is read-only, make changes in Omni",
                   headers={"Allow": ", ".join(READ_ONLY_METHODS)})


def unavailable(detail: str, retry_after: int = 1) -> Problem:
    return Problem(503, "unavailable", "Service Unavailable", detail, headers={"Retry-After": str(retry_after)})


def not_implemented(detail: str) -> Problem:
    return Problem(501, "not-implemented", "Not Implemented", detail)


def write(resp: Response, problem: Problem, instance: str | None = None) -> None:
    resp.status = problem.status
    resp.content_type = PROBLEM_JSON
    resp.data = problem.body(instance)
    for name, value in problem.headers.items():
        resp.set_header(name, value)


async def handle_problem(req: Request, resp: Response, ex: Problem, params: dict) -> None:
    write(resp, ex, req.path)


def log_unavailable(req: Request, ex: Exception, what: str = "database unavailable") -> None:
    """A 503 for a database that did not answer (or a query past its timeout) is an operator's problem: always
    logged, with the driver's first line as the cause (it names no credentials)."""
    cause = ex.__cause__
    first_line = (str(cause).splitlines() or [""])[0] if cause is not None else ""
    log.warning("%s on %s %s: %s%s", what, req.method, req.path, ex,
                f" ({type(cause).__name__}: {first_line})" if cause is not None else "")


async def handle_unexpected(req: Request, resp: Response, ex: Exception, params: dict) -> None:
    if isinstance(ex, falcon.HTTPError):  # Falcon's own (unknown route, bad request line, ...)
        raise ex
    log.exception("unhandled error on %s %s", req.method, req.path)
    write(resp, Problem(500, "internal", "Internal Server Error", "internal error; see the server log"), req.path)


def serialize_http_error(req: Request, resp: Response, exception: falcon.HTTPError) -> None:
    """Falcon's own errors (no route, 405 of the router, malformed requests) as problem+json."""
    status = exception.status_code
    if status == 404:
        problem = not_found(f"no route for {req.path}")
    elif status == 405:
        problem = method_not_allowed(req.method)
    else:
        problem = Problem(status, falcon.code_to_http_status(status).split(" ", 1)[1].lower().replace(" ", "-"),
                          exception.title or "Error", exception.description or exception.title or "error")
    write(resp, problem, req.path)
