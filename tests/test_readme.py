"""README's estimator table is the catalog's: generated from each module's SPEC, never edited by hand.
`python -m tests.test_readme` rewrites it in place; the test fails when README and the catalog differ."""

from __future__ import annotations

import re
from pathlib import Path

import estimators
from estimators import catalog

README = Path(__file__).resolve().parents[1] / "README.md"
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


if __name__ == "__main__":
    text = README.read_text()
    head, rest = text.split(BEGIN, 1)
    README.write_text(f"{head}{BEGIN}\n{catalog_table()}\n{END}{rest.split(END, 1)[1]}")
