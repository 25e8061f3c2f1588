"""A cluster's kubeconfig, fetched live from Omni (``/management.ManagementService/Kubeconfig``).

Omni keeps kubeconfigs to itself (its State API refuses the Kubeconfig kind), so the read model never holds
one: the API asks Omni on each request, with its own service account. With ``service_account: true`` Omni
returns a kubeconfig whose user carries a token for ``user`` in ``groups``, valid for ``ttl`` (that needs
the Operator role). The cluster travels in the signed ``cluster`` metadata entry, not in the message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import grpc
from google.protobuf.duration_pb2 import Duration

from omni_client.wire import management_pb2, management_pb2_grpc

MAX_TTL = timedelta(days=3650)  # Omni refuses more than 10 years


class KubeconfigError(Exception):
    """Omni did not hand out the kubeconfig; ``reason`` says whose fault: ``not-found`` (no such cluster),
    ``unavailable`` (Omni unreachable or too slow) or ``refused`` (Omni said no: role, arguments, auth)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class KubeconfigOptions:
    """Who the kubeconfig's user is: Omni signs a token for ``user`` in ``groups``, valid for ``ttl``."""

    user: str = "omni-readmodel"
    groups: tuple[str, ...] = field(default=("system:masters",))
    ttl: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if not self.user:
            raise ValueError("the kubeconfig user must not be empty")
        if not timedelta(0) < self.ttl <= MAX_TTL:
            raise ValueError(f"the kubeconfig TTL must be more than 0 and at most {MAX_TTL.days} days")


_REASONS = {
    grpc.StatusCode.NOT_FOUND: "not-found",
    grpc.StatusCode.UNAVAILABLE: "unavailable",
    grpc.StatusCode.DEADLINE_EXCEEDED: "unavailable",
    grpc.StatusCode.CANCELLED: "unavailable",
}


def request_for(options: KubeconfigOptions) -> management_pb2.KubeconfigRequest:
    ttl = Duration()
    ttl.FromTimedelta(options.ttl)
    return management_pb2.KubeconfigRequest(service_account=True, service_account_ttl=ttl,
                                            service_account_user=options.user,
                                            service_account_groups=list(options.groups))


def fetch_kubeconfig(channel: grpc.Channel, cluster: str, options: KubeconfigOptions,
                     timeout: float = 10.0) -> bytes:
    """The kubeconfig YAML of ``cluster`` (blocking; signed when ``channel`` signs its calls)."""
    stub = management_pb2_grpc.ManagementServiceStub(channel)
    try:
        response = stub.Kubeconfig(request_for(options), timeout=timeout, metadata=(("cluster", cluster),))
    except grpc.RpcError as exc:
        code = exc.code() if callable(getattr(exc, "code", None)) else grpc.StatusCode.UNKNOWN
        details = exc.details() if callable(getattr(exc, "details", None)) else ""
        raise KubeconfigError(_REASONS.get(code, "refused"), f"Omni answered {code.name}: {details}") from None
    return response.kubeconfig
