"""The fleet page (``/ui/``) in a real browser against the real stack: the simulator (Omni over gRPC), the
watcher and ``omni-readmodel serve``, one of each for the module, Debian's ``chromium`` driven headless by
Playwright (never a downloaded browser).

Checks: no console error and no request outside the API's origin; the timeline shows exactly the
machines of a cluster (from the simulator's own export) and a bar's colors are the states the history
API reports; a change made through the simulator's control surface reaches the page without a reload;
clicking a row shows its versions and a diff equal to ``/diff``. Screenshots of the overview, the
timeline and the panel, and the page's first-render time (``performance`` marks), are written to
``test-artifacts/ui/``. Waits are bounded polls, never timed assertions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from models import migrate
from models.catalog import LABEL_CLUSTER
from models.db import create_engine
from tests.api_support import ROOT, serve, stop
from tests.conftest import in_ci
from tests.simulator_fixtures import SimulatorProcess
from tests.test_api_e2e import watcher_command

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "ui"
WAIT = 30.0

if not Path(CHROMIUM).exists() and not in_ci():
    pytest.skip(f"the browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need Playwright (pip install "
                                                            "'.[test]'); no browser download is needed")


def wait_until(condition: Callable[[], object], what: str, timeout: float = WAIT) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


class Stack:
    def __init__(self, simulator: SimulatorProcess, base: str) -> None:
        self.simulator = simulator
        self.base = base
        self.http = httpx.Client(base_url=base, timeout=30)

    def json(self, path: str, **params) -> object:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    def head(self) -> int:
        return int(self.http.get("/api/v1/kubernetes-versions?limit=1").headers["x-readmodel-revision"])

    def settled(self) -> int:
        """The head once it stops moving (the watcher caught up with the simulator)."""
        def still() -> int | None:
            before = self.head()
            time.sleep(0.4)
            return before if self.head() == before else None
        return wait_until(still, "the read model to settle")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("ui")
    url = f"sqlite:///{tmp / 'readmodel.db'}"
    # the demo's fleet (omni-readmodel demo: 200 machines, 10 clusters, seed 1): the first render is its
    simulator = SimulatorProcess("--no-auth", "--machines", "200", "--clusters", "10", "--seed", "1")
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    log = (tmp / "watcher.log").open("w")
    watcher = subprocess.Popen(watcher_command(f"http://{simulator.address}", url), cwd=ROOT,
                               env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        with serve(url) as base:
            stack = Stack(simulator, base)
            wait_until(lambda: watcher.poll() is None and stack.http.get("/readyz").status_code == 200, "/readyz",
                       timeout=90)
            stack.simulator.control("POST", "/churn/apply?events=60")  # some history to show
            stack.settled()
            yield stack
    finally:
        stop(watcher, timeout=30)
        simulator.terminate()
        log.close()


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[object]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


class Page:
    """One tab, with every console error and every request it made."""

    def __init__(self, browser: object, base: str) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.base = base
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.problems: list[str] = []  # API answers >= 400 (the panel shows them; Chrome logs them as errors)
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(f"{r.status} {r.url}"))

    def rows(self) -> list[dict]:
        return self.page.eval_on_selector_all("#rows .row", "rows => rows.map(r => ({id: r.dataset.id, "
                                              "changes: Number(r.dataset.changes), state: r.dataset.state}))")

    def check_clean(self, answered: int = 0) -> None:
        """No console error but ``answered`` API problems the page asked for (and showed)."""
        assert len(self.problems) == answered, self.problems
        assert self.errors[answered:] == [] and all("status of 4" in e for e in self.errors[:answered]), self.errors
        assert [u for u in self.requests if not u.startswith(self.base + "/")] == []


@pytest.fixture(scope="module")
def page(browser: object, stack: Stack) -> Iterator[Page]:
    tab = Page(browser, stack.base)
    try:
        yield tab
    finally:
        tab.page.close()


def _state(document: dict | None) -> str | None:
    """The timeline's machine state rule (models/timeline.py) applied to a machine document."""
    if document is None:
        return None
    if not document.get("connected"):
        return "disconnected"
    return "maintenance" if document.get("maintenance") else "connected"


