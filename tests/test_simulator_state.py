"""The simulator's unary State calls and listing rules: Get, List, Create, Update, Destroy, Teardown,
per-resource versions, refused kinds and the ``external`` EtcdBackups."""

from __future__ import annotations

import grpc
import pytest

from omni_client.wire import resource_pb2, specs_pb2, state_pb2
from tests.simulator_fixtures import (
    StreamReader,
    watch_request,
)

CLUSTERS = "Clusters.omni.sidero.dev"
BACKUPS = "EtcdBackups.omni.sidero.dev"
CLUSTER_LABEL = "omni.sidero.dev/cluster"



def _code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code()


def _cluster(id_: str, version: str = "", labels: dict | None = None) -> resource_pb2.Resource:
    res = resource_pb2.Resource()
    res.metadata.namespace, res.metadata.type, res.metadata.id = "default", CLUSTERS, id_
    res.metadata.version = version
    res.metadata.labels.update(labels or {})
    res.spec.proto_spec = specs_pb2.ClusterSpec(talos_version="1.11.3", kubernetes_version="1.34.1").SerializeToString()
    return res


def test_get_and_list(sim, state_stub):
    ids = sim.call(lambda: sorted(r.id for r in sim.simulator.store.items("default", CLUSTERS)))
    listed = list(state_stub.List(state_pb2.ListRequest(namespace="default", type=CLUSTERS)))
    assert [r.resource.metadata.id for r in listed] == ids
    got = state_stub.Get(state_pb2.GetRequest(namespace="default", type=CLUSTERS, id=ids[0])).resource
    assert got == listed[0].resource
    assert got.spec.yaml_spec.startswith("kubernetesversion:")
    assert _code(lambda: state_stub.Get(state_pb2.GetRequest(namespace="default", type=CLUSTERS, id="nope"))) == \
        grpc.StatusCode.NOT_FOUND
    probe = state_stub.Get(state_pb2.GetRequest(namespace="ephemeral", type="SysVersions.system.sidero.dev",
                                                id="current")).resource
    assert specs_pb2.SysVersionSpec.FromString(probe.spec.proto_spec).backend_version
    assert list(state_stub.List(state_pb2.ListRequest(namespace="default", type="Unknowns.example.org"))) == []


def test_refused_kinds(state_stub):
    for type_ in ("Kubeconfigs.omni.sidero.dev", "ClusterSecrets.omni.sidero.dev", "TalosConfigs.omni.sidero.dev"):
        with pytest.raises(grpc.RpcError) as info:
            list(state_stub.List(state_pb2.ListRequest(namespace="default", type=type_)))
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert info.value.details() == "no access is permitted"
        assert _code(lambda t=type_: state_stub.Get(state_pb2.GetRequest(namespace="default", type=t, id="x"))) == \
            grpc.StatusCode.PERMISSION_DENIED


def test_versions_through_create_update_destroy(sim, state_stub):
    watch = StreamReader(state_stub.Watch(watch_request(CLUSTERS, id="lab")))
    watch.next()  # handshake
    assert watch.next().event[0].event_type == state_pb2.DESTROYED  # does not exist yet

    created = state_stub.Create(state_pb2.CreateRequest(resource=_cluster("lab"))).resource
    assert created.metadata.version == "1" and created.metadata.phase == "running" and created.metadata.owner == ""
    assert _code(lambda: state_stub.Create(state_pb2.CreateRequest(resource=_cluster("lab")))) == \
        grpc.StatusCode.ALREADY_EXISTS
    stale = state_pb2.UpdateRequest(new_resource=_cluster("lab", version="7"))
    assert _code(lambda: state_stub.Update(stale)) == grpc.StatusCode.FAILED_PRECONDITION
    foreign = state_pb2.UpdateRequest(new_resource=_cluster("lab", version="1"))
    foreign.options.owner = "SomeController"
    assert _code(lambda: state_stub.Update(foreign)) == grpc.StatusCode.PERMISSION_DENIED
    updated = state_stub.Update(state_pb2.UpdateRequest(new_resource=_cluster("lab", "1", {"env": "lab"}))).resource
    assert updated.metadata.version == "2" and updated.metadata.labels["env"] == "lab"
    assert updated.metadata.created == created.metadata.created
    state_stub.Destroy(state_pb2.DestroyRequest(namespace="default", type=CLUSTERS, id="lab"))
    assert _code(lambda: state_stub.Destroy(state_pb2.DestroyRequest(namespace="default", type=CLUSTERS, id="lab"))) \
        == grpc.StatusCode.NOT_FOUND
    again = state_stub.Create(state_pb2.CreateRequest(resource=_cluster("lab"))).resource
    assert again.metadata.version == "1"  # versions restart on re-creation

    events = [watch.next().event[0] for _ in range(4)]
    assert [(e.event_type, e.resource.metadata.version) for e in events] == [
        (state_pb2.CREATED, "1"), (state_pb2.UPDATED, "2"), (state_pb2.DESTROYED, "2"), (state_pb2.CREATED, "1")]
    watch.cancel()


