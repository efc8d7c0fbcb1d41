"""Every class of bad input a new user or a hostile tester tries: exit code 2, one line naming what is valid, no
traceback, and nothing written. Each case is one class (and its kin), checked before any cell runs."""

from __future__ import annotations

import pytest

from bench.cli import main

CASES = [  # (arguments, a phrase the one line must hold)
    # numbers outside float and integer ranges
    (["run", "gradients", "--memory-budget", "1e999GB"], "is not a memory size; e.g. 4GB"),
    (["run", "gradients", "--memory-budget", "-1GB"], "must be a positive memory size"),
    (["run", "gradients", "--memory-budget", "10TB"], "more than this machine's"),
    (["run", "gradients", "--seed", "99999999999999999999999"], "--seed must be an integer from 0 to 2147483647"),
    (["run", "gradients", "--seed", "-1"], "must be an integer from 0 to 2147483647"),
    (["run", "gradients", "--seed", "1.5"], "--seed must be an integer"),
    (["audit", "--seed", "-1"], "must be an integer from 0 to 2147483647"),
    (["run", "gradients", "--n-estimates", "10000000000000"], "from 2 to 100000000"),
    (["run", "gradients", "--n-estimates", "2,3"], "takes one integer, got the list '2,3'"),
    (["run", "gradients", "--truth-rel-se", "nan"], "--truth-rel-se must be a number in (0, 1)"),
    (["run", "gradients", "--truth-max-estimates", "10"], "--truth-max-estimates must be an integer from 2000"),
    (["run", "gradients", "--workers", "1000"], "--workers must be from 1 to"),
    (["run", "gradients", "--depths", "100000"], "depths must be integers from 1 to 32"),
    (["run", "gradients", "--batch-sizes", "0"], "batch sizes must be integers from 1"),
    (["run", "gradients", "--n-samples", "100000"], "n-samples must be integers from 1 to 1024"),
    # NaN, infinities and out-of-range parameters and options
    (["run", "gradients", "--problems", "toy-gaussian:sigma=nan"], "toy-gaussian:sigma=nan must be a finite number"),
    (["run", "gradients", "--problems", "toy-bernoulli:t=nan"], "must be a finite number"),
    (["run", "gradients", "--problems", "toy-gaussian:mu=inf"], "must be a finite number"),
    (["run", "gradients", "--problems", "toy-gaussian:sigma=1e308"], "must be a number > 0 and <= 1e+06"),
    (["run", "gradients", "--estimators", "gumbel-softmax:tau=nan"], "must be a finite number"),
    (["run", "gradients", "--estimators", "gumbel-softmax:tau=1e-30"], "must be a number >= 1e-06"),
    (["run", "gradients", "--estimators", "relax:states=1e9"], "expected an integer"),
    (["run", "gradients", "--estimators", "rodeo:warmup_rows=0"], "must be an integer >= 1 and <= 4096"),
    (["run", "gradients", "--problems", "bsn:width=abc"], "bad value 'abc' for bsn:width: expected an integer"),
    # empty lists
    (["run", "gradients", "--problems", ""], "empty problem list: expected comma-separated names from: chain"),
    (["run", "gradients", "--estimators", ""], "empty estimator list: expected comma-separated names from: arm"),
    (["run", "gradients", "--backend", ""], "empty backend list"),
    (["audit", "--adapters", ""], "empty adapter"),
    # combinations that yield no cell, with why
    (["run", "gradients", "--problems", "toy-gaussian", "--estimators", "disarm"], "toy-gaussian takes"),
    (["run", "gradients", "--problems", "toy-bernoulli", "--estimators", "vimco"], "toy-bernoulli takes"),
    (["run", "gradients", "--problems", "chain:width=17", "--estimators", "exact"], "exact needs an enumerable"),
    (["run", "gradients", "--problems", "sbn-vae:objective=iwae:k=3", "--estimators", "reinforce"], "takes"),
    (["run", "training", "--problems", "toy-bernoulli"], "no training cell"),
    (["run", "training", "--problems", "sbn-vae:variant=linear"], "the training experiments set their own"),
    (["run", "gradients", "--estimators", "rloo", "--n-samples", "1"], "rloo needs n_samples >= 2, got 1"),
    # sizes that cannot fit: the data, the budget, the recursion
    (["run", "gradients", "--problems", "toy-bernoulli:units=100000000"], "must be an integer >= 1 and <= 65536"),
    (["run", "gradients", "--problems", "bsn", "--batch-sizes", "100000"], "larger than the digits data set's 1297"),
    (["run", "gradients", "--problems", "bsn:width=4000", "--depths", "4", "--memory-budget", "256MB"],
     "more than the memory budget"),
    # folders
    (["run", "gradients", "--cache-dir", "/etc/hostname"], "is a file, not a folder"),
    (["report", "--results", "/nonexistent/results"], "is not a folder of results"),
]


@pytest.mark.parametrize("args,phrase", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(args, phrase, tmp_path, capsys):
    out = tmp_path / "out"
    code = main([*args, "--out", str(out)])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("bench: error: ") and phrase in lines[0], err
    assert "Traceback" not in err
    assert not out.exists() or not any(out.rglob("*")), "nothing may be written"


def test_a_report_of_an_empty_folder_is_not_a_success(tmp_path, capsys):
    """A folder with nothing the report can read: a warning, exit 1, and no page that looks like a result."""
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "notes.txt").write_text("not a result")
    code = main(["report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "report")])
    assert code == 1
    assert "nothing to render" in capsys.readouterr().err
