"""MkDocs hooks: the pages that must never drift from the code are generated from it at build time.

- `<!-- generated:NAME -->` markers in a page are replaced by tables built from the code: the estimator catalog
  (`estimators.catalog.builtin_names()` / `estimators.spec(name)` and each module's docstring), the problems
  (`bench.problems.PROBLEMS`), the presets (`bench.plan.presets.PRESETS`) and the CLI's help (argparse).
- The results-schema page's table is checked against `bench.store.parquet.SCHEMA`: a column missing from the
  page, one the schema lacks, or a wrong type is a warning, which `mkdocs build --strict` turns into a failure.
- The API reference (`reference/*.md`) is one page per package, one mkdocstrings block per module, found by
  walking the `estimators` and `bench` packages: a new module appears without touching the docs.

Adding an estimator or a problem therefore never touches the documentation by hand.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import pkgutil
import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the packages are read from the working tree, installed or not
    sys.path.insert(0, str(ROOT))

log = logging.getLogger("mkdocs.plugins.mcgrad_docs")
# a Markdown link in prose, `[text](target)`, whose target is no URL: docstrings that describe markup (the report's)
LOCAL_LINK = re.compile(r"\[([^\]\n]+)\]\((?![a-z]+://)([^)\s]*)\)")
MARKER = re.compile(r"<!--\s*generated:([a-z-]+)\s*-->")
REFERENCE = "API reference"


# --- docstrings as prose (a griffe extension, loaded by mkdocstrings: see mkdocs.yml) ------------------------


try:
    import griffe

    class ProseDocstrings(griffe.Extension):
        """Docstrings here are prose, not Markdown: `[text](link)` in one describes markup (bench.report.doc), so it
        is kept as text rather than made a link that leads nowhere."""

        def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
            if obj.docstring is not None:
                obj.docstring.value = LOCAL_LINK.sub(r"\\[\1\\](\2)", obj.docstring.value)
except ImportError:  # only mkdocstrings needs it
    pass


# --- the API reference -----------------------------------------------------------------------------------------


def _modules(package: str) -> list[str]:
    """Every module of a package (dotted names, subpackages included), private ones and `__main__` left out."""
    root = ROOT / package.replace(".", "/")
    found = []
    for info in pkgutil.iter_modules([str(root)]):
        if info.name.startswith("_"):
            continue
        found.append(f"{package}.{info.name}")
    return sorted(found)


def _is_package(module: str) -> bool:
    return (ROOT / module.replace(".", "/") / "__init__.py").is_file()


def reference_pages() -> dict[str, tuple[str, list[str]]]:
    """{file name: (title, modules)}: one page per package, estimators split into infrastructure and catalog."""
    import estimators

    catalog = {estimators.module(n).__name__ for n in estimators.catalog.builtin_names()}
    top = [m for m in _modules("estimators") if not _is_package(m)]
    pages = {
        "estimators.md": ("estimators", ["estimators", *[m for m in top if m not in catalog]]),
        "estimators-catalog.md": ("estimators: one module per estimator", sorted(catalog)),
    }
    for sub in [m for m in _modules("estimators") if _is_package(m)]:
        pages[f"{sub}.md"] = (sub, [sub, *_modules(sub)])
    pages["bench.md"] = ("bench", ["bench", *[m for m in _modules("bench") if not _is_package(m)]])
    for sub in [m for m in _modules("bench") if _is_package(m)]:
        pages[f"{sub}.md"] = (sub, [sub, *[m for m in _modules(sub) if not _is_package(m)]])
    return pages


def _reference_markdown(title: str, modules: list[str]) -> str:
    lines = [f"# {title}", "", "Generated from the docstrings (mkdocstrings); the source is the reference.", ""]
    for module in modules:
        lines += [f"::: {module}", ""]
    return "\n".join(lines)


def on_config(config: Any) -> Any:
    """The API reference's pages join the navigation, under the `API reference` entry."""
    pages = [{title: f"reference/{name}"} for name, (title, _) in reference_pages().items()]
    for i, item in enumerate(config["nav"] or []):
        if isinstance(item, dict) and REFERENCE in item:
            index = item[REFERENCE]
            config["nav"][i] = {REFERENCE: ([index] if isinstance(index, str) else list(index)) + pages}
    return config


def on_files(files: Any, config: Any) -> Any:
    for name, (title, modules) in reference_pages().items():
        files.append(File.generated(config, f"reference/{name}", content=_reference_markdown(title, modules)))
    return files


# --- generated tables ------------------------------------------------------------------------------------------


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def _evaluations(spec: Any) -> str:
    if spec.evals_per_sample is None:
        return "one per configuration"
    text = str(spec.evals_per_sample)
    if spec.evals_per_other_value:
        text += f" + {spec.evals_per_other_value} per other value of every variable"
    if spec.evals_per_coordinate:
        text += f" + {spec.evals_per_coordinate} per coordinate"
    return text


