"""A run never writes over the committed reference: `python -m bench all` with its default folders (what `make
bench` runs) writes results/<machine>/ and reports/<machine>/, which git ignores, and leaves `git status` clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from bench.store.meta import machine

ROOT = Path(__file__).resolve().parent.parent


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def test_a_run_with_default_folders_leaves_git_status_clean(tmp_path):
    """A copy of this checkout (tracked and untracked-but-not-ignored files, committed in a fresh repository)
    runs `bench all` on a tiny grid with no --out and no --report-out."""
    repo = tmp_path / "repo"
    for rel in _git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0"):
        if rel and (ROOT / rel).is_file():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, repo / rel)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "copy")
    reference = sorted(p.relative_to(repo) for p in (repo / "results").rglob("*") if p.is_file())

    run = subprocess.run([sys.executable, "-m", "bench", "all", "--problems", "toy-bernoulli", "--estimators",
                          "reinforce", "--backend", "torch", "--n-estimates", "200", "--quiet"],
                         cwd=repo, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert _git(repo, "status", "--porcelain") == ""
    here = machine()
    assert list((repo / "results" / here).glob("*.parquet")), "the run's cells are in results/<machine>/"
    assert (repo / "reports" / here / "index.md").is_file(), "its report is in reports/<machine>/"
    run_folder = repo / "results" / here
    assert sorted(p.relative_to(repo) for p in (repo / "results").rglob("*") if p.is_file()
                  and run_folder not in p.parents) == reference, "nothing outside results/<machine>/ changed"
