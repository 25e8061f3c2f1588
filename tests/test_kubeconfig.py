"""The kubeconfig pass-through: the simulator's /management.ManagementService/Kubeconfig as Omni answers it
(signed calls, the cluster in the signed metadata, required fields, errors), and the API's
GET /api/v1/clusters/{id}/kubeconfig calling it live over a real gRPC socket from a real uvicorn."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta

import grpc
import httpx
import pytest
import yaml

from omni_client.endpoint import open_channel, parse_endpoint
from omni_client.kubeconfig import KubeconfigError, KubeconfigOptions, fetch_kubeconfig, request_for
from omni_client.signing import ServiceAccountKey, new_service_account
from omni_client.wire import management_pb2, management_pb2_grpc
from simulator.auth import AioSignatureInterceptor, SignatureVerifier
from tests.api_support import ReadModel, resource, serve
from tests.simulator_fixtures import SimulatorThread
from tests.test_api_auth import bearer, token_command

CLUSTER = "payments-nyc-001"  # the first cluster of the seed-0 fleet below
OPTIONS = KubeconfigOptions(user="automation", groups=("ops",), ttl=timedelta(minutes=10))


@pytest.fixture(scope="module")
def account() -> tuple[str, str]:
    return new_service_account("readmodel-api", timedelta(hours=1))


@pytest.fixture(scope="module")
def omni(account) -> Iterator[SimulatorThread]:
    """A simulator that verifies signatures and knows only ``account``'s key."""
    thread = SimulatorThread(seed=0, clusters=2, machines=6,
                             interceptors=[AioSignatureInterceptor(SignatureVerifier([account[1]]))]).start()
    yield thread
    thread.stop()


@pytest.fixture
def channel(omni, account) -> Iterator[grpc.Channel]:
    channel = open_channel(parse_endpoint(f"grpc://{omni.address}"), ServiceAccountKey.from_value(account[0]))
    yield channel
    channel.close()


def test_simulator_issues_a_kubeconfig_naming_the_cluster_and_its_endpoint(channel) -> None:
    config = yaml.safe_load(fetch_kubeconfig(channel, CLUSTER, OPTIONS))
    assert config["kind"] == "Config"
    (cluster,) = config["clusters"]
    assert CLUSTER in cluster["name"]
    assert cluster["cluster"]["server"] == f"https://{CLUSTER}.kubernetes.omni.simulator.invalid"
    (user,) = config["users"]
    assert user["name"].endswith("-automation")
    assert len(user["user"]["token"]) >= 40
    assert config["current-context"] == config["contexts"][0]["name"]


def test_unknown_cluster_is_not_found(channel) -> None:
    with pytest.raises(KubeconfigError, match="NOT_FOUND") as caught:
        fetch_kubeconfig(channel, "no-such-cluster", OPTIONS)
    assert caught.value.reason == "not-found"


def _without_ttl(request: management_pb2.KubeconfigRequest) -> None:
    request.ClearField("service_account_ttl")


def _without_user(request: management_pb2.KubeconfigRequest) -> None:
    request.service_account_user = ""


@pytest.mark.parametrize(("spoil", "metadata", "message"), [
    (_without_ttl, (("cluster", CLUSTER),), "TTL"),
    (_without_user, (("cluster", CLUSTER),), "user is required"),
    (None, (), "cluster name is required"),
], ids=["no-ttl", "no-user", "no-cluster"])
def test_required_fields_are_invalid_arguments(channel, spoil, metadata, message) -> None:
    request = request_for(OPTIONS)
    if spoil is not None:
        spoil(request)
    stub = management_pb2_grpc.ManagementServiceStub(channel)
    with pytest.raises(grpc.RpcError, match=message) as caught:
        stub.Kubeconfig(request, metadata=metadata, timeout=10)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_context_metadata_names_the_cluster_too(channel) -> None:
    stub = management_pb2_grpc.ManagementServiceStub(channel)
    response = stub.Kubeconfig(request_for(OPTIONS), metadata=(("context", CLUSTER),), timeout=10)
    assert CLUSTER in response.kubeconfig.decode()


def test_without_service_account_omni_answers_an_oidc_kubeconfig(channel) -> None:
    stub = management_pb2_grpc.ManagementServiceStub(channel)
    response = stub.Kubeconfig(management_pb2.KubeconfigRequest(), metadata=(("cluster", CLUSTER),), timeout=10)
    (user,) = yaml.safe_load(response.kubeconfig)["users"]
    assert "token" not in user["user"]
    assert user["user"]["exec"]["args"][0] == "oidc-login"


