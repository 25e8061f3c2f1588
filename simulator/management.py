"""``/management.ManagementService/Kubeconfig`` as Omni answers it: the cluster named by the signed
``cluster`` (else ``context``) metadata entry; with ``service_account: true`` a kubeconfig whose user holds
a token for ``service_account_user`` (required) valid for ``service_account_ttl`` (required, > 0, at most
10 years); without it an OIDC kubeconfig that needs a browser login. Missing cluster or user:
INVALID_ARGUMENT; unknown cluster: NOT_FOUND."""

from __future__ import annotations

import secrets
from datetime import timedelta

import grpc
import grpc.aio
import yaml

from omni_client.wire import management_pb2
from simulator.errors import Abort
from simulator.store import Store

SERVICE = "management.ManagementService"
CLUSTER_TYPE = "Clusters.omni.sidero.dev"
INSTANCE = "simulated-omni"
KUBERNETES_PROXY = "https://{cluster}.kubernetes.omni.simulator.invalid"
MAX_TTL = timedelta(days=3650)


def kubeconfig_yaml(cluster: str, user: str, token: str | None) -> bytes:
    """A kubeconfig for ``cluster`` through Omni's Kubernetes proxy: a token user, or OIDC when no token."""
    name = f"{INSTANCE}-{cluster}"
    if token is not None:
        credentials: dict = {"token": token}
    else:
        credentials = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "kubectl",
                                "args": ["oidc-login", "get-token", f"--oidc-issuer-url=https://{INSTANCE}/oidc",
                                         "--oidc-client-id=native"]}}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": KUBERNETES_PROXY.format(cluster=cluster)}}],
        "contexts": [{"name": name, "context": {"cluster": name, "namespace": "default", "user": f"{name}-{user}"}}],
        "current-context": name,
        "users": [{"name": f"{name}-{user}", "user": credentials}],
    }
    return yaml.safe_dump(config, sort_keys=False).encode()


class ManagementService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def kubeconfig(self, request: management_pb2.KubeconfigRequest,
                         context: grpc.aio.ServicerContext) -> management_pb2.KubeconfigResponse:
        metadata: dict[str, str] = {}
        for key, value in context.invocation_metadata() or ():
            if isinstance(value, str):
                metadata.setdefault(key, value)
        cluster = metadata.get("cluster") or metadata.get("context")
        if not cluster:
            raise Abort("INVALID_ARGUMENT", "cluster name is required")
        if self.store.get("default", CLUSTER_TYPE, cluster) is None:
            raise Abort("NOT_FOUND", f'resource Clusters.omni.sidero.dev(default/{cluster}) doesn\'t exist')
        if not request.service_account:
            return management_pb2.KubeconfigResponse(kubeconfig=kubeconfig_yaml(cluster, "oidc", None))
        if not request.service_account_user:
            raise Abort("INVALID_ARGUMENT", "service account user is required")
        ttl = request.service_account_ttl.ToTimedelta() if request.HasField("service_account_ttl") else timedelta(0)
        if not timedelta(0) < ttl <= MAX_TTL:
            raise Abort("INVALID_ARGUMENT", "service account TTL must be more than 0 and at most 10 years")
        token = secrets.token_urlsafe(32)
        return management_pb2.KubeconfigResponse(
            kubeconfig=kubeconfig_yaml(cluster, request.service_account_user, token))


def generic_handler(service: ManagementService) -> grpc.GenericRpcHandler:
    async def kubeconfig(request, context):
        try:
            return await service.kubeconfig(request, context)
        except Abort as exc:
            await context.abort(grpc.StatusCode[exc.code], exc.message)

    return grpc.method_handlers_generic_handler(SERVICE, {
        "Kubeconfig": grpc.unary_unary_rpc_method_handler(
            kubeconfig, request_deserializer=management_pb2.KubeconfigRequest.FromString,
            response_serializer=management_pb2.KubeconfigResponse.SerializeToString),
    })
