"""Command-line values checked before any cell runs: each bad one is a `UsageError`, one line naming what is
valid, which the CLI prints and exits 2 on. Numbers must be finite and inside their domains, lists non-empty,
names known, integers small enough for the arrays and files that hold them."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from bench.measure.budget import parse_bytes
from bench.problems import PROBLEMS, parse_value
from estimators import catalog
from estimators.spec import OPTION_RANGES, checked_samples

MAX_SEED = 2**31 - 1  # seeds are int32 in JAX keys and int64 in the results; [0, 2^31) holds both
MAX_ESTIMATES = 10**8  # rows per cell: a bound far past any precision a cell needs (100 000 estimates: 0.3%)
MAX_DEPTH = 32  # the engine nests one estimator call per layer; deeper chains exceed Python's recursion
MAX_BATCH = 100_000
MAX_SAMPLES = 1_024
MIN_BUDGET = 2**26  # 64 MB: no cell runs in less


class UsageError(Exception):
    """Bad command-line input: reported as one line and exit code 2."""


def names(text: str, valid: list[str], what: str) -> list[str]:
    items = [s.strip() for s in text.split(",")]
    if not text.strip() or not all(items):
        raise UsageError(f"empty {what} list {text!r}: expected comma-separated names from: {', '.join(valid)}")
    bad = [s for s in items if s not in valid]
    if bad:
        raise UsageError(f"unknown {what} {', '.join(bad)}; valid: {', '.join(valid)}")
    return list(dict.fromkeys(items))


def ints(text: str, what: str, minimum: int = 1, maximum: int = MAX_SEED) -> tuple[int, ...]:
    """A comma-separated list of integers in [minimum, maximum]."""
    try:
        values = [int(s) for s in text.split(",")]
    except ValueError:
        raise UsageError(f"malformed {what} list {text!r}: expected comma-separated integers") from None
    bad = [v for v in values if not minimum <= v <= maximum]
    if bad:
        raise UsageError(f"{what} must be integers from {minimum} to {maximum}, got {text!r}")
    return tuple(dict.fromkeys(values))


def one_int(text: str | int, what: str, minimum: int, maximum: int) -> int:
    """One integer in [minimum, maximum] (a list is refused, not cut to its first value)."""
    if isinstance(text, str) and "," in text:
        raise UsageError(f"{what} takes one integer, got the list {text!r}")
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be an integer from {minimum} to {maximum}, got {text!r}") from None
    if not minimum <= value <= maximum:
        raise UsageError(f"{what} must be an integer from {minimum} to {maximum}, got {value}")
    return value


def fraction(value: float, what: str) -> float:
    if not (math.isfinite(value) and 0 < value < 1):
        raise UsageError(f"{what} must be a number in (0, 1), got {value}")
    return value


def memory(text: str, total: int) -> int:
    """A memory size (4GB, 512MB) between 64 MB and the machine's memory."""
    try:
        size = parse_bytes(text)
    except (ValueError, OverflowError):
        raise UsageError(f"--memory-budget {text!r} is not a memory size; e.g. 4GB, 512MB, 2.5G") from None
    if size < MIN_BUDGET:
        raise UsageError(f"--memory-budget {text} is below 64MB; no cell runs in that")
    if size > total:
        raise UsageError(f"--memory-budget {text} is more than this machine's {total / 2**30:.1f} GB of memory")
    return size


def folder(path: str, what: str) -> Path:
    """A folder this process can write to, created if missing; a file or an unwritable place is refused."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{what} {path!r} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write to {what} {path!r}: {exc.strerror or exc}") from None
    return out


def assignments(item: str, defaults: dict[str, Any], what: str) -> dict[str, Any]:
    """'name:k=v:k2=v2' -> {k: v, k2: v2}, each value parsed as its default's type."""
    out = {}
    for a in item.split(":")[1:]:
        key, eq, value = a.partition("=")
        if not eq or key not in defaults:
            raise UsageError(f"bad parameter {a!r} for {what}; expected NAME=VALUE with NAME in: "
                             f"{', '.join(defaults) or 'none'}")
        kind = type(defaults[key]).__name__
        try:
            out[key] = parse_value(defaults[key], value)
        except (ValueError, OverflowError):
            raise UsageError(f"bad value {value!r} for {what}:{key}: expected {'an' if kind == 'int' else 'a'} "
                             f"{'integer' if kind == 'int' else 'number' if kind == 'float' else kind}") from None
        if isinstance(out[key], float) and not math.isfinite(out[key]):
            raise UsageError(f"{what}:{key}={value} must be a finite number")
    return out


def problems(text: str) -> dict[str, dict[str, Any]]:
    """'toy-bernoulli:t=0.49,toy-bernoulli:t=0.499' -> {item: its parameters over the defaults}; every variant
    runs, and parameters outside their domain are refused before any cell runs."""
    valid = list(PROBLEMS)
    if not text.strip():
        raise UsageError(f"empty problem list: expected comma-separated names from: {', '.join(valid)}")
    out = {}
    for item in [s.strip() for s in text.split(",")]:
        name = item.split(":")[0]
        if name not in PROBLEMS:
            raise UsageError(f"unknown problem {name!r}; valid: {', '.join(valid)}")
        problem = PROBLEMS[name]
        params = {**problem.defaults, **assignments(item, {**problem.defaults, **problem.optional}, name)}
        why = problem.check(params)
        if why:
            raise UsageError(why)
        out[item] = params
    return out


def estimators(text: str) -> list[tuple[str, dict[str, Any]]]:
    """'gumbel-softmax:tau=0.5,st-sigmoid:slope=2' -> [(name, options)]; options checked against their domains."""
    if not text.strip():
        raise UsageError(f"empty estimator list: expected comma-separated names from: {', '.join(catalog.names())}")
    out = []
    for item in [s.strip() for s in text.split(",")]:
        name = item.split(":")[0]
        names(name, catalog.names(), "estimator")
        found = assignments(item, catalog.spec(name).options, name)
        for key, value in found.items():
            why = OPTION_RANGES[key].check(value) if key in OPTION_RANGES else ""
            if why:
                raise UsageError(f"{name}:{key}={value} {why}")
        out.append((name, found))
    return out


def samples_for(chosen: list[tuple[str, dict[str, Any]]], n_samples: tuple[int, ...]) -> None:
    """Draws asked for explicitly must suit every estimator asked for (RLOO and ARMS need 2 at least)."""
    for name, _ in chosen:
        for n in n_samples:
            why = checked_samples(catalog.spec(name), n)
            if why:
                raise UsageError(f"{why}: drop it from --estimators or raise --n-samples")