def test_unsigned_and_foreign_calls_are_refused(omni) -> None:
    stranger = ServiceAccountKey.from_value(new_service_account("stranger", timedelta(hours=1))[0])
    for key in (None, stranger):
        channel = open_channel(parse_endpoint(f"grpc://{omni.address}"), key)
        try:
            with pytest.raises(KubeconfigError, match="UNAUTHENTICATED") as caught:
                fetch_kubeconfig(channel, CLUSTER, OPTIONS)
            assert caught.value.reason == "refused"
        finally:
            channel.close()


# -- through the API ---------------------------------------------------------------------------------


@pytest.fixture
def read_model(sqlite_url: str) -> Iterator[str]:
    model = ReadModel(sqlite_url)
    model.apply([resource("Cluster", CLUSTER, {"kubernetes_version": "1.31.1"}),
                 resource("Cluster", "only-here", {"kubernetes_version": "1.31.1"})])
    model.bootstrap_streams()
    yield model.url
    model.close()


def api_env(account) -> dict[str, str]:
    return {"OMNI_SERVICE_ACCOUNT_KEY": account[0], "SIDERO_SERVICE_ACCOUNT_KEY": ""}


def test_api_answers_the_kubeconfig_live(read_model, omni, account) -> None:
    with serve(read_model, "--endpoint", f"grpc://{omni.address}", "--kubeconfig-user", "automation",
               env=api_env(account)) as base:
        url = f"{base}/api/v1/clusters/{CLUSTER}/kubeconfig"
        answer = httpx.get(url, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        assert "etag" not in answer.headers
        body = answer.json()
        assert body["_links"] == {"self": url, "cluster": f"{base}/api/v1/clusters/{CLUSTER}"}
        config = yaml.safe_load(base64.b64decode(body["data"]))
        assert config["clusters"][0]["cluster"]["server"].startswith(f"https://{CLUSTER}.")
        assert config["users"][0]["name"].endswith("-automation")

        raw = httpx.get(url, headers={"Accept": "application/yaml"}, timeout=30)
        assert raw.status_code == 200
        assert raw.headers["content-type"].startswith("application/yaml")
        assert yaml.safe_load(raw.content)["kind"] == "Config"
        # every request asks Omni: a new token each time, nothing cached
        assert yaml.safe_load(raw.content)["users"][0]["user"]["token"] != config["users"][0]["user"]["token"]

        missing = httpx.get(f"{base}/api/v1/clusters/nowhere/kubeconfig", timeout=30)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        not_in_omni = httpx.get(f"{base}/api/v1/clusters/only-here/kubeconfig", timeout=30)
        assert not_in_omni.status_code == 404
        assert "not found in Omni" in not_in_omni.json()["detail"]


def test_api_without_an_endpoint_says_which_option_is_missing(read_model) -> None:
    with serve(read_model, env={"OMNI_ENDPOINT": ""}) as base:
        answer = httpx.get(f"{base}/api/v1/clusters/{CLUSTER}/kubeconfig", timeout=30)
    assert answer.status_code == 404
    assert "--endpoint" in answer.json()["detail"]


def test_api_answers_503_when_omni_is_down(read_model, account) -> None:
    down = SimulatorThread(seed=0, clusters=2, machines=6).start()
    address = down.address
    down.stop()
    with serve(read_model, "--endpoint", f"grpc://{address}", env=api_env(account)) as base:
        answer = httpx.get(f"{base}/api/v1/clusters/{CLUSTER}/kubeconfig", timeout=60)
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "Omni did not answer" in answer.json()["detail"]


def test_serve_refuses_an_endpoint_without_a_key(read_model) -> None:
    with pytest.raises(RuntimeError, match="no service account key"), \
            serve(read_model, "--endpoint", "grpc://127.0.0.1:1",
                  env={"OMNI_SERVICE_ACCOUNT_KEY": "", "SIDERO_SERVICE_ACCOUNT_KEY": ""}):
        pass


def test_kubeconfig_needs_the_sensitive_scope(read_model, omni, account) -> None:
    reader = token_command(read_model, "create", "reader", "--scope", "read").stdout.strip()
    operator = token_command(read_model, "create", "operator", "--scope", "read", "--scope", "sensitive").stdout.strip()
    with serve(read_model, "--auth", "tokens", "--endpoint", f"grpc://{omni.address}",
               env=api_env(account)) as base:
        url = f"{base}/api/v1/clusters/{CLUSTER}/kubeconfig"
        assert httpx.get(url, timeout=30).status_code == 401
        read_only = httpx.get(url, headers=bearer(reader), timeout=30)
        assert read_only.status_code == 403
        assert "sensitive" in read_only.json()["detail"]
        granted = httpx.get(url, headers=bearer(operator), timeout=30)
        assert granted.status_code == 200, granted.text
        assert CLUSTER in base64.b64decode(granted.json()["data"]).decode()
