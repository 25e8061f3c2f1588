"""API throughput over HTTP with wrk, each figure a ratio against a baseline served in the same run.

A 10k-machine fleet; the API as ``omni-readmodel serve`` (1 worker, uvloop, httptools); wrk on loopback
(``-t1 -c32``, 1,000 different machine ids round robin). Targets and their baselines:

- item ``GET /api/v1/machines/{id}`` >= 0.65 of bare Falcon returning constant bytes of the same size (with
  the default item cache, and again with ``--item-cache-mb 0`` so every request reads its row);
- ``GET /api/v1/machines?limit=100`` >= 0.35 of bare Falcon returning a body of the same size (with the
  default page cache, and again with ``--page-cache-mb 0`` so every request reads its rows);
- 304 answers (``If-None-Match``) >= 0.80 of bare Falcon returning constant bytes (``{}``);
- item GET with a valid bearer token (``serve --auth tokens``, wrk ``-H Authorization``) >= 0.95 of the
  same requests to the same API without auth;
- item GET through ``serve --workers 2`` >= 1.60 of the same API with one worker, on this machine's two
  cores with wrk (one thread, not pinned) on them too; then every worker's resident set <= 120 MB;
- on PostgreSQL, item GET with ``--item-cache-mb 0`` (every request reads its row) >= 0.90 of a raw psycopg
  handler doing the same indexed lookup with one kept cursor and a prepared statement; the default API (item
  cache on) against the same handler is printed too (needs
  ``OMNI_READMODEL_BENCH_PG_URL`` or ``OMNI_READMODEL_TEST_PG_URL``, a server it may create databases on).

Target and baseline alternate (``BENCH_API_ROUNDS`` rounds of ``BENCH_API_SECONDS`` each) and the best run
of each is compared (the median ratio is printed too): the machine is shared and noisy, so only ratios
measured side by side mean anything. Each note also gives the server's CPU time per request (median over
the runs, from /proc): on a busy machine it moves much less than throughput, and for a CPU-bound server
its inverse ratio is the throughput ratio an idle machine would show; wrk's own CPU per request is
given too (with two workers it competes with them for the two cores). ``BENCH_API_ONLY=item,list,304,
auth,workers,pg`` runs only those comparisons (development runs).
Run: ``python -m bench api_http`` (needs ``wrk``: ``apt-get install -y wrk``).
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from bench import Result, setting
from bench._fleet import build, machine_id
from bench._postgres import PG_ENVS, scratch_database, server_url

ROOT = Path(__file__).resolve().parents[1]
MACHINES = int(setting("BENCH_API_MACHINES", 10000, 1000))
ROUNDS = int(setting("BENCH_API_ROUNDS", 5, 1))
SECONDS = int(setting("BENCH_API_SECONDS", 3, 2))
CONNECTIONS = 32
WORKERS = 2
_PIDS: dict[str, int] = {}  # base URL -> process id of its server (one worker: the server process itself)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _process(command: list[str], url: str, env: dict[str, str] | None = None) -> Iterator[str]:
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited: {process.stderr.read()}")
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{command} did not start") from None
                time.sleep(0.1)
        base = url.rsplit("/", 1)[0] if url.count("/") > 2 else url
        _PIDS[base] = process.pid
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def api_server(database_url: str, *extra: str, workers: int = 1) -> contextmanager:
    port = _free_port()
    command = [sys.executable, "-m", "omni_readmodel", "--log-level", "WARNING", "serve", "--database-url",
               database_url, "--port", str(port), "--workers", str(workers), *extra]
    return _process(command, f"http://127.0.0.1:{port}/livez")


def baseline_server(factory: str, **env: str) -> contextmanager:
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", f"bench._apps:{factory}", "--port", str(port),
               "--workers", "1", "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    return _process(command, f"http://127.0.0.1:{port}/", env)


def _lua(paths: list[str], etags: list[str] | None, directory: str) -> str:
    """A wrk script cycling through ``paths`` (with matching If-None-Match headers when given)."""
    quoted = ",".join('"' + p.replace('"', '\\"') + '"' for p in paths)
    lines = [f"local paths = {{{quoted}}}"]
    if etags:
        lines.append("local etags = {" + ",".join('"' + e.replace('"', '\\"') + '"' for e in etags) + "}")
    # every request formatted once, in init (after wrk has set Host and the -H headers): formatting it per
    # request made wrk's CPU per request a third of the server's, CPU the server then lacks on two cores
    lines += ["local requests = {}", "local i = 0", "init = function(args)", "  for k = 1, #paths do"]
    if etags:
        lines.append('    requests[k] = wrk.format("GET", paths[k], {["If-None-Match"] = etags[k]})')
    else:
        lines.append('    requests[k] = wrk.format("GET", paths[k])')
    lines += ["  end", "end", "request = function()", "  i = i % #requests + 1", "  return requests[i]", "end"]
    path = Path(directory) / f"paths-{uuid.uuid4().hex[:8]}.lua"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _children(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return children


def _tree(pid: int) -> list[int]:
    """A process and all its descendants (``serve --workers N``: the supervisor and its workers)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        try:
            todo += _children(current)
        except OSError:  # exited meanwhile
            pass
    return pids


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants so far (/proc/PID/stat fields 14 and 15)."""
    total = 0
    for member in _tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def worker_rss(base: str) -> list[float]:
    """The resident set (MB) of each worker process of the server at ``base``: the process itself with one
    worker, else its children that run the application (uvicorn spawns them with multiprocessing)."""
    pid = _PIDS[base]
    workers = [c for c in _children(pid)
               if "resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="replace")]
    sizes = []
    for member in workers or [pid]:
        status = Path(f"/proc/{member}/status").read_text()
        sizes.append(int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024)
    return sizes


def wrk(base: str, script: str | None = None, path: str = "/",
        headers: tuple[str, ...] = ()) -> tuple[float, float, float]:
    """Requests per second over SECONDS, the server's and wrk's CPU microseconds per request; any non-2xx/3xx
    answer fails the benchmark. ``headers`` go to every request (``-H``; the scripts' ``wrk.format`` calls pass no
    headers of their own, so wrk adds them)."""
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS}s"] + (["-s", script] if script else [])
    command += [arg for header in headers for arg in ("-H", header)] + [base + path]
    cpu_before = _cpu_seconds(_PIDS[base])
    wrk_before = _children_cpu()
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = _cpu_seconds(_PIDS[base]) - cpu_before
    wrk_cpu = _children_cpu() - wrk_before
    if "Non-2xx or 3xx" in output:
        raise RuntimeError(f"wrk saw error answers:\n{output}")
    requests = max(1, int(re.search(r"(\d+) requests in", output).group(1)))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    return rate, cpu / requests * 1e6, wrk_cpu / requests * 1e6


def _children_cpu() -> float:
    """CPU seconds of this process's waited-for children (wrk runs are the only ones between two calls)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def compare(name: str, target: tuple, baseline: tuple,
            minimum: float, baseline_name: str) -> Result:
    """Alternate target and baseline runs (``wrk`` arguments: base, script, path[, headers]); compare the
    best run of each. Other load on the machine only
    ever slows a run down, so the best of several alternating runs is the least disturbed estimate; the
    ratio of the medians is reported beside it."""
    ours, theirs, our_cpu, their_cpu, wrk_cpu = [], [], [], [], []
    for _ in range(ROUNDS):
        rate, cpu, client = wrk(*baseline)
        theirs.append(rate)
        their_cpu.append(cpu)
        rate, cpu, client = wrk(*target)
        ours.append(rate)
        our_cpu.append(cpu)
        wrk_cpu.append(client)
    value, base = max(ours), max(theirs)
    ratio = value / base
    median_ratio = statistics.median(ours) / statistics.median(theirs)
    cpu, cpu_base = statistics.median(our_cpu), statistics.median(their_cpu)
    return Result(name, value, "req/s", base, f"req/s {baseline_name}", f">= {minimum:.2f}", ratio >= minimum,
                  note=f"median ratio {median_ratio:.3f}; server CPU per request {cpu:.0f} vs {cpu_base:.0f} us "
                  f"(ratio {cpu_base / cpu:.3f}); wrk CPU per request {statistics.median(wrk_cpu):.0f} us; runs " + "/".join(f"{v:,.0f}" for v in ours) + " vs "
                  + "/".join(f"{v:,.0f}" for v in theirs))