def _options(options: dict[str, Any]) -> str:
    return ", ".join(f"`{k}={v:g}`" if isinstance(v, float) else f"`{k}={v}`" for k, v in options.items()) or "-"


def _docstring(obj: Any) -> str:
    """A module's docstring as Markdown: indented formula blocks stay code blocks."""
    return inspect.cleandoc(obj.__doc__ or "").strip()


def estimators_catalog() -> str:
    import estimators
    from estimators.spec import REQUIREMENTS

    names = estimators.catalog.builtin_names()
    rows = []
    for name in names:
        s = estimators.spec(name)
        rows.append([f"[`{name}`](#{name})", s.family, "yes" if s.unbiased else "no", ", ".join(s.dists),
                     _evaluations(s), "yes" if s.needs_df else "no", s.state or "-", _options(s.options),
                     s.paper])
    parts = [f"{len(names)} built-in estimators, in catalog order (`estimators.names()` without plug-ins).", "",
             _table(["name", "family", "unbiased", "distributions", "f-evaluations per draw", "needs df/dz", "state",
                     "options (defaults)", "paper"], rows), ""]
    for name in names:
        s, module = estimators.spec(name), estimators.module(name)
        facts = [f"**Paper.** {s.paper}"]
        if s.note:
            facts.append(f"**Note.** {s.note}")
        if s.requires:
            facts.append(f"**Requires** {REQUIREMENTS.get(s.requires, s.requires)} (`Spec.requires = "
                         f"\"{s.requires}\"`); the single-node API refuses it.")
        if s.min_samples > 1:
            facts.append(f"**Draws.** `n_samples >= {s.min_samples}`" + (
                " (the draws form one estimate with a shared baseline)." if s.multi_sample else "."))
        if s.level == "objective":
            facts.append("**Level.** One surrogate of the whole model's per-sample losses (`Spec.level = "
                         "\"objective\"`), not one per node.")
        parts += [f"### `{name}` {{ #{name} }}", "", *[f + "\n" for f in facts],
                  f"Module [`{module.__name__}`][{module.__name__}]:", "", _docstring(module), ""]
    return "\n".join(parts)


def problems_catalog() -> str:
    import estimators
    from bench.problems import PROBLEMS
    from bench.problems.engine import MAX_JOINT_CONFIGS
    from bench.problems.plugins import LOADED

    rows = []
    for p in PROBLEMS.values():
        if p.name in LOADED:
            continue
        # bench.stats.truths.kind: closed form, else exact when enumerable (discrete, <= 2^16 joint configurations)
        truth = ("closed form" if p.closed_form else "reference estimate" if p.dist == "gaussian"
                 else f"exact enumeration up to 2^{MAX_JOINT_CONFIGS.bit_length() - 1} joint configurations, "
                      "else a reference estimate")
        rows.append([f"[`{p.name}`](#{p.name})", p.dist, p.description, "yes" if p.has_depth else "-",
                     {"none": "-", "images": "images, one-hot labels", "binary-images": "binarized images"}[p.data],
                     truth])
    parts = [_table(["problem", "distribution", "what", "depth", "data", "truth"], rows), ""]
    names = estimators.catalog.builtin_names()
    for p in PROBLEMS.values():
        if p.name in LOADED:
            continue
        params = []
        for key, default in {**p.defaults, **p.optional}.items():
            domain = str(p.ranges[key]) if key in p.ranges else (
                "one of " + ", ".join(map(str, p.choices[key])) if key in p.choices else "")
            params.append([f"`{key}`", f"`{default!r}`", "optional" if key in p.optional else "", domain])
        applies = [n for n in names if p.supports(n)]
        facts = [f"**Distribution** {p.dist}; **depth** " + ("its stochastic layers" if p.has_depth else "none"),
                 "**Estimators that apply** (`Problem.supports`): " + ", ".join(f"`{n}`" for n in applies)]
        if p.excludes:
            facts.append("**Left out** of its gradients and training grids: " + ", ".join(f"`{n}`" for n in p.excludes))
        if p.provides:
            facts.append("**Provides** " + ", ".join(f"`{x}`" for x in p.provides) + " (for `Spec.requires`)")
        if p.metrics:
            facts.append("**Held-out metrics** besides the loss: " + "; ".join(
                f"`{k}` ({v})" for k, v in p.metrics.items()))
        if p.skips:
            facts.append("**Skips work** in torch that the floor does (`Problem.skips`): a time below the floor's is "
                         "real here")
        if p.sizes:
            facts.append("**Sizes per preset**: " + "; ".join(
                f"{preset}: " + ", ".join(f"{label or 'plain'} {v}" for label, v in variants.items())
                for preset, variants in p.sizes.items()))
        if p.speed_variants:
            facts.append("**Speed variants**: " + ", ".join(f"{k} {v}" for k, v in p.speed_variants.items()))
        module = p.module
        parts += [f"### `{p.name}` {{ #{p.name} }}", "", *[f + "\n" for f in facts]]
        if params:
            parts += [_table(["parameter", "default", "", "domain"], params), ""]
        parts += [f"Module [`{module}`][{module}]:", "", _docstring(sys.modules[module]), ""]
    return "\n".join(parts)


