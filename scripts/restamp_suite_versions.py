"""Carries committed results over a change in how suite versions are computed, rerunning nothing the change
does not touch.

    .venv/bin/python scripts/restamp_suite_versions.py results/reference results/paper [--dry-run]

Until 2026-12-03 a suite's version hashed its module's closure together with the cell runner's, and the cell runner
imports every suite: an edit of the speed suite made every gradients and trajectory result stale. Now a suite's
version leaves the other suites out, and the versions module itself (bench/store/versions.py). The rows' stored
versions were computed by the old rule, so the report would call them all stale. For each results file, this script
checks out the commit that made it (its metadata's `git_sha`) in a temporary worktree and, from that commit's files:

1. recomputes the old rule's version. Equal to the stored one, it proves those files are what ran, even where
   the tree was dirty (a dirty edit inside the closure would change the hash). A file made from a dirty tree
   whose commit does not give its hash is matched to any examined commit that does: the hash pins the bytes;
2. computes the new rule's version from those files. Equal to the current code's, it proves that the code the
   new rule says the result depends on has not changed since.

Only then is the file's `suite_version` rewritten, and its metadata records the old value. Any other file is
left as it is: stale, for the report to warn about and `--resume` to rerun.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.store import versions  # noqa: E402


def _at(root: Path) -> None:
    """Points bench.store.versions at another tree's files."""
    versions.ROOT = root
    versions.closure.cache_clear()
    versions.suite_version.cache_clear()


def old_rule(suite: str) -> str:
    """The rule before: the suite's closure with the cell runner's, every suite and this labelling module in."""
    module = {"audit": "bench.audit.cell"}.get(suite, f"bench.suites.{suite}")
    return versions._hash({f for m in (module, "bench.execute.cell") for f in versions.closure(m, frozenset())})


def versions_at(root: Path, suites: set[str]) -> dict[str, tuple[str, str]]:
    """suite -> (old rule's version, new rule's version) computed from the files under root."""
    _at(root)
    try:
        return {s: (old_rule(s), versions.suite_version(s)) for s in suites}
    finally:
        _at(ROOT)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", type=Path)
    p.add_argument("--dry-run", action="store_true", help="say what would be rewritten, rewrite nothing")
    args = p.parse_args(argv)
    files = sorted(f for folder in args.folders for f in folder.rglob("*.parquet"))
    tables = {f: pq.read_table(f) for f in files}
    metas = {f: json.loads(t.schema.metadata[b"bench"]) for f, t in tables.items()}
    suites = {s for t in tables.values() for s in t.column("suite").to_pylist()}
    current = {s: versions.suite_version(s) for s in suites}
    at_commit = {}
    with tempfile.TemporaryDirectory() as tmp:
        for sha in sorted({m["git_sha"] for m in metas.values()}):
            tree = Path(tmp) / sha
            subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), sha], cwd=ROOT, check=True)
            try:
                at_commit[sha] = versions_at(tree, suites)
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=True)
    new_rule = {(suite, old): new for found in at_commit.values() for suite, (old, new) in found.items()}
    outcome = Counter()
    for f, table in tables.items():
        suite, stored = (table.column(c)[0].as_py() for c in ("suite", "suite_version"))
        new = new_rule.get((suite, stored))
        if stored == current[suite]:
            outcome["already current"] += 1
        elif new is None:
            outcome["left stale: no examined commit holds the files that ran"] += 1
        elif new != current[suite]:
            outcome[f"left stale: {suite} code changed since"] += 1
        else:
            outcome[f"restamped ({suite})"] += 1
            if not args.dry_run:
                meta = {**metas[f], "restamped": {"suite_version": stored, "by": "scripts/restamp_suite_versions.py"}}
                column = pa.array([current[suite]] * table.num_rows, pa.string())
                table = table.set_column(table.schema.get_field_index("suite_version"), "suite_version", column)
                pq.write_table(table.replace_schema_metadata({b"bench": json.dumps(meta).encode()}), f)
    for what, n in sorted(outcome.items()):
        print(f"{n:5d}  {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
