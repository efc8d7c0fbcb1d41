"""`python -m bench {list,run,report,audit,all,compare}`: argparse subcommands. Every value is checked
before any cell runs (bench.plan.options); bad input is one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any, NoReturn

import estimators
from bench import compare, report
from bench.audit import PROBLEMS as AUDIT_PROBLEMS
from bench.execute import EXECUTORS, Executor, make
from bench.execute.common import cpu_count
from bench.literature.claims import CLAIMS
from bench.literature.experiments import EXPERIMENTS
from bench.measure.budget import default_budget, total_memory
from bench.plan import grid, options
from bench.plan.cell import Cell
from bench.plan.options import UsageError
from bench.plan.presets import PRESETS, Preset
from bench.problems import PROBLEMS, dataset
from bench.problems.data import DATASETS, DataError, load
from bench.store.meta import REPORTS, RESULTS, reports_folder, results_folder

PER_PARAMETER = 16 * 4  # bytes an estimate holds per parameter at least (bench.measure.budget.plan's guess)
DEFAULT_BACKENDS = ("torch", "jax")  # torch-compile on request: compiling a cell takes seconds to a minute on CPU
# options that take a value: a value starting with "-" (a negative number, a typo) is named, not misread
VALUED = ("--memory-budget", "--seed", "--n-estimates", "--workers", "--depths", "--batch-sizes", "--n-samples",
          "--max-chunk-rows", "--truth-rel-se", "--truth-max-estimates", "--gpus-per-cell")


class NoCells(UsageError):
    """The selection yields no cell of a suite: an error for `run`, for `all` only when no suite has any."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _backends(text: str | None, device: str) -> list[str]:
    installed = estimators.available_backends()
    if text is None:
        missing = [b for b in DEFAULT_BACKENDS if b not in installed]
        if missing:
            print(f"note: backend(s) {', '.join(missing)} not installed; skipped", file=sys.stderr)
        chosen = [b for b in installed if b in DEFAULT_BACKENDS]
    else:
        chosen = options.names(text, list(estimators.BACKENDS), "backend")
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


