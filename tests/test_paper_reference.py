"""scripts/paper_reference.sh, which made the committed literature-size reference, still runs on this code: each of
its commands parses as the CLI parses it, and together they plan exactly the cells the reference holds, so
`--resume` would skip every one (a dry run: nothing executes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "paper_reference.sh"
REFERENCE = ROOT / "results" / "paper"
# stands in for the interpreter: `-m bench run ...` plans the suite's cells and records them, nothing runs
DRY = """
import json, sys
from bench import cli
args = sys.argv[1:]
if args[0] == "-c":
    exec(args[1])
elif args[:3] == ["-m", "bench", "run"]:
    ns = cli.parser().parse_args(args[2:])
    ns.seed_given, ns.seed = ns.seed is not None, ns.seed or 0  # as cli.main sets them
    cells = cli._grid(ns, ns.suite)
    planned = [[c.problem, dict(c.problem_params).get("variant"), c.estimator, c.backend, c.depth] for c in cells]
    with open(sys.argv[0] + ".log", "a") as f:
        f.write(json.dumps({"suite": ns.suite, "out": ns.out, "resume": ns.resume, "ids": [c.id for c in cells],
                            "cells": planned}) + "\\n")
elif args[:3] != ["-m", "bench", "report"]:
    sys.exit(f"unexpected: {args}")
"""


@pytest.mark.slow  # a minute or two: sixteen interpreters, each planning a suite
def test_every_command_plans_cells(tmp_path):
    fake = tmp_path / "python"
    (tmp_path / "dry.py").write_text(DRY)
    fake.write_text(f'#!/bin/sh\nexec {sys.executable} {tmp_path / "dry.py"} "$@"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PY": str(fake), "OUT": str(tmp_path / "out"), "PYTHONPATH": str(ROOT),
           "SETTLE_S": "0"}  # no waiting for a quiet machine: nothing is timed
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    runs = [json.loads(line) for line in (tmp_path / "dry.py.log").read_text().splitlines()]
    assert [r["suite"] for r in runs] == ["gradients"] * 9 + ["speed"] * 6 + ["trajectory"]
    assert all(r["cells"] and r["resume"] and r["out"] == str(tmp_path / "out") for r in runs)
    grads = {tuple(c) for r in runs if r["suite"] == "gradients" for c in r["cells"]}
    speeds = {tuple(c) for r in runs if r["suite"] == "speed" for c in r["cells"]}
    # every timed configuration has its gradients, so the report's variance x time joins each speed cell
    assert speeds <= grads
    assert {c[0] for c in grads} == {"sbn-vae", "bsn", "categorical-vae", "gaussian-vae", "bnn",
                                      "stochastic-depth", "skip-rnn"}
    assert {c[3] for c in grads} == {"torch", "jax"}
    committed = {p.stem for p in REFERENCE.glob("*/*.parquet")}
    assert committed == {i for r in runs for i in r["ids"]}, "results/paper/ is not what the script makes"


def test_a_failed_step_is_named_and_the_steps_after_it_still_run(tmp_path):
    """A failed cell makes its `bench run` exit 1; the script goes on to the next suites and the report, then
    names the failed steps and exits 1, instead of stopping at the first."""
    log = tmp_path / "calls"
    fake = tmp_path / "python"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\ncase "$*" in *"--quiet gradients"*) exit 1;; esac\n')
    fake.chmod(0o755)
    env = {**os.environ, "PY": str(fake), "OUT": str(tmp_path / "out"), "SETTLE_S": "0"}
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    calls = log.read_text().splitlines()
    assert done.returncode == 1
    assert sum("--quiet gradients" in c for c in calls) == 9
    assert sum("--quiet speed" in c for c in calls) == 6 and "bench report" in calls[-1]
    assert done.stderr.count("failed: gradients") == 9 and "failed: speed" not in done.stderr
