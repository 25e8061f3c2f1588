"""The deployment files in deploy/: every command line they run parses with the real CLI, the manifests
and the dashboard parse, the dashboard's queries name metrics the processes export, the systemd units pass
``systemd-analyze verify`` and keep their hardening, the image recipe stays non-root with a health check."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from omni_readmodel.cli import build_parser

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
MANIFESTS = sorted(p for p in (DEPLOY / "kubernetes").glob("*.yaml") if p.name != "kustomization.yaml")
DASHBOARD = DEPLOY / "grafana" / "omni-readmodel.json"
HARDENING = ("DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "StateDirectory=omni-readmodel")


def unit_command_lines() -> list[list[str]]:
    lines = []
    for unit in UNITS:
        for line in unit.read_text().splitlines():
            if line.startswith("ExecStart="):
                argv = shlex.split(line.removeprefix("ExecStart="))
                assert argv[0].endswith("/omni-readmodel"), line
                lines.append(argv[1:])
    return lines


def containerfile_command_lines() -> list[list[str]]:
    text = (DEPLOY / "Containerfile").read_text()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))
    assert entrypoint == ["omni-readmodel"]
    lines = [json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))]
    # the commands the header comment tells people to run
    lines += [shlex.split(m.group(1)) for m in re.finditer(r"omni-readmodel ((?:watch|serve) [^\\\n]*)", text)]
    return lines


def manifests() -> list[dict]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifest_command_lines() -> list[list[str]]:
    return [container["args"] for doc in manifests() if doc["kind"] == "Deployment"
            for container in doc["spec"]["template"]["spec"]["containers"]]


def all_command_lines() -> list[list[str]]:
    return unit_command_lines() + containerfile_command_lines() + manifest_command_lines()


@pytest.mark.parametrize("argv", all_command_lines(), ids=lambda argv: " ".join(argv))
def test_every_command_line_in_deploy_parses(argv: list[str]) -> None:
    """Flags that do not exist or values outside their choices make argparse exit 2."""
    try:
        args = build_parser(argv).parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"omni-readmodel {' '.join(argv)} does not parse (exit {exc.code})")
    assert args.command in ("watch", "serve")


def test_deploy_runs_both_processes_everywhere() -> None:
    for lines in (unit_command_lines(), manifest_command_lines()):
        assert sorted(argv[0] for argv in lines) == ["serve", "watch"]


def test_api_beyond_loopback_always_has_auth() -> None:
    for argv in all_command_lines():
        if argv[0] == "serve" and "--host" in argv and argv[argv.index("--host") + 1] != "127.0.0.1":
            assert argv[argv.index("--auth") + 1] == "tokens", argv


def test_kubernetes_manifests() -> None:
    docs = manifests()
    by_kind: dict[str, list[dict]] = {}
    for doc in docs:
        assert {"apiVersion", "kind", "metadata"} <= doc.keys()
        by_kind.setdefault(doc["kind"], []).append(doc)
    assert len(by_kind["PodDisruptionBudget"]) == 2
    assert {s["metadata"]["name"] for s in by_kind["Secret"]} >= {"omni-service-account", "omni-readmodel-database"}
    deployments = {d["metadata"]["name"]: d for d in by_kind["Deployment"]}
    watcher, api = deployments["omni-readmodel-watcher"], deployments["omni-readmodel-api"]
    assert watcher["spec"]["replicas"] == 2  # leader + hot standby on the PostgreSQL writer lock
    api_container = api["spec"]["template"]["spec"]["containers"][0]
    assert api_container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert api_container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for deployment in deployments.values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    services = {s["spec"]["selector"]["app.kubernetes.io/component"] for s in by_kind["Service"]}
    assert services == {"api"}
    kustomization = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in MANIFESTS)


def exported_metric_names() -> set[str]:
    """Every metric name the watcher and the API register, as Prometheus exposes them."""
    code = (
        "import json, prometheus_client as p\n"
        "import watcher.metrics, api.metrics\n"
        "suffixes = {'counter': ['_total'], 'histogram': ['_bucket', '_sum', '_count'], 'gauge': ['']}\n"
        "names = set()\n"
        "for metric in p.REGISTRY.collect():\n"
        "    names.update(metric.name + s for s in suffixes.get(metric.type, ['']))\n"
        "print(json.dumps(sorted(names)))\n"
    )
    # a fresh interpreter: no PROMETHEUS_MULTIPROC_DIR, nothing registered by other tests
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                            env={"PATH": "/usr/bin:/bin"})
    return set(json.loads(result.stdout))


def test_dashboard_queries_name_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert len(exprs) >= 10
    exported = exported_metric_names()
    used = {name for expr in exprs for name in re.findall(r"\bomni_readmodel_[a-z_]+", expr)}
    assert used, exprs
    assert not used - exported, f"dashboard names metrics nobody exports: {sorted(used - exported)}"
    for needed in ("lag", "events_applied", "streams_bootstrapped", "responses_total", "request_duration"):
        assert any(needed in name for name in used), needed


def test_prometheus_example_parses() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "scrape.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["omni-readmodel-api"]["authorization"]["type"] == "Bearer"


def test_containerfile_runs_unprivileged_with_a_health_check() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    user = re.findall(r"^USER (\S+)$", text, re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/readyz", text, re.M)
    for package in ("omni_readmodel", "omni_client", "models", "watcher", "api", "migrations"):
        assert f"COPY {package} " in text, package


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_unit_is_hardened_and_verifies(unit: Path, tmp_path: Path) -> None:
    text = unit.read_text()
    for directive in HARDENING:
        assert re.search(rf"^{re.escape(directive)}$", text, re.M), directive
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    # verify checks that ExecStart exists: point it at this interpreter's installed command
    command = Path(sys.executable).parent / "omni-readmodel"
    copy = tmp_path / unit.name
    copy.write_text(text.replace("/opt/omni-readmodel/bin/omni-readmodel", str(command)))
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if unit.name in line or "Unknown" in line or "Failed" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr
