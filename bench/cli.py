"""`python -m bench {list,run,report,audit,all}`: argparse subcommands. Bad input: one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import estimators
from bench import executors, report, sweep
from bench.audit import PROBLEMS as AUDIT_PROBLEMS
from bench.budget import default_budget, parse_bytes
from bench.claims import CLAIMS
from bench.experiments import EXPERIMENTS
from bench.meta import REPORTS, RESULTS, reports_folder, results_folder
from bench.problems import PROBLEMS, model_of, parse_value
from bench.problems.data import DATASETS, DataError, load
from bench.sweep import PRESETS, SUITES
from estimators.spec import OPTION_RANGES

DEFAULT_BACKENDS = ("torch", "jax")  # torch-compile on request: compiling a cell takes seconds to a minute on CPU


class UsageError(Exception):
    """Bad command-line input: reported as one line and exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _names(text: str, valid: list[str], what: str) -> list[str]:
    items = [s.strip() for s in text.split(",")]
    if not all(items):
        raise UsageError(f"malformed {what} list {text!r}: expected comma-separated names")
    bad = [s for s in items if s not in valid]
    if bad:
        raise UsageError(f"unknown {what} {', '.join(bad)}; valid: {', '.join(valid)}")
    return items


def _ints(text: str, what: str, minimum: int = 1) -> list[int]:
    try:
        values = [int(s) for s in text.split(",")]
    except ValueError:
        raise UsageError(f"malformed {what} list {text!r}: expected comma-separated integers") from None
    if any(v < minimum for v in values):
        raise UsageError(f"{what} must be integers >= {minimum}, got {text!r}")
    return values


def _assignments(item: str, defaults: dict[str, Any], what: str) -> dict[str, Any]:
    """'name:k=v:k2=v2' -> {k: v, k2: v2}, each value parsed as its default's type."""
    out = {}
    for a in item.split(":")[1:]:
        key, eq, value = a.partition("=")
        if not eq or key not in defaults:
            raise UsageError(f"bad parameter {a!r} for {what}; expected NAME=VALUE with NAME in: "
                             f"{', '.join(defaults) or 'none'}")
        try:
            out[key] = parse_value(defaults[key], value)
        except ValueError:
            raise UsageError(f"bad value {value!r} for {what}:{key}") from None
    return out


def _problems(text: str) -> dict[str, dict[str, Any]]:
    """'toy-bernoulli:t=0.49,toy-bernoulli:t=0.499' -> {item: its parameters over the defaults}; every variant
    of a problem runs, and parameters outside their domain are refused before any cell runs."""
    out = {}
    for item in [s.strip() for s in text.split(",")]:
        name = item.split(":")[0]
        if name not in PROBLEMS:
            raise UsageError(f"unknown problem {name!r}; valid: {', '.join(PROBLEMS)}")
        known = {**PROBLEMS[name].defaults, **PROBLEMS[name].optional}
        params = {**PROBLEMS[name].defaults, **_assignments(item, known, name)}
        problem = PROBLEMS[name].check(params)
        if problem:
            raise UsageError(problem)
        out[item] = params
    return out


def _estimators(text: str) -> list[tuple[str, dict[str, Any]]]:
    """'gumbel-softmax:tau=0.5,st-sigmoid:slope=2' -> [(name, options)]; options checked against their domains."""
    out = []
    for item in [s.strip() for s in text.split(",")]:
        name = item.split(":")[0]
        _names(name, estimators.names(), "estimator")
        options = _assignments(item, estimators.spec(name).options, name)
        for key, value in options.items():
            problem = OPTION_RANGES[key].check(value) if key in OPTION_RANGES else ""
            if problem:
                raise UsageError(f"{name}:{key}={value} {problem}")
        out.append((name, options))
    return out


def _backends(text: str | None, device: str) -> list[str]:
    installed = estimators.available_backends()
    if text is None:
        missing = [b for b in DEFAULT_BACKENDS if b not in installed]
        if missing:
            print(f"note: backend(s) {', '.join(missing)} not installed; skipped", file=sys.stderr)
        chosen = [b for b in installed if b in DEFAULT_BACKENDS]
    else:
        chosen = _names(text, list(estimators.BACKENDS), "backend")
    for b in chosen:
        try:
            estimators.check_backend(b, device)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    return chosen