def _add_sweep_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", help="comma-separated: torch (eager), torch-compile (torch.compile; gradients and "
                                     "speed suites), jax (default: torch,jax where installed)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="cuda: the GPU for torch and JAX")
    p.add_argument("--estimators", help=f"comma-separated, options as NAME:KEY=VALUE (gumbel-softmax:tau=0.5), "
                                        f"from: {', '.join(estimators.names())}")
    p.add_argument("--problems", help="comma-separated; parameters as NAME:KEY=VALUE, e.g. toy-bernoulli:t=0.49")
    p.add_argument("--depths", help=f"comma-separated depths, 1 to {options.MAX_DEPTH}")
    p.add_argument("--batch-sizes", help="comma-separated examples per estimate")
    p.add_argument("--n-samples", help="comma-separated draws per example (rloo, arms: at least 2)")
    p.add_argument("--n-estimates", help=f"replicate estimates per gradients cell, 2 to {options.MAX_ESTIMATES}")
    p.add_argument("--memory-budget", help="resident memory a cell's process may use, e.g. 4GB (default: 40%% of "
                                           "this machine's memory, divided among --workers)")
    p.add_argument("--max-chunk-rows", type=int, default=0,
                   help="gradient rows computed at once, at most (default: as many as the memory budget holds)")
    p.add_argument("--truth-rel-se", type=float, help="reference truths: stop when their standard error is this "
                                                      "fraction of the gradient's norm (default: the preset's)")
    p.add_argument("--truth-max-estimates", type=int, help="reference truths: at most this many estimates")
    p.add_argument("--cache-dir", default="", help="where truths are cached (default ~/.cache/mcgrad-bench, or "
                                                   "$MCGRAD_BENCH_CACHE)")
    p.add_argument("--data", choices=list(DATASETS),
                   help="images for the model problems: digits (bundled), digits28, or mnist (needs --data-dir); "
                        "default: the preset's (the paper preset's 784-input problems: digits28)")
    p.add_argument("--data-dir", default="", help="folder holding mnist.npz or the four MNIST IDX files")
    p.add_argument("--preset", default="quick", choices=list(PRESETS))
    p.add_argument("--seed", help="0 to 2^31 - 1 (default 0; training: the preset's seeds)")
    p.add_argument("--out", help="results folder (default: results/<machine>/, this machine's own; git ignores it)")
    p.add_argument("--resume", action="store_true", help="skip cells whose result file exists (unless its worker died)")
    p.add_argument("--quiet", action="store_true", help="no progress bar (CI logs)")
    p.add_argument("--executor", default="auto", choices=list(EXECUTORS),
                   help="where cells run (default auto: speed cells in fresh processes, the rest inline)")
    p.add_argument("--workers", type=int, help="cells at a time: worker processes, or a local Ray cluster's CPUs "
                                               "(speed cells are timed one at a time)")
    p.add_argument("--gpus-per-cell", type=float, help="ray on cuda: GPUs each cell asks for (default 1)")
    p.add_argument("--ray-address", help="ray: a running cluster ('auto' finds it; default: start a local one)")


def parser() -> Parser:
    p = Parser(prog="python -m bench", description="Benchmark Monte Carlo gradient estimators.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    sub.add_parser("list", help="estimators, problems, suites, backends and devices")
    run = sub.add_parser("run", help="run one suite")
    run.add_argument("suite", help=f"one of: {', '.join(grid.SUITES)}")
    _add_sweep_options(run)
    run.add_argument("--claims", help="gradients suite: only these papers' claims' cells (comma-separated, from: "
                                      + ", ".join(CLAIMS) + "; or all)")
    run.add_argument("--experiments", help="training suite: only these experiments (comma-separated, from: "
                                           + ", ".join(EXPERIMENTS) + ")")
    run.add_argument("--driver", help="trajectory suite: the estimator that trains the shared trajectory "
                                      "(default: the preset's, disarm)")
    run.add_argument("--checkpoints", help="trajectory suite: comma-separated steps at which every estimator is "
                                           "measured, e.g. 0,10,100,1000 (default: the preset's)")
    rep = sub.add_parser("report", help="render a results folder into a report")
    rep.add_argument("--results", help="results folder (default: results/<machine>/, this machine's runs; "
                                       "results/reference is the committed reference)")
    rep.add_argument("--out", help="report folder (default: the results folder's path under reports/, e.g. "
                                   "reports/<machine>/ or reports/reference/)")
    audit = sub.add_parser("audit", help="other libraries' estimators (Pyro, NumPyro, storchastic, TFP, DiCE, funsor, "
                                         "ReinMax's package: those installed) "
                                         "against exact truths, with the suite's z-test")
    audit.add_argument("--adapters", help="comma-separated adapter names or libraries (pyro, numpyro, "
                                          "storchastic, tfp, dice, funsor, reinmax); "
                                          "default: every installed library's")
    audit.add_argument("--problems", help="comma-separated, from: " + ", ".join(AUDIT_PROBLEMS))
    audit.add_argument("--n-estimates", help="estimates per cell (default: as many as the audit's precision needs)")
    audit.add_argument("--seed", default="0")
    audit.add_argument("--out", help="results folder (default: results/<machine>/audit/)")
    audit.add_argument("--resume", action="store_true", help="skip cells whose result file exists")
    audit.add_argument("--quiet", action="store_true", help="no progress bar (CI logs)")
    every = sub.add_parser("all", help="every suite with the chosen preset, then the report")
    _add_sweep_options(every)
    every.add_argument("--report-out", help="report folder (default: reports/<machine>/)")
    compared = compare.parser()  # bench.compare's own options; `main` hands the arguments to compare.main
    sub.add_parser("compare", parents=[compared], add_help=False, description=compared.description,
                   help="two results folders side by side (e.g. results/reference/<machine> against a run): "
                        "exit 1 on a regression")
    return p


def _precheck(argv: list[str]) -> None:
    """A valued option followed by a token that starts with "-" (argparse would say "expected one argument")."""
    for option, value in zip(argv, argv[1:]):
        if option in VALUED and value.startswith("-"):
            raise UsageError(f"{option} {value}: must be {_WANTED.get(option, 'a positive value')}")


_WANTED = {"--memory-budget": "a positive memory size, e.g. 4GB", "--seed": f"an integer from 0 to {options.MAX_SEED}",
           "--workers": "a positive integer"}


def _data(args: argparse.Namespace) -> dict[str, str]:
    """The data choice, checked once up front: a missing or malformed MNIST folder is one clear line."""
    if args.data is None and not args.data_dir:  # each problem's own, at the preset's sizes
        return {}
    try:
        load(args.data or "digits", args.data_dir)
    except DataError as exc:
        raise UsageError(str(exc)) from None
    return {"data": args.data or "digits", "data_dir": str(Path(args.data_dir).resolve()) if args.data_dir else ""}


def _settings(args: argparse.Namespace, preset: Preset) -> tuple[tuple[str, Any], ...]:
    """How cells run, not what they measure: the memory budget, the timings' and reference truths' precision."""
    budget = options.memory(args.memory_budget, total_memory()) if args.memory_budget else default_budget(
        args.workers or 1)
    rel_se = preset.truth_rel_se if args.truth_rel_se is None else options.fraction(args.truth_rel_se,
                                                                                     "--truth-rel-se")
    cap = preset.truth_max_estimates if args.truth_max_estimates is None else options.one_int(
        args.truth_max_estimates, "--truth-max-estimates", 2_000, options.MAX_ESTIMATES)
    if args.max_chunk_rows < 0:
        raise UsageError(f"--max-chunk-rows must be a positive integer, got {args.max_chunk_rows}")
    if args.cache_dir:
        options.folder(args.cache_dir, "--cache-dir")
    return (("cache_dir", args.cache_dir), ("max_chunk_rows", args.max_chunk_rows), ("memory_budget", budget),
            ("timing_max_s", preset.timing_max_s), ("timing_rel_se", preset.timing_rel_se),
            ("truth_max_estimates", cap), ("truth_rel_se", rel_se))


def _n_estimates(args: argparse.Namespace, preset: Preset) -> int:
    if args.n_estimates is None:
        return preset.n_estimates
    return options.one_int(args.n_estimates, "--n-estimates", 2, options.MAX_ESTIMATES)


def _grid(args: argparse.Namespace, suite: str) -> list[Cell]:
    preset = PRESETS[args.preset]
    speed = suite == "speed"
    data = _data(args)
    chosen = options.estimators(args.estimators) if args.estimators is not None else None
    from estimators.plugins import is_black_box

    for name in [n for n, _ in chosen or [] if is_black_box(n) and suite != "gradients"]:
        print(f"note: {name} is a black-box plug-in: it runs in the gradients suite and the audit, not in {suite}",
              file=sys.stderr)
    backends = _backends(args.backend, args.device)
    if suite == "training":
        return _training_grid(args, preset, backends, data, chosen)
    if suite != "trajectory" and (getattr(args, "driver", None) or getattr(args, "checkpoints", None)):
        raise UsageError("--driver and --checkpoints shape the trajectory suite; run them with it")
    if suite == "trajectory":
        return _trajectory_grid(args, preset, backends, data, chosen)
    if getattr(args, "experiments", None):
        raise UsageError("--experiments selects training cells; run it with the training suite")
    n_estimates = _n_estimates(args, preset)
    settings = _settings(args, preset)
    if getattr(args, "claims", None):
        if suite != "gradients":
            raise UsageError("--claims selects gradients cells; run it with the gradients suite")
        ids = list(CLAIMS) if args.claims == "all" else options.names(args.claims, list(CLAIMS), "claim")
        found = grid.claim_cells(ids, backends=backends, device=args.device, seed=args.seed, data=data,
                                 n_estimates=n_estimates)
        return [dataclasses.replace(c, settings=settings) for c in found]
    names = chosen or [(n, preset.estimator_options.get(n, {}))
                       for n in ((preset.speed_estimators if speed else None) or preset.estimators
                                 or estimators.names())]
    variants = _variants(args.problems, preset, speed)
    variants = {k: {**pp, **{d: v for d, v in data.items() if d in pp}} for k, pp in variants.items()}
    depths = options.ints(args.depths, "depths", 1, options.MAX_DEPTH) if args.depths else None
    batches = options.ints(args.batch_sizes, "batch sizes", 1, options.MAX_BATCH) if args.batch_sizes else None
    samples = options.ints(args.n_samples, "n-samples", 1, options.MAX_SAMPLES) if args.n_samples else None
    if samples and chosen:
        options.samples_for(chosen, samples)
    budget = dict(settings)["memory_budget"]
    for key, pp in variants.items():
        _fits(grid.problem_name(key), pp, batches or (preset.speed_batch_sizes if speed else preset.batch_sizes),
              max(depths or (preset.speed_depths if speed else preset.depths)), budget)
    cells = grid.cells(
        suite, problems=variants, estimators=names, backends=backends, device=args.device,
        depths=depths or (preset.speed_depths if speed else preset.depths),
        batch_sizes=batches or (preset.speed_batch_sizes if speed else preset.batch_sizes),
        n_samples=samples or preset.n_samples, seed=args.seed, n_estimates=n_estimates, points=preset.points,
        problem_depths=None if depths else grid.problem_depths(preset, list(variants), speed))
    if suite == "gradients" and not (args.problems or args.estimators or depths or batches or samples):
        cells += grid.claim_cells(list(preset.claims), backends=backends, device=args.device, seed=args.seed,
                                  data=data, n_estimates=n_estimates)  # the preset's own grid: its papers' claims
    if not cells:
        raise NoCells(_why_none(suite, variants, names, backends))
    return [dataclasses.replace(c, settings=settings) for c in cells]


def _variants(problems: str | None, preset: Preset, speed: bool) -> dict[str, dict[str, Any]]:
    """The problems asked for, at the preset's sizes: a plain name takes each of its variants at this preset
    (sbn-vae at the paper preset: 784-200, linear and nonlinear); a name with parameters is those parameters
    over the problem's defaults."""
    if problems is None:
        return grid.variants(preset, speed)
    asked = options.problems(problems)
    plain = tuple(k for k in asked if ":" not in k)
    at_preset = grid.variants(dataclasses.replace(preset, problems=plain, speed_problems=None), speed) if plain else {}
    out: dict[str, dict[str, Any]] = {}
    for key, pp in asked.items():
        out.update({k: v for k, v in at_preset.items() if grid.problem_name(k) == key} if ":" not in key
                   else {key: pp})
    return out


def _trajectory_grid(args: argparse.Namespace, preset: Preset, backends: list[str], data: dict[str, str],
                     chosen: list[tuple[str, dict[str, Any]]] | None) -> list[Cell]:
    if "torch-compile" in backends:
        raise UsageError("the trajectory suite runs torch eagerly or jax (drop torch-compile from --backend)")
    if preset.trajectory is None:
        raise NoCells(f"the {preset.name} preset has no trajectory; use --preset quick, full, paper or smoke")
    driver = getattr(args, "driver", None)
    if driver is not None:
        driver = options.names(driver, estimators.names(), "estimator")
        if len(driver) != 1:
            raise UsageError(f"--driver takes one estimator, got {len(driver)}")
        driver = driver[0]
    steps = options.ints(args.checkpoints, "checkpoints", 0, 1_000_000) if getattr(args, "checkpoints", None) \
        else None
    asked = options.problems(args.problems) if args.problems is not None else {}
    problems = list(dict.fromkeys(grid.problem_name(k) for k in asked)) or None
    overrides: dict[str, list[dict[str, Any]]] = {}
    for item in asked:
        name = grid.problem_name(item)
        overrides.setdefault(name, []).append(
            options.assignments(item, {**PROBLEMS[name].defaults, **PROBLEMS[name].optional}, name))
    cells = grid.trajectory_cells(preset, backends=backends, device=args.device, seed=args.seed,
                                  n_estimates=_n_estimates(args, preset), data=data, problems=problems,
                                  estimators=chosen, driver=driver, checkpoints=steps, overrides=overrides)
    if not cells:
        raise NoCells(f"no trajectory cell: the driver {driver or preset.trajectory.driver} or the estimators "
                      "asked for do not apply to the problems (the trajectory trains a model problem: sbn-vae, "
                      "categorical-vae, ...)")
    settings = _settings(args, preset)
    return [dataclasses.replace(c, settings=settings) for c in cells]


def _training_grid(args: argparse.Namespace, preset: Preset, backends: list[str], data: dict[str, str],
                   chosen: list[tuple[str, dict[str, Any]]] | None) -> list[Cell]:
    if "torch-compile" in backends:  # its loop is define-by-run eager code; not compiled, so refused
        raise UsageError("the training suite runs torch eagerly or jax; torch-compile is for the gradients and "
                         "speed suites (drop it from --backend)")
    if chosen and any(opts for _, opts in chosen):
        raise UsageError("estimator options (NAME:KEY=VALUE) apply to the gradients and speed suites; the "
                         "training experiments set their own")
    asked = options.problems(args.problems) if args.problems is not None else {}
    if any(":" in item for item in asked):
        raise UsageError("problem parameters (NAME:KEY=VALUE) apply to the gradients, speed and trajectory suites; "
                         "the training experiments set their own")
    problems = list(dict.fromkeys(grid.problem_name(k) for k in asked)) or None
    if getattr(args, "experiments", None):
        preset = dataclasses.replace(preset, experiments=tuple(options.names(args.experiments, list(EXPERIMENTS),
                                                                             "experiment")), training_grid=None)
    cells = grid.training_cells(preset, backends=backends, device=args.device, data=data, problems=problems,
                                estimators=[n for n, _ in chosen] if chosen else None,
                                seeds=[args.seed] if args.seed_given else None)
    if not cells:
        raise NoCells("no training cell: the preset's experiments and grid have no run of the problems and "
                      f"estimators asked for (experiments: {', '.join(preset.experiments) or 'none'}; run "
                      "`python -m bench list` for each experiment's problem)")
    return cells


def _why_none(suite: str, variants: dict[str, dict[str, Any]], names: list[tuple[str, dict]],
              backends: list[str]) -> str:
    """One line on why a selection yields no cell: no estimator applies to any problem asked for."""
    pairs = []
    for key, pp in variants.items():
        problem = PROBLEMS[grid.problem_name(key)]
        fits = [n for n, _ in names if problem.supports(n, pp)]
        pairs.append(f"{key} takes {', '.join(n for n in estimators.names() if problem.supports(n, pp)) or 'none'}"
                     if not fits else f"{key}: {', '.join(fits)} (none runs here)")
    extra = " (exact needs an enumerable size; the speed suite never times exact)" if any(
        n == "exact" for n, _ in names) else ""
    return (f"no {suite} cell: none of the estimators {', '.join(n for n, _ in names)} applies to the problems "
            f"asked for{extra}; {'; '.join(pairs)}; backends {', '.join(backends)}")


def _fits(name: str, pp: dict[str, Any], batch_sizes: tuple[int, ...], depth: int, budget: int) -> None:
    """Parameters each inside its domain may still not fit together, the data or the memory budget (skip-rnn's
    steps must divide the image's pixels, a batch must not exceed the training set, one estimate must fit the
    budget): refused as one line too, before any cell runs."""
    problem = PROBLEMS[name]
    try:
        model = problem.model(pp, depth, max(batch_sizes))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    n_params = sum(int(v.size) for v in model.init_params(0).values())
    need = PER_PARAMETER * n_params  # replicated parameters, gradients and activations of one estimate, at least
    if need > budget:
        raise UsageError(f"{name} at depth {depth} has {n_params} parameters: one estimate needs about "
                         f"{need / 2**30:.1f} GB, more than the memory budget's {budget / 2**30:.1f} GB; valid: "
                         f"smaller sizes, or a larger --memory-budget")
    if problem.uses_data:
        n = len(dataset(pp).x_train)
        if max(batch_sizes) > n:
            raise UsageError(f"batch size {max(batch_sizes)} is larger than the {pp['data']} data set's {n} "
                             f"training examples; valid: 1 to {n}")


def _executor(args: argparse.Namespace) -> Executor:
    """Last of the checks: for ray it starts or joins the cluster, and failing to is one line too."""
    if args.workers is not None and not 1 <= args.workers <= 4 * cpu_count():
        raise UsageError(f"--workers must be from 1 to {4 * cpu_count()} (4 per CPU of this machine), "
                         f"got {args.workers}")
    try:
        return make(args.executor, device=args.device, workers=args.workers, gpus_per_cell=args.gpus_per_cell,
                    ray_address=args.ray_address)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _timing_executor(args: argparse.Namespace) -> Executor | None:
    """Speed cells are timed one at a time whatever --workers says: two timings side by side on one machine
    would each measure the other's load. None where the sweep's own executor already runs one cell at a time
    (or a Ray cluster places the cells)."""
    if args.executor not in ("auto", "process") or (args.workers or 1) == 1:
        return None
    return make(args.executor, device=args.device, workers=1)


def _list() -> int:
    from bench.problems.plugins import LOADED
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
    print(f"suites:   {', '.join(grid.SUITES)}")
    print(f"experiments (training): {', '.join(EXPERIMENTS)}")
    print(f"claims (gradients):     {', '.join(CLAIMS)}")
    print(f"data:     {', '.join(DATASETS)} (mnist from --data-dir; nothing is downloaded)")
    print(f"presets:  {', '.join(PRESETS)}")
    print(f"backends: {', '.join(estimators.available_backends()) or 'none installed'}")
    devices = ["cpu"] + (["cuda"] if any(estimators.has_cuda(b) for b in estimators.available_backends()) else [])
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
    from bench.store.parquet import read_results

    found, notes = audit.adapters()
    names = None
    if args.adapters is not None:
        libraries = {a.name.split("/")[0] for a in found}
        known = [a.name for a in found] + sorted(libraries)
        chosen = options.names(args.adapters, known + [n for n in audit.ADAPTER_MODULES if n not in known],
                               "adapter (those of installed libraries)")
        missing = [c for c in chosen if c not in known]
        if missing:
            raise UsageError(f"library {', '.join(missing)} is not installed; installed adapters: "
                             f"{', '.join(known) or 'none'}")
        names = [a.name for a in found if a.name in chosen or a.name.split("/")[0] in chosen]
    problems = options.names(args.problems, list(AUDIT_PROBLEMS), "problem") if args.problems is not None else None
    n_estimates = None if args.n_estimates is None else options.one_int(args.n_estimates, "--n-estimates", 2,
                                                                         options.MAX_ESTIMATES)
    seed = options.one_int(args.seed, "--seed", 0, options.MAX_SEED)
    out = options.folder(args.out or str(results_folder() / "audit"), "--out")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if not found:
        print("bench audit: no audited library is installed; nothing to run (pip install '.[audit]')",
              file=sys.stderr)
        return 0
    failed, _ = audit.run(out, names=names, problems=problems, n_estimates=n_estimates, seed=seed,
                          resume=args.resume, quiet=args.quiet, argv=argv)
    table = audit_rows(read_results(out))
    text = markdown(table)
    print(text)
    (out / "audit.md").write_text(text + "\n")
    if failed:  # a library that cannot run a problem is a finding of the audit, not a failure of the command
        print(f"bench audit: {failed} cell(s) failed; the table gives each one's message", file=sys.stderr)
    return 0


def _report(args: argparse.Namespace) -> int:
    results = Path(args.results) if args.results else results_folder()
    if not results.is_dir():
        raise UsageError(f"--results {str(results)!r} is not a folder of results (run `python -m bench all` first, "
                         f"or name one: results/reference)")
    out = options.folder(args.out or str(_report_folder(results)), "--out")
    if report.render(results, out) is None:
        print(f"bench report: nothing to render: no results file under {results} could be read", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from estimators.plugins import WARNINGS

    for warning in WARNINGS:  # a broken or clashing plug-in: one line each, and everything else goes on
        print(f"bench: warning: {warning}", file=sys.stderr)
    try:
        _precheck(argv)
        args = parser().parse_args(argv)
        if args.command == "list":
            return _list()
        if args.command == "audit":
            return _audit(args, argv)
        if args.command == "report":
            return _report(args)
        if args.command == "compare":  # checked by the parser above; bench.compare reads, judges and reports
            return compare.main(argv[argv.index("compare") + 1:])
        suites = list(grid.SUITES) if args.command == "all" else [args.suite]
        if args.command == "run" and args.suite not in grid.SUITES:
            raise UsageError(f"unknown suite {args.suite!r}; valid: {', '.join(grid.SUITES)}")
        args.seed_given = args.seed is not None
        args.seed = options.one_int(args.seed, "--seed", 0, options.MAX_SEED) if args.seed_given else 0
        grids, empty = [], []
        for suite in suites:
            try:
                grids.append(_grid(args, suite))
            except NoCells as exc:
                if args.command == "run":
                    raise
                empty.append(str(exc))
        if not any(grids):
            raise UsageError(empty[0] if empty else "no cell in any suite for this selection")
        out = options.folder(args.out or str(results_folder(args.device)), "--out")
        report_out = options.folder(args.report_out or str(_report_folder(out)), "--report-out") \
            if args.command == "all" else None
        executor = _executor(args)
    except UsageError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    from bench.execute.sweep import Progress, run_sweep, to_run

    progress = Progress(args.quiet)  # one bar over every suite's cells, with the time left
    for cells in grids:
        progress.add(to_run(cells, out, args.resume)[0])
    alone = _timing_executor(args)
    try:
        failed = sum(run_sweep(cells, out, argv, resume=args.resume, quiet=args.quiet,
                               executor=alone if alone is not None and cells[0].suite == "speed" else executor,
                               progress=progress) for cells in grids if cells)
    finally:
        progress.close()
        executor.close()
        if alone is not None:
            alone.close()
    if args.command == "all":
        report.render(out, report_out)
    return 1 if failed else 0
