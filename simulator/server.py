"""The ``cosi.resource.State`` gRPC service (grpc.aio), answering the way Omni does.

Handlers return pre-serialised bytes (the method handlers have no response serializer): a resource is
encoded once per version and every stream and listing reuses those bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable

import grpc
import grpc.aio
from google.protobuf.message import DecodeError, Message

from models import catalog
from omni_client.wire import meta_pb2, resource_pb2, specs_pb2, state_pb2
from simulator import external, queries, wire
from simulator.errors import Abort
from simulator.faults import Faults
from simulator.resource import RUNNING, TEARING_DOWN, Res
from simulator.store import Store
from simulator.watch import Watcher, WatchStream

SERVICE = "cosi.resource.State"
MAX_MESSAGE_BYTES = 32 << 20  # Omni's GRPCMaxMessageSize

# Omni gives no external read access to these at all (omni-wire.md §2.7).
REFUSED_TYPES = frozenset(name + ".omni.sidero.dev" for name in (
    "Kubeconfigs", "ClusterSecrets", "ClusterMachineConfigs", "TalosConfigs", "ClusterMachineSecrets",
    "ClusterMachineEncryptionKeys", "BackupDatas", "EtcdBackupEncryptions",
))
NO_ACCESS = "no access is permitted"

_META_SPECS: dict[str, type[Message]] = {
    "Namespaces.meta.cosi.dev": meta_pb2.NamespaceSpec,
    "ResourceDefinitions.meta.cosi.dev": meta_pb2.ResourceDefinitionSpec,
}


def spec_class(type_: str) -> type[Message] | None:
    """The spec message class of a COSI type, or None for a type the simulator does not know."""
    if type_ in _META_SPECS:
        return _META_SPECS[type_]
    try:
        kind = catalog.by_type(type_)
    except KeyError:
        return None
    return getattr(specs_pb2, kind.spec)


def _check_access(namespace: str, type_: str) -> None:
    if type_ in REFUSED_TYPES:
        raise Abort("PERMISSION_DENIED", NO_ACCESS)


def _is_external(namespace: str) -> bool:
    return namespace == external.NAMESPACE


def _check_external(namespace: str, type_: str, operation: str) -> None:
    if _is_external(namespace):
        if type_ != external.ETCD_BACKUP_TYPE:
            raise Abort("UNIMPLEMENTED", f"unsupported resource type: unsupported resource kind for {operation}")
        if operation in ("create", "update", "destroy", "teardown"):
            raise Abort("UNIMPLEMENTED", f"unsupported resource type: {operation} is not supported")


def _describe(namespace: str, type_: str, id_: str) -> str:
    return f"resource {type_}({namespace}/{id_}@undefined)"


class StateService:
    """The handlers. All of them run on the event loop that owns ``store``."""

    def __init__(self, store: Store, faults: Faults) -> None:
        self.store = store
        self.faults = faults

    async def get(self, request: state_pb2.GetRequest, context: grpc.aio.ServicerContext) -> bytes:
        _check_access(request.namespace, request.type)
        if _is_external(request.namespace):
            _check_external(request.namespace, request.type, "get")
            data = external.get_wire(self.store, request.id)
        else:
            res = self.store.get(request.namespace, request.type, request.id)
            data = None if res is None else res.wire
        if data is None:
            raise Abort("NOT_FOUND", f"{_describe(request.namespace, request.type, request.id)} doesn't exist")
        return wire.resource_response(data)

    async def list(self, request: state_pb2.ListRequest, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        _check_access(request.namespace, request.type)
        if _is_external(request.namespace):
            _check_external(request.namespace, request.type, "list")
            items = external.list_wire(self.store, request.options)
        else:
            items = [res.wire for res in self._listed(request)]
        for data in items:
            yield wire.resource_response(data)

    def _listed(self, request: state_pb2.ListRequest) -> list[Res]:
        try:
            by_labels = queries.compile_label_queries(request.options.label_query)
            by_id = queries.compile_id_query(request.options.id_query.regexp)
        except queries.QueryPanic as exc:
            raise Abort("INTERNAL", str(exc)) from None
        except queries.QueryError as exc:
            raise Abort("INVALID_ARGUMENT", str(exc)) from None
        coll = self.store.collections.get((request.namespace, request.type))
        if coll is None:
            return []
        return [res for res in coll.sorted_items()
                if (by_labels is None or by_labels(res.labels)) and (by_id is None or by_id(res.id))]

    async def watch(self, request: state_pb2.WatchRequest,
                    context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        _check_access(request.namespace, request.type)
        if _is_external(request.namespace):
            _check_external(request.namespace, request.type, "watch")
            watcher = Watcher(request.type)
            self.store.watchers.add(watcher)
            try:
                async for message in external.watch(self.store, request, watcher):
                    yield message
            finally:
                self.store.watchers.discard(watcher)
            return
        async for message in WatchStream(self.store, self.faults, request).messages():
            yield message

    # -- writes ----------------------------------------------------------------------------------

    def _decode(self, proto: resource_pb2.Resource) -> tuple[Message | bytes, str | None]:
        cls = spec_class(proto.metadata.type)
        if cls is None:
            return proto.spec.proto_spec, proto.spec.yaml_spec
        try:
            return cls.FromString(proto.spec.proto_spec), None
        except DecodeError as exc:
            raise Abort("INVALID_ARGUMENT", f"failed to unmarshal spec: {exc}") from None

    async def create(self, request: state_pb2.CreateRequest, context: grpc.aio.ServicerContext) -> bytes:
        md = request.resource.metadata
        _check_access(md.namespace, md.type)
        _check_external(md.namespace, md.type, "create")
        spec, yaml = self._decode(request.resource)
        res = self.store.create(md.namespace, md.type, md.id, spec, owner=request.options.owner,
                                labels=dict(md.labels), annotations=dict(md.annotations),
                                finalizers=md.finalizers, phase=md.phase or RUNNING, yaml=yaml)
        return wire.resource_response(res.wire)

    async def update(self, request: state_pb2.UpdateRequest, context: grpc.aio.ServicerContext) -> bytes:
        md = request.new_resource.metadata
        _check_access(md.namespace, md.type)
        _check_external(md.namespace, md.type, "update")
        current = self.store.get(md.namespace, md.type, md.id)
        if current is None:
            raise Abort("NOT_FOUND", f"{_describe(md.namespace, md.type, md.id)} doesn't exist")
        if md.version != current.version_string:
            raise Abort("FAILED_PRECONDITION",
                        f'resource {md.type}({md.namespace}/{md.id}@{md.version}) update conflict: '
                        f'expected version "{md.version}", actual version "{current.version_string}"')
        if request.options.owner != current.owner:
            raise Abort("PERMISSION_DENIED",
                        f'resource {md.type}({md.namespace}/{md.id}) is owned by "{current.owner}"')
        if request.options.HasField("expected_phase") and request.options.expected_phase != current.phase:
            raise Abort("INVALID_ARGUMENT",
                        f"resource {md.type}({md.namespace}/{md.id}) is in phase {current.phase}, "
                        f"expected {request.options.expected_phase}")
        spec, yaml = self._decode(request.new_resource)
        res = self.store.update(current, spec=spec, labels=dict(md.labels), annotations=dict(md.annotations),
                                finalizers=md.finalizers, phase=md.phase or current.phase, yaml=yaml,
                                force=True)
        return wire.resource_response(res.wire)

    def _owned(self, namespace: str, type_: str, id_: str, owner: str, operation: str) -> Res:
        _check_access(namespace, type_)
        _check_external(namespace, type_, operation)
        current = self.store.get(namespace, type_, id_)
        if current is None:
            raise Abort("NOT_FOUND", f"{_describe(namespace, type_, id_)} doesn't exist")
        if owner != current.owner:
            raise Abort("PERMISSION_DENIED", f'resource {type_}({namespace}/{id_}) is owned by "{current.owner}"')
        return current

    async def destroy(self, request: state_pb2.DestroyRequest, context: grpc.aio.ServicerContext) -> bytes:
        self._owned(request.namespace, request.type, request.id, request.options.owner, "destroy")
        self.store.destroy(request.namespace, request.type, request.id)
        return b""

    async def teardown(self, request: state_pb2.TeardownRequest, context: grpc.aio.ServicerContext) -> bytes:
        current = self._owned(request.namespace, request.type, request.id, request.options.owner, "teardown")
        if current.phase != TEARING_DOWN:
            current = self.store.teardown(request.namespace, request.type, request.id)
        ready = not current.finalizers
        return b"\x08\x01" if ready else b""

    async def teardown_and_destroy(self, request: state_pb2.TeardownAndDestroyRequest,
                                   context: grpc.aio.ServicerContext) -> bytes:
        current = self._owned(request.namespace, request.type, request.id, request.options.owner, "destroy")
        if current.phase != TEARING_DOWN:
            self.store.teardown(request.namespace, request.type, request.id)
        self.store.destroy(request.namespace, request.type, request.id)
        return b""


def _unary(behavior: Callable, request_type: type[Message]) -> grpc.RpcMethodHandler:
    async def handler(request, context):
        try:
            return await behavior(request, context)
        except Abort as exc:
            await context.abort(grpc.StatusCode[exc.code], exc.message)

    return grpc.unary_unary_rpc_method_handler(handler, request_deserializer=request_type.FromString)


def _streaming(behavior: Callable, request_type: type[Message]) -> grpc.RpcMethodHandler:
    async def handler(request, context):
        try:
            async for message in behavior(request, context):
                yield message
        except Abort as exc:
            await context.abort(grpc.StatusCode[exc.code], exc.message)

    return grpc.unary_stream_rpc_method_handler(handler, request_deserializer=request_type.FromString)


def generic_handler(service: StateService) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(SERVICE, {
        "Get": _unary(service.get, state_pb2.GetRequest),
        "List": _streaming(service.list, state_pb2.ListRequest),
        "Create": _unary(service.create, state_pb2.CreateRequest),
        "Update": _unary(service.update, state_pb2.UpdateRequest),
        "Destroy": _unary(service.destroy, state_pb2.DestroyRequest),
        "Watch": _streaming(service.watch, state_pb2.WatchRequest),
        "Teardown": _unary(service.teardown, state_pb2.TeardownRequest),
        "TeardownAndDestroy": _unary(service.teardown_and_destroy, state_pb2.TeardownAndDestroyRequest),
    })


def build_server(service: StateService, interceptors: Iterable[grpc.aio.ServerInterceptor] = (),
                 more_services: Iterable[grpc.GenericRpcHandler] = ()) -> grpc.aio.Server:
    """A grpc.aio server carrying the State service and ``more_services`` (add a port, then start it)."""
    server = grpc.aio.server(
        interceptors=list(interceptors),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 0),
            # Omni serves gRPC through Go's net/http HTTP/2 server, which does not police pings: a client's
            # keepalive on a quiet watch (once a minute) must not earn a GOAWAY "too_many_pings", as gRPC
            # core's default policy gives after two pings within five minutes without data.
            ("grpc.http2.max_ping_strikes", 0),
            ("grpc.keepalive_permit_without_calls", 1),
        ],
    )
    server.add_generic_rpc_handlers((generic_handler(service), *more_services))
    return server