def _report_folder(results: Path) -> Path:
    """reports/X for results/X (this machine's folder, the reference); reports/<machine>/ for any other."""
    try:
        return REPORTS / results.resolve().relative_to(RESULTS.resolve())
    except ValueError:
        return reports_folder()


def _out_dir(path: str) -> Path:
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write to --out {path!r}: {exc.strerror or exc}") from None
    return out


def _add_sweep_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", help="comma-separated: torch (eager), torch-compile (torch.compile; gradients and "
                                     "speed suites), jax (default: torch,jax where installed)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="cuda: the GPU for torch and JAX")
    p.add_argument("--estimators", help=f"comma-separated, options as NAME:KEY=VALUE (gumbel-softmax:tau=0.5), "
                                        f"from: {', '.join(estimators.names())}")
    p.add_argument("--problems", help="comma-separated; parameters as NAME:KEY=VALUE, e.g. toy-bernoulli:t=0.49")
    p.add_argument("--depths", help="comma-separated depths (chain problem)")
    p.add_argument("--batch-sizes", help="comma-separated examples per estimate")
    p.add_argument("--n-samples", help="comma-separated draws per example (rloo: at least 2)")
    p.add_argument("--n-estimates", help="replicate estimates per gradients cell (at least 2)")
    p.add_argument("--memory-budget", help="resident memory a cell's process may use, e.g. 4GB (default: 40%% of "
                                           "this machine's memory, divided among --workers)")
    p.add_argument("--max-chunk-rows", type=int, default=0,
                   help="gradient rows computed at once, at most (default: as many as the memory budget holds)")
    p.add_argument("--truth-rel-se", type=float, help="reference truths: stop when their standard error is this "
                                                      "fraction of the gradient's norm (default: the preset's)")
    p.add_argument("--truth-max-estimates", type=int, help="reference truths: at most this many estimates")
    p.add_argument("--cache-dir", default="", help="where reference truths are cached (default ~/.cache/mcgrad-bench"
                                                   ", or $MCGRAD_BENCH_CACHE)")
    p.add_argument("--data", default="digits", choices=list(DATASETS),
                   help="images for the model problems: digits (bundled) or mnist (needs --data-dir)")
    p.add_argument("--data-dir", default="", help="folder holding mnist.npz or the four MNIST IDX files")
    p.add_argument("--preset", default="quick", choices=list(PRESETS))
    p.add_argument("--seed", type=int, default=None, help="default 0; training: the preset's seeds")
    p.add_argument("--out", help="results folder (default: results/<machine>/, this machine's own; git ignores it)")
    p.add_argument("--resume", action="store_true", help="skip cells whose result file exists (unless its worker died)")
    p.add_argument("--quiet", action="store_true", help="no progress bar (CI logs)")
    p.add_argument("--executor", default="auto", choices=list(executors.EXECUTORS),
                   help="where cells run (default auto: speed cells in fresh processes, the rest inline)")
    p.add_argument("--workers", type=int, help="cells at a time: worker processes, or a local Ray cluster's CPUs")
    p.add_argument("--gpus-per-cell", type=float, help="ray on cuda: GPUs each cell asks for (default 1)")
    p.add_argument("--ray-address", help="ray: a running cluster ('auto' finds it; default: start a local one)")


def parser() -> Parser:
    p = Parser(prog="python -m bench", description="Benchmark Monte Carlo gradient estimators.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    sub.add_parser("list", help="estimators, problems, suites, backends and devices")
    run = sub.add_parser("run", help="run one suite")
    run.add_argument("suite", help=f"one of: {', '.join(SUITES)}")
    _add_sweep_options(run)
    run.add_argument("--claims", help="gradients suite: only these papers' claims' cells (comma-separated, from: "
                                      + ", ".join(CLAIMS) + "; or all)")
    run.add_argument("--experiments", help="training suite: only these experiments (comma-separated, from: "
                                           + ", ".join(EXPERIMENTS) + ")")
    rep = sub.add_parser("report", help="render a results folder into a report")
    rep.add_argument("--results", help="results folder (default: results/<machine>/, this machine's runs; "
                                       "results/reference is the committed reference)")
    rep.add_argument("--out", help="report folder (default: the results folder's path under reports/, e.g. "
                                   "reports/<machine>/ or reports/reference/)")
    audit = sub.add_parser("audit", help="other libraries' estimators (Pyro, NumPyro, storchastic: those installed) "
                                         "against exact truths, with the suite's z-test")
    audit.add_argument("--adapters", help="comma-separated adapter names or libraries (pyro, numpyro, storchastic); "
                                          "default: every installed library's")
    audit.add_argument("--problems", help="comma-separated, from: " + ", ".join(AUDIT_PROBLEMS))
    audit.add_argument("--n-estimates", type=int, default=2_000, help="estimates per cell (default 2000)")
    audit.add_argument("--seed", type=int, default=0)
    audit.add_argument("--out", help="results folder (default: results/<machine>/audit/)")
    audit.add_argument("--resume", action="store_true", help="skip cells whose result file exists")
    audit.add_argument("--quiet", action="store_true", help="no progress bar (CI logs)")
    every = sub.add_parser("all", help="every suite with the chosen preset, then the report")
    _add_sweep_options(every)
    every.add_argument("--report-out", help="report folder (default: reports/<machine>/)")
    return p


def _data(args: argparse.Namespace) -> dict[str, str]:
    """The data choice, checked once up front: a missing or malformed MNIST folder is one clear line."""
    try:
        load(args.data, args.data_dir)
    except DataError as exc:
        raise UsageError(str(exc)) from None
    return {"data": args.data, "data_dir": str(Path(args.data_dir).resolve()) if args.data_dir else ""}


def _settings(args: argparse.Namespace, preset: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """How cells run, not what they measure: the memory budget and the reference truths' precision."""
    try:
        budget = parse_bytes(args.memory_budget) if args.memory_budget else default_budget(args.workers or 1)
    except ValueError as exc:
        raise UsageError(f"--memory-budget: {exc}") from None
    if budget < 2**26:
        raise UsageError(f"--memory-budget {args.memory_budget} is below 64MB; no cell runs in that")
    rel_se = preset["truth_rel_se"] if args.truth_rel_se is None else args.truth_rel_se
    cap = preset["truth_max_estimates"] if args.truth_max_estimates is None else args.truth_max_estimates
    if not 0 < rel_se < 1:
        raise UsageError(f"--truth-rel-se must be in (0, 1), got {rel_se}")
    if cap < 2_000:
        raise UsageError(f"--truth-max-estimates must be at least 2000, got {cap}")
    if args.max_chunk_rows < 0:
        raise UsageError(f"--max-chunk-rows must be a positive integer, got {args.max_chunk_rows}")
    return (("cache_dir", args.cache_dir), ("max_chunk_rows", args.max_chunk_rows), ("memory_budget", budget),
            ("truth_max_estimates", cap), ("truth_rel_se", rel_se))


def _grid(args: argparse.Namespace, suite: str) -> list[sweep.Cell]:
    preset = PRESETS[args.preset]
    speed = suite == "speed"
    data = _data(args)
    chosen_estimators = _estimators(args.estimators) if args.estimators else None
    from estimators.plugins import is_black_box

    for name in [n for n, _ in chosen_estimators or [] if is_black_box(n) and suite != "gradients"]:
        print(f"note: {name} is a black-box plug-in: it runs in the gradients suite and the audit, not in {suite}",
              file=sys.stderr)
    if suite == "training":
        backends = _backends(args.backend, args.device)
        if "torch-compile" in backends:  # its loop is define-by-run eager code; not compiled, so refused
            raise UsageError("the training suite runs torch eagerly or jax; torch-compile is for the gradients and "
                             "speed suites (drop it from --backend)")
        if chosen_estimators and any(options for _, options in chosen_estimators):
            raise UsageError("estimator options (NAME:KEY=VALUE) apply to the gradients and speed suites; the "
                             "training experiments set their own")
        chosen = list(dict.fromkeys(sweep.problem_name(k) for k in _problems(args.problems))) if args.problems \
            else None
        if getattr(args, "experiments", None):
            preset = {**preset, "experiments": _names(args.experiments, list(EXPERIMENTS), "experiment"),
                      "training_grid": {}}
        return sweep.training_cells(
            preset, backends=backends, device=args.device, data=data, problems=chosen,
            estimators=[n for n, _ in chosen_estimators] if chosen_estimators else None,
            seeds=[args.seed] if args.seed_given else None)
    if getattr(args, "experiments", None):
        raise UsageError("--experiments selects training cells; run it with the training suite")
    if getattr(args, "claims", None):
        if suite != "gradients":
            raise UsageError("--claims selects gradients cells; run it with the gradients suite")
        ids = list(CLAIMS) if args.claims == "all" else _names(args.claims, list(CLAIMS), "claim")
        return [dataclasses.replace(c, settings=_settings(args, preset)) for c in sweep.claim_cells(
            ids, backends=_backends(args.backend, args.device), device=args.device, seed=args.seed,
            data=data, n_estimates=_ints(args.n_estimates, "n-estimates", minimum=2)[0] if args.n_estimates
            else preset["n_estimates"])]
    names = chosen_estimators or [(n, preset.get("estimator_options", {}).get(n, {}))
                                  for n in (preset["speed_estimators"] if speed else preset["estimators"])]
    listed = {**preset["problems"], **(preset.get("speed_variants", {}) if speed else {})}
    chosen = _problems(args.problems) if args.problems else {
        k: {**PROBLEMS[sweep.problem_name(k)].defaults, **v} for k, v in listed.items()
        if not (speed and preset["speed_problems"]) or sweep.problem_name(k) in preset["speed_problems"]}
    problems = {k: {**pp, **{d: v for d, v in data.items() if d in pp}} for k, pp in chosen.items()}
    for k, pp in problems.items():
        _fits(sweep.problem_name(k), pp)
    cells = sweep.cells(
        suite, problems=problems, estimators=names, backends=_backends(args.backend, args.device),
        device=args.device, depths=_ints(args.depths, "depths") if args.depths else (
            preset["speed_depths"] if speed else preset["depths"]),
        batch_sizes=_ints(args.batch_sizes, "batch sizes") if args.batch_sizes else (
            preset["speed_batch_sizes"] if speed else preset["batch_sizes"]),
        n_samples=_ints(args.n_samples, "n-samples") if args.n_samples else preset["n_samples"],
        seed=args.seed, n_estimates=_ints(args.n_estimates, "n-estimates", minimum=2)[0] if args.n_estimates
        else preset["n_estimates"], points=tuple(preset["points"]),
        problem_depths=None if args.depths or speed else preset.get("problem_depths"),
    )
    if suite == "gradients" and not (args.problems or args.estimators or args.depths or args.batch_sizes
                                     or args.n_samples):  # the preset's own grid: its papers' claims too
        cells += sweep.claim_cells(preset.get("claims", []), backends=_backends(args.backend, args.device),
                                   device=args.device, seed=args.seed, data=data,
                                   n_estimates=_ints(args.n_estimates, "n-estimates", minimum=2)[0]
                                   if args.n_estimates else preset["n_estimates"])
    settings = _settings(args, preset)
    return [dataclasses.replace(c, settings=settings) for c in cells]


def _fits(name: str, pp: dict[str, Any]) -> None:
    """Parameters each inside its domain may still not fit together or the data (skip-rnn's steps must divide
    the image's pixels): the model refuses them when built, and that is one line too."""
    if PROBLEMS[name].model is not None:
        try:
            model_of(name, pp, 1, 1)
        except ValueError as exc:
            raise UsageError(str(exc)) from None


def _executor(args: argparse.Namespace) -> executors.Executor:
    """Last of the checks: for ray it starts or joins the cluster, and failing to is one line too."""
    try:
        return executors.make(args.executor, device=args.device, workers=args.workers,
                              gpus_per_cell=args.gpus_per_cell, ray_address=args.ray_address)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _list() -> int:
    from bench.plugins import LOADED
    from estimators.plugins import ESTIMATORS

    print("estimators:")
    for name in estimators.names():
        s = estimators.spec(name)
        origin = f"  [plug-in {ESTIMATORS[name].kind}: {ESTIMATORS[name].version}]" if name in ESTIMATORS else ""
        print(f"  {name:15s} {s.family:17s} {'unbiased' if s.unbiased else 'biased':9s} {','.join(s.dists)}{origin}")
    print("problems:")
    for p in PROBLEMS.values():
        optional = f"  optional: {p.optional}" if p.optional else ""
        origin = f"  [plug-in: {LOADED[p.name].version}]" if p.name in LOADED else ""
        print(f"  {p.name:15s} {p.description}  defaults: {p.defaults}{optional}{origin}")
    print(f"plug-ins: {len(ESTIMATORS)} estimator(s), {len(LOADED)} problem(s) from entry points "
          "mcgrad_bench.estimators / mcgrad_bench.problems")
    print(f"suites:   {', '.join(SUITES)}")
    print(f"experiments (training): {', '.join(EXPERIMENTS)}")
    print(f"claims (gradients):     {', '.join(CLAIMS)}")
    print(f"data:     {', '.join(DATASETS)} (mnist from --data-dir; nothing is downloaded)")
    print(f"presets:  {', '.join(PRESETS)}")
    print(f"backends: {', '.join(estimators.available_backends()) or 'none installed'}")
    devices = ["cpu"] + (["cuda"] if any(estimators._has_cuda(b) for b in estimators.available_backends()) else [])
    print(f"devices:  {', '.join(devices)}")
    from bench import audit

    found, notes = audit.adapters()
    print(f"audit adapters: {', '.join(a.name for a in found) or 'none (no audited library installed)'}")
    for note in notes:
        print(f"  {note}")
    return 0


def _audit(args: argparse.Namespace, argv: list[str]) -> int:
    from bench import audit
    from bench.audit.table import audit_rows, markdown
    from bench.store import read_results

    found, notes = audit.adapters()
    names = None
    if args.adapters:
        libraries = {a.name.split("/")[0] for a in found}
        known = [a.name for a in found] + sorted(libraries)
        chosen = _names(args.adapters, known + [n for n in audit.ADAPTER_MODULES if n not in known],
                        "adapter (those of installed libraries)")
        missing = [c for c in chosen if c not in known]
        if missing:
            raise UsageError(f"library {', '.join(missing)} is not installed; installed adapters: "
                             f"{', '.join(known) or 'none'}")
        names = [a.name for a in found if a.name in chosen or a.name.split("/")[0] in chosen]
    problems = _names(args.problems, list(AUDIT_PROBLEMS), "problem") if args.problems else None
    if args.n_estimates < 2:
        raise UsageError(f"--n-estimates must be at least 2, got {args.n_estimates}")
    out = _out_dir(args.out or str(results_folder() / "audit"))
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if not found:
        print("bench audit: no audited library is installed; nothing to run (pip install '.[audit]')",
              file=sys.stderr)
        return 0
    failed, _ = audit.run(out, names=names, problems=problems, n_estimates=args.n_estimates, seed=args.seed,
                          resume=args.resume, quiet=args.quiet, argv=argv)
    table = audit_rows(read_results(out))
    text = markdown(table)
    print(text)
    (out / "audit.md").write_text(text + "\n")
    if failed:  # a library that cannot run a problem is a finding of the audit, not a failure of the command
        print(f"bench audit: {failed} cell(s) failed; the table gives each one's message", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from estimators.plugins import WARNINGS

    for warning in WARNINGS:  # a broken or clashing plug-in: one line each, and everything else goes on
        print(f"bench: warning: {warning}", file=sys.stderr)
    try:
        args = parser().parse_args(argv)
        if args.command == "list":
            return _list()
        if args.command == "audit":
            return _audit(args, argv)
        if args.command == "report":
            results = Path(args.results) if args.results else results_folder()
            report.render(results, _out_dir(args.out or str(_report_folder(results))))
            return 0
        suites = list(SUITES) if args.command == "all" else [args.suite]
        if args.command == "run" and args.suite not in SUITES:
            raise UsageError(f"unknown suite {args.suite!r}; valid: {', '.join(SUITES)}")
        args.seed_given = args.seed is not None
        args.seed = args.seed or 0
        grids = [_grid(args, s) for s in suites]
        out = _out_dir(args.out or str(results_folder(args.device)))
        report_out = _out_dir(args.report_out or str(_report_folder(out))) if args.command == "all" else None
        executor = _executor(args)
    except UsageError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    from bench.runner import Progress, run_sweep, to_run

    progress = Progress(args.quiet)  # one bar over every suite's cells, with the time left
    for cells in grids:
        progress.add(to_run(cells, out, args.resume)[0])
    try:
        failed = sum(run_sweep(cells, out, argv, resume=args.resume, quiet=args.quiet, executor=executor,
                               progress=progress) for cells in grids)
    finally:
        progress.close()
        executor.close()
    if args.command == "all":
        report.render(out, report_out)
    return 1 if failed else 0