def test_the_page_shows_exactly_a_clusters_machines(page: Page, stack: Stack) -> None:
    export = stack.simulator.control("GET", "/export")
    members: dict[str, set[str]] = {}
    for record in export:
        if record["type"].startswith("ClusterMachines."):
            members.setdefault(record["labels"].get(LABEL_CLUSTER, ""), set()).add(record["id"])
    # the smallest cluster: every row is on screen (the list draws only the visible rows)
    cluster = min((c for c in members if c), key=lambda c: (len(members[c]), c))
    page.page.goto(f"{stack.base}/ui/?range=1h")
    page.page.wait_for_selector("#rows .row")
    page.page.wait_for_selector("#card-count svg")
    marks = page.page.evaluate("Object.fromEntries(performance.getEntriesByType('mark').map(m => [m.name, m.startTime]))")
    (ARTIFACTS / "timings.json").write_text(json.dumps(marks, indent=1))
    print(f"first meaningful render on the demo fleet: {marks.get('timeline-rendered', float('nan')):.0f} ms "
          "after navigation start")
    page.page.locator("#overview").screenshot(path=str(ARTIFACTS / "overview.png"))
    page.page.locator("#timeline").screenshot(path=str(ARTIFACTS / "timeline.png"))

    page.page.fill("#f-cluster", cluster)
    wait_until(lambda: {row["id"] for row in page.rows()} == members[cluster], f"the machines of {cluster}")
    assert page.page.get_attribute("#timeline", "data-total") == str(len(members[cluster]))
    assert f"cluster={cluster}" in page.page.url  # shareable

    # a bar's colors are the states the history API reports
    machine = sorted(members[cluster])[0]
    versions = stack.json(f"/api/v1/machines/{quote(machine, safe='')}/history")
    newest = _state(versions[0]["document"]) if versions[0]["event"] != "destroyed" else None
    row = page.page.locator(f'#rows .row[data-id="{machine}"]')
    segments = row.locator("rect.seg")
    states = segments.evaluate_all("rects => rects.map(r => r.dataset.state)")
    assert states and states[-1] == newest
    assert set(states) <= {_state(v["document"]) for v in versions if v["event"] != "destroyed"}
    swatches = page.page.eval_on_selector_all(
        "#legend .key[data-state]", "keys => Object.fromEntries(keys.map(k => [k.dataset.state, "
        "getComputedStyle(k.querySelector('.swatch')).backgroundColor]))")
    fills = segments.evaluate_all("rects => rects.map(r => [r.dataset.state, getComputedStyle(r).fill])")
    assert all(fill == swatches[state] for state, fill in fills), (fills, swatches)
    page.check_clean()


def test_a_change_reaches_the_page_without_reload(page: Page, stack: Stack) -> None:
    page.page.fill("#f-cluster", "")
    page.page.wait_for_function("document.querySelector('#live').dataset.state === 'live'")
    page.page.evaluate("window.notReloaded = true")
    before = stack.head()
    produced = stack.simulator.control("POST", "/churn/apply?events=20")
    assert produced["produced"] >= 20
    head = wait_until(lambda: (h := stack.head()) > before and h, "the watcher to apply the churn")
    head = max(head, stack.settled())
    page.page.wait_for_function(f"Number(document.querySelector('#timeline').dataset.revision) >= {head}",
                                timeout=15_000)
    assert page.page.evaluate("window.notReloaded") is True

    # what the page shows is what the API says at that revision, row by row
    shown = {row["id"]: (row["changes"], row["state"]) for row in page.rows()}
    api = stack.json("/api/v1/timeline", collection="machines", **{"from": "1h"}, limit="200")
    expected = {row["id"]: (row["changes"], row["state"] or "gone") for row in api["rows"] if row["id"] in shown}
    assert shown and shown == expected
    page.check_clean()


def test_a_row_opens_its_versions_and_diff(page: Page, stack: Stack) -> None:
    busiest = max(page.rows(), key=lambda row: row["changes"])
    page.page.locator(f'#rows .row[data-id="{busiest["id"]}"]').click()
    page.page.wait_for_selector("#panel:not([hidden]) #panel-versions tr")
    versions = stack.json(f"/api/v1/machines/{quote(busiest['id'], safe='')}/history")
    shown = page.page.eval_on_selector_all("#panel-versions tr", "rows => rows.map(r => Number(r.dataset.revision))")
    assert shown == [v["revision"] for v in versions][:100]
    page.page.locator("#panel").screenshot(path=str(ARTIFACTS / "panel.png"))
    if len(versions) > 1:
        page.page.check("input[name=diff-mode][value=patch]")
        page.page.wait_for_selector("#diff pre.patch, #diff p.muted, #diff p.error")
        answer = stack.http.get(f"/api/v1/machines/{quote(busiest['id'], safe='')}/diff",
                                params={"from": str(versions[1]["revision"]), "to": str(versions[0]["revision"])})
        if answer.status_code == 200:
            assert json.loads(page.page.get_attribute("#diff", "data-patch") or "[]") == answer.json()
        else:  # e.g. 409: the older version is inside the first bootstrap; the page says what the API said
            assert page.page.text_content("#diff p.error") == answer.json()["detail"]
    assert "resource=" in page.page.url
    page.page.keyboard.press("Escape")
    page.page.wait_for_selector("#panel", state="hidden")
    page.check_clean(answered=int(len(versions) > 1 and answer.status_code != 200))


def test_screenshots_are_artifacts() -> None:
    for name in ("overview.png", "timeline.png", "panel.png"):
        assert (ARTIFACTS / name).stat().st_size > 1000, name
    assert shutil.which("chromium") or Path(CHROMIUM).exists()