def test_teardown_and_finalizers(sim, state_stub):
    res = _cluster("fin")
    res.metadata.finalizers.append("SomeController")
    state_stub.Create(state_pb2.CreateRequest(resource=res))
    reply = state_stub.Teardown(state_pb2.TeardownRequest(namespace="default", type=CLUSTERS, id="fin"))
    assert not reply.destroy_ready
    assert _code(lambda: state_stub.Destroy(state_pb2.DestroyRequest(namespace="default", type=CLUSTERS, id="fin"))) \
        == grpc.StatusCode.FAILED_PRECONDITION
    current = state_stub.Get(state_pb2.GetRequest(namespace="default", type=CLUSTERS, id="fin")).resource
    assert current.metadata.phase == "tearingDown" and current.metadata.version == "2"
    current.metadata.ClearField("finalizers")
    state_stub.Update(state_pb2.UpdateRequest(new_resource=current))
    state_stub.Destroy(state_pb2.DestroyRequest(namespace="default", type=CLUSTERS, id="fin"))


def _cluster_query(cluster: str) -> list[resource_pb2.LabelQuery]:
    term = resource_pb2.LabelTerm(key=CLUSTER_LABEL, op=resource_pb2.LabelTerm.EQUAL, value=[cluster])
    return [resource_pb2.LabelQuery(terms=[term])]


def test_etcd_backups_are_listed_per_cluster_only(sim, state_stub):
    stored = sim.call(lambda: {r.id: r.labels[CLUSTER_LABEL] for r in sim.simulator.store.items("external", BACKUPS)})
    cluster = sorted(set(stored.values()))[0]
    with pytest.raises(grpc.RpcError) as info:
        list(state_stub.List(state_pb2.ListRequest(namespace="external", type=BACKUPS)))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    request = state_pb2.ListRequest(namespace="external", type=BACKUPS)
    request.options.label_query.extend(_cluster_query(cluster))
    listed = [r.resource for r in state_stub.List(request)]
    assert [r.metadata.id for r in listed] == sorted(i for i, c in stored.items() if c == cluster)
    assert all(r.metadata.version == "undefined" and r.metadata.labels["omni.sidero.dev/cluster-uuid"]
               for r in listed)
    inverted = state_pb2.ListRequest(namespace="external", type=BACKUPS)
    inverted.options.label_query.extend(_cluster_query(cluster))
    inverted.options.label_query[0].terms[0].invert = True
    with pytest.raises(grpc.RpcError):
        list(state_stub.List(inverted))
    got = state_stub.Get(state_pb2.GetRequest(namespace="external", type=BACKUPS, id=listed[0].metadata.id))
    assert got.resource.metadata.id == listed[0].metadata.id
    assert specs_pb2.EtcdBackupSpec.FromString(got.resource.spec.proto_spec).size > 0


def test_etcd_backup_watch_rules(sim, state_stub):
    cluster = sim.call(lambda: sorted(r.labels[CLUSTER_LABEL] for r in sim.simulator.store.items("external", BACKUPS)))[0]
    expected = sim.call(lambda: sorted(r.id for r in sim.simulator.store.items("external", BACKUPS)
                                       if r.labels[CLUSTER_LABEL] == cluster))
    # Omni answers each unsupported form with UNIMPLEMENTED and the reason (as real Omni does for EtcdBackups).
    refused = {
        "should pass WithBootstrapContents option": watch_request(BACKUPS, "external",
                                                                  label_query=_cluster_query(cluster)),
        "cluster ID must be specified in query": watch_request(BACKUPS, "external", bootstrap_contents=True),
        "watch is not supported": watch_request(BACKUPS, "external", id=expected[0]),
    }
    for reason, request in refused.items():
        reader = StreamReader(state_stub.Watch(request))
        with pytest.raises(grpc.RpcError) as info:
            reader.next()
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert reason in info.value.details()
    reader = StreamReader(state_stub.Watch(
        watch_request(BACKUPS, "external", bootstrap_contents=True, label_query=_cluster_query(cluster))))
    assert reader.next().ByteSize() == 0
    created = [reader.next().event[0] for _ in expected]
    assert [(e.event_type, e.resource.metadata.id) for e in created] == [(state_pb2.CREATED, i) for i in expected]
    boot = reader.next().event[0]
    assert boot.event_type == state_pb2.BOOTSTRAPPED
    assert not boot.HasField("resource") and not boot.HasField("bookmark")
    reader.cancel()
