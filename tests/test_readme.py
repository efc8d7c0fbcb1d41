"""README's estimator table is the catalog's: generated from each module's SPEC, never edited by hand.
`python -m tests.test_readme` rewrites it in place; the test fails when README and the catalog differ.
Every `--estimators` and `--problems` list quoted in README or the docs parses as the CLI parses it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import estimators
from bench.plan import options
from estimators import catalog

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
QUOTED = re.compile(r"--(estimators|problems)[ =]([^\s`'\")\]]+)")
# the docs' plug-in example names what examples/mcgrad-plugin-example installs (tests/test_plugins.py runs it)
PLUG_INS = set(re.findall(r'^([\w-]+) = "mcgrad_plugin_example', (ROOT / "examples/mcgrad-plugin-example/"
                                                                  "pyproject.toml").read_text(), re.M))
BEGIN, END = "<!-- catalog: python -m tests.test_readme -->", "<!-- /catalog -->"


def _evaluations(spec: estimators.Spec) -> str:
    if spec.evals_per_sample is None:
        return "every configuration"
    extra = " + 1 per other value" if spec.evals_per_other_value else ""
    extra += " + 1 per coordinate" if spec.evals_per_coordinate else ""
    return f"{spec.evals_per_sample}{extra}" + (f" (>= {spec.min_samples} draws)" if spec.min_samples > 1 else "")


def catalog_table() -> str:
    rows = ["| estimator | family | unbiased | distributions | evaluations per draw | paper |",
            "|---|---|---|---|---|---|"]
    for name, module in catalog.modules().items():
        if not module.__name__.startswith("estimators."):  # a plug-in installed here is not the project's
            continue
        s = module.SPEC
        paper = re.sub(r"\s+", " ", s.paper).replace("|", "/")
        rows.append(f"| `{name}` | {s.family} | {'yes' if s.unbiased else 'no'} | {', '.join(s.dists)} | "
                    f"{_evaluations(s)} | {paper} |")
    return "\n".join(rows)


def _block(text: str) -> str:
    return text[text.index(BEGIN) + len(BEGIN):text.index(END)].strip()


def test_readme_catalog_is_the_catalog():
    assert _block(README.read_text()) == catalog_table(), "README's catalog is stale: python -m tests.test_readme"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_quoted_estimator_and_problem_lists_parse(doc):
    quoted = QUOTED.findall(doc.read_text())
    for flag, text in quoted:
        text = ",".join(item for item in text.split(",") if item.split(":")[0] not in PLUG_INS)
        if not text or "<" in text or "..." in text or text.split(":")[0].isupper():  # a placeholder (NAME, ...)
            continue
        try:
            options.estimators(text) if flag == "estimators" else options.problems(text)
        except options.UsageError as e:
            pytest.fail(f"{doc.name}: --{flag} {text}: {e}")


if __name__ == "__main__":
    text = README.read_text()
    head, rest = text.split(BEGIN, 1)
    README.write_text(f"{head}{BEGIN}\n{catalog_table()}\n{END}{rest.split(END, 1)[1]}")
