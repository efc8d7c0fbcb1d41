"""Names the report gives things, from what the problems declare about themselves (bench.problems.PROBLEMS).

A problem's label names only the parameters that differ from its defaults: `sbn-vae (width=3)`, not every
parameter a cell recorded. Held-out metrics and their labels are the problems' own (`Problem.metrics`), beside
the training loss every problem has.
"""

from __future__ import annotations

import json
from typing import Any

from bench.problems import PROBLEMS

LOSS = {"loss": "held-out loss (nats per example)"}


def _value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _same(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return float(a) == float(b)
    return a == b


def differing(problem: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The parameters that differ from the problem's defaults (its optional ones included); a parameter set to
    None was not given. None when the problem is not known here (a plug-in not installed)."""
    known = PROBLEMS.get(problem)
    if known is None:
        return None
    defaults = {**known.defaults, **known.optional}
    return {k: v for k, v in params.items() if v is not None and not (k in defaults and _same(v, defaults[k]))}


def problem_label(problem: str, params: dict[str, Any], varying: list[str] | None = None) -> str:
    """`problem (key=value, ...)` with the parameters that differ from its defaults; for a problem not known
    here, those in `varying` (the ones that differ between its parameter sets in these results)."""
    shown = differing(problem, params)
    if shown is None:
        shown = {k: params.get(k) for k in varying or []}
    return problem + (f" ({', '.join(f'{k}={_value(v)}' for k, v in sorted(shown.items()))})" if shown else "")


def views(problem: str, param_sets: list[str]) -> dict[str, str]:
    """Each of one problem's parameter sets (JSON text, as stored) -> its label."""
    parsed = {}
    for text in param_sets:
        try:
            value = json.loads(text) if text else {}
        except (TypeError, json.JSONDecodeError):
            value = {}
        parsed[text] = value if isinstance(value, dict) else {}
    keys = sorted({k for d in parsed.values() for k in d})
    varying = [k for k in keys if len({json.dumps(d.get(k), default=str) for d in parsed.values()}) > 1]
    return {text: problem_label(problem, d, varying) for text, d in parsed.items()}


def metrics(problems: list[str] | None = None) -> dict[str, str]:
    """Held-out metric -> label: the loss, then what each problem declares (all problems', or those named), in
    the problems' order; a metric two problems declare keeps the first one's label."""
    out = dict(LOSS)
    names = PROBLEMS if problems is None else [p for p in PROBLEMS if p in set(problems)]
    for name in names:
        for metric, label in PROBLEMS[name].metrics.items():
            out.setdefault(metric, label)
    return out