def _check(response: httpx.Response, status: int = 200) -> httpx.Response:
    if response.status_code != status:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text[:200]}")
    return response


def sqlite_results(directory: str) -> list[Result]:
    url = f"sqlite:///{directory}/fleet.db"
    build(url, MACHINES)
    ids = [machine_id(i) for i in range(0, MACHINES, max(1, MACHINES // 1000))]
    item_paths = [f"/api/v1/machines/{mid}" for mid in ids]
    results = []
    with ExitStack() as stack:
        api = stack.enter_context(api_server(url))
        item = _check(httpx.get(api + item_paths[0]))
        page = _check(httpx.get(api + "/api/v1/machines?limit=100"))
        etags = [_check(httpx.get(api + p)).headers["etag"] for p in item_paths]
        _check(httpx.get(api + item_paths[0], headers={"If-None-Match": etags[0]}), 304)
        bare_item = stack.enter_context(baseline_server("bare", BENCH_BODY_SIZE=str(len(item.content))))
        bare_page = stack.enter_context(baseline_server("bare", BENCH_BODY_SIZE=str(len(page.content))))
        bare_tiny = stack.enter_context(baseline_server("bare", BENCH_BODY_SIZE="2"))
        # the baselines run the same wrk script shape (a Lua function per request costs wrk time too)
        items = _lua(item_paths, None, directory)
        bare_items = _lua([f"/bare/{mid}" for mid in ids], None, directory)
        not_modified = _lua(item_paths, etags, directory)
        bare_not_modified = _lua([f"/bare/{mid}" for mid in ids], etags, directory)
        if _wanted("item"):
            results.append(compare(f"item GET /api/v1/machines/{{id}} ({len(item.content)} B)", (api, items, ""),
                                   (bare_item, bare_items, ""), 0.65, "bare Falcon, same size"))
            # the same items with the item cache off: every request reads its row (a kind that churns)
            rows = stack.enter_context(api_server(url, "--item-cache-mb", "0"))
            results.append(compare("item GET /api/v1/machines/{id}, item cache off", (rows, items, ""),
                                   (bare_item, bare_items, ""), 0.65, "bare Falcon, same size"))
        if _wanted("list"):
            results.append(compare(f"GET /api/v1/machines?limit=100 ({len(page.content):,} B)",
                                   (api, None, "/api/v1/machines?limit=100"), (bare_page, None, "/bare"), 0.35,
                                   "bare Falcon, same size"))
            # the same list with the page cache off: every request reads its 101 rows from SQLite
            uncached = stack.enter_context(api_server(url, "--page-cache-mb", "0"))
            results.append(compare("GET /api/v1/machines?limit=100, page cache off",
                                   (uncached, None, "/api/v1/machines?limit=100"), (bare_page, None, "/bare"), 0.35,
                                   "bare Falcon, same size"))
        if _wanted("304"):
            results.append(compare("304 If-None-Match on /api/v1/machines/{id}", (api, not_modified, ""),
                                   (bare_tiny, bare_not_modified, ""), 0.80, "bare Falcon, 2 B body"))
        if _wanted("auth"):
            results.append(auth_result(stack, url, api, items, item_paths[0]))
        if _wanted("workers"):
            results += workers_results(stack, url, api, items)
    return results


def _wanted(part: str) -> bool:
    """``BENCH_API_ONLY=item,workers,...`` runs only those comparisons (development runs); default all."""
    only = os.environ.get("BENCH_API_ONLY")
    return not only or part in only.split(",")


def workers_results(stack: ExitStack, url: str, api: str, items: str) -> list[Result]:
    """Item GET through ``serve --workers 2`` against the same API with one worker, then each worker's
    resident set after that load and after everything the one-worker server answered above.

    wrk (one thread, unpinned) runs on the same two cores: with one worker it mostly has a core of its own,
    with two it takes its CPU from the workers, so the ratio is what this machine really serves, not the
    scaling of the server alone (the note gives wrk's CPU per request beside the server's)."""
    pair = stack.enter_context(api_server(url, workers=WORKERS))
    for _ in range(3 * WORKERS):  # every worker has answered and opened its connection before the timing
        _check(httpx.get(pair + "/api/v1/machines?limit=1", headers={"Connection": "close"}))
    scaling = compare(f"item GET /api/v1/machines/{{id}}, serve --workers {WORKERS}", (pair, items, ""),
                      (api, items, ""), 1.60, "same API, 1 worker")
    sizes = worker_rss(pair) + worker_rss(api)
    largest = max(sizes)
    return [scaling, Result(f"worker RSS after the load, {MACHINES:,} machines", largest, "MB",
                            target="<= 120 MB", passed=largest <= 120,
                            note="largest of: " + ", ".join(f"{s:.0f}" for s in sizes)
                            + f" MB ({WORKERS} workers after item GETs; then the 1-worker server after every "
                            "comparison above)")]


def auth_result(stack: ExitStack, url: str, api: str, items: str, probe_path: str) -> Result:
    """Item GET through ``serve --auth tokens`` with a valid token against the same API without auth."""
    from models import tokens
    from models.db import create_engine

    engine = create_engine(url)
    with engine.begin() as connection:
        token = tokens.create(connection, f"bench-{uuid.uuid4().hex[:8]}", [tokens.READ], None)
    engine.dispose()
    secured = stack.enter_context(api_server(url, "--auth", "tokens"))
    header = f"Authorization: Bearer {token}"
    _check(httpx.get(secured + probe_path), 401)
    _check(httpx.get(secured + probe_path, headers={"Authorization": f"Bearer {token}"}))
    return compare("item GET /api/v1/machines/{id} with a bearer token", (secured, items, "", (header,)),
                   (api, items, ""), 0.95, "same API, no auth")


def postgres_results(directory: str) -> list[Result]:
    server = server_url()
    if not server:
        return [Result("PostgreSQL item GET", 0, "req/s", note=f"skipped: set {PG_ENVS[0]}")]
    with scratch_database(server, "omni_rm_bench_") as url:
        build(url, MACHINES)
        ids = [machine_id(i) for i in range(0, MACHINES, max(1, MACHINES // 1000))]
        with ExitStack() as stack:
            api = stack.enter_context(api_server(url))
            rows = stack.enter_context(api_server(url, "--item-cache-mb", "0"))
            raw = stack.enter_context(baseline_server("raw", BENCH_DATABASE_URL=url))
            for base in (api, rows):
                _check(httpx.get(f"{base}/api/v1/machines/{ids[0]}"))
            _check(httpx.get(f"{raw}/raw/{ids[0]}"))
            ours = _lua([f"/api/v1/machines/{mid}" for mid in ids], None, directory)
            theirs = _lua([f"/raw/{mid}" for mid in ids], None, directory)
            return [compare("PostgreSQL item GET /api/v1/machines/{id}, item cache off", (rows, ours, ""),
                            (raw, theirs, ""), 0.90, "raw psycopg handler, same lookup"),
                    compare("PostgreSQL item GET /api/v1/machines/{id} (item cache on)", (api, ours, ""),
                            (raw, theirs, ""), 0.90, "raw psycopg handler, same lookup")]


def run() -> list[Result]:
    if shutil.which("wrk") is None:
        return [Result("api_http", 0, "", note="skipped: wrk is not installed (apt-get install -y wrk)")]
    directory = tempfile.mkdtemp(prefix="omni-readmodel-bench-")
    try:
        return sqlite_results(directory) + (postgres_results(directory) if _wanted("pg") else [])
    finally:
        shutil.rmtree(directory, ignore_errors=True)