def presets_table() -> str:
    from bench.plan.presets import PRESETS

    rows = []
    for p in PRESETS.values():
        rows.append([f"`{p.name}`", ", ".join(p.problems) if p.problems else "all",
                     ", ".join(p.estimators) if p.estimators else "all", ", ".join(map(str, p.depths)),
                     ", ".join(map(str, p.batch_sizes)), ", ".join(map(str, p.n_samples)), f"{p.n_estimates:,}",
                     ", ".join(p.points), len(p.claims), len(p.experiments),
                     f"{p.training_steps} x {len(p.training_seeds)} seed(s)" if p.experiments else "-"])
    return _table(["preset", "problems", "estimators", "depths", "batch sizes", "draws", "estimates", "points",
                   "claims", "experiments", "training steps"], rows)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # noqa: SLF001 - argparse has no public accessor for its subcommands
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            return dict(action.choices)
    return {}


def cli_help() -> str:
    from bench import cli

    os.environ["COLUMNS"] = "110"  # a fixed width, whatever terminal builds the docs
    commands = _subparsers(cli.parser())
    parts = []
    for name, sub in commands.items():
        parts += [f"#### `python -m bench {name}`", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def audit_adapters() -> str:
    """The audit's adapter modules (bench.audit.ADAPTER_MODULES), read without importing them: their library, how
    to install it, and the first paragraph of their docstring."""
    import ast

    from bench.audit import ADAPTER_MODULES
    from bench.audit import PROBLEMS as AUDIT_PROBLEMS

    rows = []
    for name in ADAPTER_MODULES:
        tree = ast.parse((ROOT / "bench" / "audit" / f"{name}.py").read_text())
        consts = {t.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                  for t in node.targets if isinstance(t, ast.Name) and isinstance(node.value, ast.Constant)}
        summary = (ast.get_docstring(tree) or "").split("\n\n")[0].replace("\n", " ")
        rows.append([f"[`bench.audit.{name}`][bench.audit.{name}]", f"`{consts.get('LIBRARY', '')}`",
                     consts.get("INSTALL", ""), summary])
    problems = ", ".join(f"`{p}`" + (f" ({', '.join(f'{k}={v}' for k, v in pp.items())})" if pp else "")
                         for p, pp in AUDIT_PROBLEMS.items())
    return (_table(["adapter module", "library", "install", "what it wraps"], rows)
            + f"\n\nProblems audited (`bench.audit.PROBLEMS`): {problems}.")


def test_modules() -> str:
    """Every tests/test_*.py with the first paragraph of its docstring, and whether it holds slow tests."""
    import ast

    rows = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        text = path.read_text()
        summary = (ast.get_docstring(ast.parse(text)) or "").split("\n\n")[0].replace("\n", " ")
        rows.append([f"`tests/{path.name}`", summary, "yes" if "mark.slow" in text else ""])
    return _table(["module", "what it proves", "slow tests"], rows)


GENERATORS = {"tests": test_modules, "estimators": estimators_catalog, "problems": problems_catalog,
              "presets": presets_table, "cli": cli_help, "audit-adapters": audit_adapters}


def check_schema(markdown: str) -> None:
    """Every SCHEMA column documented once with its type, and nothing else: else a warning (strict: a failure)."""
    from bench.store.parquet import SCHEMA

    documented = dict(re.findall(r"^\|\s*`([a-z_]+)`\s*\|\s*`?([a-z0-9]+)`?\s*\|", markdown, flags=re.M))
    for field in SCHEMA:
        if field.name not in documented:
            log.warning("results-schema.md: column %r of bench.store.parquet.SCHEMA is not documented", field.name)
        elif documented[field.name] != str(field.type):
            log.warning("results-schema.md: column %r is %s in SCHEMA, documented as %s", field.name, field.type,
                        documented[field.name])
    for name in set(documented) - set(SCHEMA.names):
        log.warning("results-schema.md documents column %r, which bench.store.parquet.SCHEMA does not have", name)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri == "results-schema.md":
        check_schema(markdown)

    def generate(match: re.Match) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            log.warning("%s: unknown generated block %r (known: %s)", page.file.src_uri, name, ", ".join(GENERATORS))
            return match.group(0)
        return GENERATORS[name]()

    return MARKER.sub(generate, markdown)
