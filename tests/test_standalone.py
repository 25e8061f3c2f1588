"""The repository stands alone: a copy of its files with nothing beside it passes the catalog checks, nothing
in it points outside it, and the suite's own rules about required tools hold."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Text that would read or link the background documents outside the repository.
SIBLING = "sha" + "red"  # the folder beside the checkout, spelled so that this guard does not name it itself
OUTSIDE = (f"../{SIBLING}", f"/work/{SIBLING}", f"{SIBLING}/omni-wire.md", f"{SIBLING}/seed-api.md",
           f"{SIBLING}/DESIGN.md")


def repository_files() -> list[str]:
    """Tracked files plus new files not yet committed (not the ignored ones): what a clone would hold."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                         capture_output=True, check=True, timeout=60).stdout.decode()
    return [name for name in out.split("\0") if name and (REPO / name).is_file()]


def run_pytest(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)


def test_catalog_checks_pass_in_a_copy_with_nothing_beside_it(tmp_path: Path) -> None:
    clone = tmp_path / "omni-readmodel"
    for name in repository_files():
        target = clone / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    assert not (tmp_path / SIBLING).exists()
    # the catalog checks alone: no PostgreSQL test among them, so the CI requirement does not apply
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST") and k != "OMNI_READMODEL_REQUIRE_PG"}
    # The copy's own packages are imported, not this checkout's (the editable install puts it on sys.path too).
    where = subprocess.run([sys.executable, "-c", "import models.catalog, tests.conftest; "
                            "print(models.catalog.__file__); print(tests.conftest.__file__)"],
                           cwd=clone, capture_output=True, text=True, timeout=60, env=env, check=True)
    assert [Path(line).is_relative_to(clone) for line in where.stdout.split()] == [True, True], where.stdout
    result = run_pytest(clone, "-q", "tests/test_catalog.py", env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "6 passed" in result.stdout, result.stdout[-2000:]


def test_nothing_reads_or_links_outside_the_repository() -> None:
    offenders = []
    for name in repository_files():
        if name.startswith("tests/test_standalone.py"):
            continue
        try:
            text = (REPO / name).read_text()
        except UnicodeDecodeError:
            continue
        offenders += [f"{name}: {needle}" for needle in OUTSIDE if needle in text]
    assert offenders == []


def test_documentation_links_stay_inside_the_repository() -> None:
    """Every relative link of the README and docs/ names a file of the repository."""
    import re

    files = set(repository_files())
    assert "docs/architecture.md" in files
    assert "(docs/architecture.md)" in (REPO / "README.md").read_text()
    broken = []
    for name in sorted(n for n in files if n == "README.md" or (n.startswith("docs/") and n.endswith(".md"))):
        for target in re.findall(r"\]\(([^)#\s]+)[^)]*\)", (REPO / name).read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # an absolute URL
            resolved = (REPO / name).parent.joinpath(target).resolve()
            if not resolved.is_relative_to(REPO) or str(resolved.relative_to(REPO)) not in files | {
                    str(Path(f).parent) for f in files}:
                broken.append(f"{name}: {target}")
    assert broken == []


def test_in_ci_a_missing_gpg_fails_the_run(tmp_path: Path) -> None:
    """Outside CI the gpg checks skip with a reason; in CI the run fails at once when gpg is missing."""
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(PATH=str(empty_path), CI="true")
    env.pop("OMNI_READMODEL_REQUIRE_PG", None)
    failed = run_pytest(REPO, "-q", "--collect-only", "tests/test_catalog.py", env=env)
    assert failed.returncode == 4, failed.stdout + failed.stderr  # pytest's usage error
    assert "CI needs gpg for the OpenPGP cross-checks" in failed.stderr, failed.stderr
    env["CI"] = "false"
    relaxed = run_pytest(REPO, "--collect-only", "tests/test_catalog.py", env=env)
    assert relaxed.returncode == 0, relaxed.stdout + relaxed.stderr
    assert "gpg: MISSING, the OpenPGP cross-checks against GnuPG (tests/test_signing.py) are skipped" \
        in relaxed.stdout
