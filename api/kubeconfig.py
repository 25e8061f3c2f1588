"""``GET /api/v1/clusters/{id}/kubeconfig``: a cluster's kubeconfig, fetched live from Omni on every request.

The one route that talks to Omni (the read model never holds a kubeconfig). The API's own service account
signs the call; the answer is never cached, stored or logged (``Cache-Control: no-store``). JSON in the
seed's shape (``data``: base64 of the YAML) or, with ``Accept: application/yaml``, the YAML itself.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from falcon.asgi import Request, Response

from api import problems
from api.resources import Api
from api.routes import Route
from models import catalog

if TYPE_CHECKING:  # grpc (~25 MB per worker) is imported only once an endpoint is configured
    import grpc

    from omni_client.endpoint import Endpoint
    from omni_client.kubeconfig import KubeconfigOptions
    from omni_client.signing import ServiceAccountKey

log = logging.getLogger(__name__)

YAML = "application/yaml"
JSON = "application/json; charset=utf-8"
NOT_CONFIGURED = ("the kubeconfig pass-through is not configured: start `omni-readmodel serve` with "
                  "--endpoint (or OMNI_ENDPOINT) and the service account key in OMNI_SERVICE_ACCOUNT_KEY")


@dataclass(frozen=True)
class OmniAccess:
    """Where and as whom the API calls Omni for kubeconfigs."""

    endpoint: Endpoint
    key: ServiceAccountKey | None
    options: KubeconfigOptions
    ca_file: Path | None = None
    timeout: float = 10.0

    @classmethod
    def configure(cls, endpoint_url: str | None, *, user: str, groups: tuple[str, ...], ttl_seconds: float,
                  ca_file: str | None = None, insecure_no_auth: bool = False) -> OmniAccess | None:
        """None when no endpoint is given (the route then answers 404 naming the option); raises ValueError
        with a message for the command line when the configuration is unusable."""
        if not endpoint_url:
            return None
        from omni_client.endpoint import EndpointError, parse_endpoint
        from omni_client.kubeconfig import KubeconfigOptions
        from omni_client.signing import ServiceAccountKey, ServiceAccountKeyError

        try:
            endpoint = parse_endpoint(endpoint_url)
            key = None if insecure_no_auth else ServiceAccountKey.from_env()
        except (EndpointError, ServiceAccountKeyError) as exc:
            raise ValueError(str(exc)) from None
        options = KubeconfigOptions(user=user, groups=groups, ttl=timedelta(seconds=ttl_seconds))
        return cls(endpoint, key, options, Path(ca_file) if ca_file else None)


class Kubeconfigs:
    """The responder. One signed channel per worker, opened on first use, shared by its threads. ``route``
    is its route table row (which declares the scope it needs: ``sensitive``)."""

    def __init__(self, api: Api, route: Route, access: OmniAccess | None) -> None:
        self.api = api
        self.route = route
        self.access = access
        self._channel: grpc.Channel | None = None
        self._lock = threading.Lock()
        self._clusters = catalog.by_name("Cluster")

    def _fetch(self, cluster: str) -> bytes:
        from omni_client.endpoint import open_channel
        from omni_client.kubeconfig import fetch_kubeconfig

        access = self.access
        with self._lock:
            if self._channel is None:
                self._channel = open_channel(access.endpoint, access.key, access.ca_file)
        return fetch_kubeconfig(self._channel, cluster, access.options, access.timeout)

    async def on_get(self, req: Request, resp: Response, id: str) -> None:  # noqa: A002 - the route's name
        cluster = unquote(id) if "%" in id else id
        if not self.api.live.exists(self._clusters, cluster):
            raise problems.not_found(f"cluster {cluster!r} not found")
        if self.access is None:
            raise problems.not_found(NOT_CONFIGURED)
        from omni_client.kubeconfig import KubeconfigError

        try:
            kubeconfig = await asyncio.to_thread(self._fetch, cluster)
        except KubeconfigError as exc:
            log.warning("kubeconfig of cluster %s: %s", cluster, exc)
            if exc.reason == "not-found":
                raise problems.not_found(f"cluster {cluster!r} not found in Omni") from None
            if exc.reason == "unavailable":
                raise problems.unavailable("Omni did not answer the kubeconfig request", retry_after=5) from None
            raise problems.Problem(502, "bad-gateway", "Bad Gateway",
                                   "Omni refused the kubeconfig request (see the API's log)") from None
        resp.cache_control = ["no-store"]
        resp.vary = ["Accept"]
        if _wants_yaml(req):
            resp.content_type = YAML
            resp.data = kubeconfig
            return
        base = self.api.base(req).url
        self_url = f"{base}/api/v1/clusters/{quote(cluster, safe='')}"
        resp.content_type = JSON
        resp.data = json.dumps({
            "data": base64.b64encode(kubeconfig).decode(),
            "_links": {"self": f"{self_url}/kubeconfig", "cluster": self_url},
        }).encode()

    on_head = on_get

    async def on_post(self, req: Request, resp: Response, **_: Any) -> None:
        raise problems.method_not_allowed(req.method)

    on_put = on_patch = on_delete = on_post


def _wants_yaml(req: Request) -> bool:
    accept = req.get_header("Accept") or ""
    return any(part.split(";")[0].strip() in (YAML, "application/x-yaml", "text/yaml") for part in accept.split(","))
