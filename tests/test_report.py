"""The report from a small synthetic results folder: valid PNGs, index.md naming every problem and plot,
index.html that parses and embeds its plots, a corrupt file warned about and skipped, the CLI."""

from __future__ import annotations

import base64
import subprocess
import sys
import types
import warnings
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from bench import report
from bench.report import caveats, data, headline, style, tables
from bench.report.costplots import front, pareto
from bench.report.doc import Heading
from tests import synthetic_results

pytestmark = pytest.mark.xdist_group("report")  # its session-scoped fixtures run once, on one worker

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"
FINDINGS = pd.DataFrame([{"seed": "002", "experiment": "002-1", "seed_conclusion": "adjusted learns faster",
                          "suite_finding": "synthetic finding", "agrees": "yes"}])


@pytest.fixture(scope="session")
def results(tmp_path_factory) -> Path:
    return synthetic_results.write(tmp_path_factory.mktemp("results"))


def _texts(fig) -> list[tuple]:
    """Every piece of text a saved figure shows, with the axes it belongs to (None: the figure's title): tick
    labels as drawn, axis labels, titles, legends."""
    out = [(fig._suptitle, None)] if fig._suptitle is not None else []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        mine = [ax.title, ax._left_title, ax._right_title]
        for axis in (ax.xaxis, ax.yaxis):
            mine += style._drawn_labels(axis) + [axis.label, axis.get_offset_text()]
        legend = ax.get_legend()
        mine += list(legend.get_texts()) + [legend.get_title()] if legend is not None else []
        out += [(t, ax) for t in mine]
    return [(t, ax) for t, ax in out if t.get_visible() and t.get_text().strip()]


def overlapping(fig) -> list[tuple[str, str]]:
    """Texts whose boxes overlap (by more than a pixel) in the figure as last drawn: pairs of texts, and a text
    over the plotting area of an axes it does not belong to (a label pushed into the next panel)."""
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer).padded(-1.0), ax) for t, ax in _texts(fig)]
    out = [(a, b) for i, (a, box, _) in enumerate(boxes) for b, other, _ in boxes[i + 1:] if box.overlaps(other)]
    areas = [(ax, ax.get_window_extent(renderer)) for ax in fig.axes if ax.get_visible()]
    return out + [(a, f"axes {i}") for a, box, owner in boxes for i, (ax, area) in enumerate(areas)
                  if ax is not owner and box.overlaps(area)]


@pytest.fixture(scope="session")
def rendered(results, tmp_path_factory) -> tuple[Path, list[str], dict[str, list]]:
    """The report folder, the warnings raised while rendering it (bench.literature.findings replaced by a fake)
    and, per plot, the texts in it that overlap (checked as each figure is saved)."""
    import bench.literature.claims  # noqa: F401 - bound to the real findings module before it is faked below

    out = tmp_path_factory.mktemp("report")
    fake = types.ModuleType("bench.literature.findings")
    fake.compare = lambda df: FINDINGS
    clashes: dict[str, list] = {}
    save = style.save

    def checked_save(fig, path):
        style.declutter(fig)  # save declutters again: a no-op on a figure already clear
        clashes[Path(path).name] = overlapping(fig)
        return save(fig, path)

    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mp.setitem(sys.modules, "bench.literature.findings", fake)
        mp.setattr(style, "save", checked_save)
        report.render(results, out)
    return out, [str(w.message) for w in caught], clashes


def test_no_text_overlaps_in_any_plot(rendered):
    _, _, clashes = rendered
    assert len(clashes) == len(list((rendered[0] / "plots").glob("*.png")))
    assert {name: pairs for name, pairs in clashes.items() if pairs} == {}


def test_every_plot_is_a_valid_png(rendered):
    out = rendered[0]
    plots = sorted((out / "plots").glob("*.png"))
    names = {p.stem for p in plots}
    expected = {"depth-chain", "batch-chain", "samples-chain", "layers-chain", "layers-chain-trained",
                "efficiency-chain", "efficiency-chain-trained", "speed-chain", "efficiency-toy-bernoulli",
                "speed-toy-bernoulli", "training-experiment-002-1", "training-experiment-002-3",
                "training-sbn-vae-width-3-training-at-lr-0-001",
                "training-skip-rnn-training-at-lr-0-001", "trajectory-chain-1", "fronts"}
    assert expected <= names, expected - names
    # plots are drawn only from data: the toy problem has one depth, one batch size, no layers
    assert not names & {"depth-toy-bernoulli", "batch-toy-bernoulli", "layers-toy-bernoulli"}
    for p in plots:
        assert p.read_bytes()[:8] == PNG and p.stat().st_size > 2000, p
        image = matplotlib.image.imread(p)
        assert image.shape[0] > 100 and image.shape[1] > 100 and image.std() > 0, p


def test_index_md_names_every_problem_and_plot(rendered):
    out = rendered[0]
    text = (out / "index.md").read_text()
    for heading in ["## Problem: chain", "## Problem: toy-bernoulli", "### Gradients at the trained point",
                    "## Training", "## Failed cells", "## Environment"]:
        assert heading in text
    assert "out of memory (synthetic)" in text  # the failed cell
    assert "| run-a |" in text and "| run-b |" in text and "0123456789" in text  # environment per run
    assert "synthetic finding" in text  # the seed-findings table from bench.literature.findings.compare
    assert "Ranked by mse" in text and "Ranked by work-normalised variance" in text
    assert "| estimator | variance torch | variance JAX |" in text
    linked = {line.split("](")[1].rstrip(")") for line in text.splitlines() if line.startswith("- [")}
    on_disk = {f"plots/{p.name}" for p in (out / "plots").glob("*.png")}
    assert linked == on_disk  # the index lists exactly the plots that exist
    assert all((out / path).is_file() for path in linked)


class _Page(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.images, self.links, self.ids, self.errors = [], [], [], set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.images.append(a["src"])
        if tag == "a":
            self.links.append(a["href"])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def test_index_html_parses_and_embeds_its_plots(rendered):
    out = rendered[0]
    page = _Page()
    page.feed((out / "index.html").read_text())
    page.close()
    assert not page.errors and not page.stack  # every element closed, in order
    assert len(page.images) == len(list((out / "plots").glob("*.png")))
    for src in page.images:  # self-contained: embedded, or a file that exists
        if src.startswith("data:"):
            assert src.startswith("data:image/png;base64,")
            assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG
        else:
            assert (out / src).is_file(), src
    for href in page.links:  # the plot list points at the embedded figures
        assert href[1:] in page.ids if href.startswith("#") else (out / href).exists(), href


def test_corrupt_file_is_named_in_a_warning_and_the_rest_reported(rendered):
    out, caught = rendered[0], rendered[1]
    assert any("corrupt.parquet" in w for w in caught), caught
    assert "Problem: chain" in (out / "index.md").read_text()


def test_cli_report_exits_0(tmp_path):
    """The command line on a small folder (the whole synthetic one is rendered in-process above)."""
    results = synthetic_results.write_old(tmp_path / "results")
    (results / "corrupt.parquet").write_bytes(b"this is not a parquet file")
    proc = subprocess.run([sys.executable, "-m", "bench", "report", "--results", str(results), "--out",
                           str(tmp_path / "report")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "corrupt.parquet" in proc.stderr and "Traceback" not in proc.stderr
    assert (tmp_path / "report" / "index.md").is_file() and (tmp_path / "report" / "index.html").is_file()


def test_nothing_to_render_returns_none_and_writes_nothing(tmp_path):
    assert report.render(tmp_path / "nothing", tmp_path / "out") is None
    (tmp_path / "empty").mkdir()
    assert report.render(tmp_path / "empty", tmp_path / "out") is None
    assert not (tmp_path / "out" / "index.md").exists() and not (tmp_path / "out" / "index.html").exists()


def test_results_without_the_training_columns_get_defaults():
    old = pd.DataFrame({"problem": ["chain"], "problem_params": ["{}"], "estimator": ["disarm"], "step": [None]})
    df = data.normalise(old)
    assert np.isnan(df.lr[0]) and df.options[0] == "{}" and df.experiment[0] == ""
    assert df.point[0] == "init" and df.label[0] == "disarm" and df.view[0] == "chain"


def test_findings_table_without_the_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "bench.literature.findings", None)  # import raises ImportError
    (block,) = tables.findings(pd.DataFrame())
    assert "bench.literature.findings" in block.text


def test_an_estimator_missing_the_usual_value_keeps_its_own():
    """rloo never runs with one draw: holding n_samples at 1 must keep it (at 2), named in the text."""
    frame = pd.DataFrame({"label": ["reinforce", "reinforce", "rloo", "disarm"], "backend": ["torch"] * 4,
                          "n_samples": [1, 4, 2, 1], "variance": [1.0, 0.3, 0.5, 0.2]})
    held, text = data.hold(frame, [], ("n_samples",))
    assert sorted(zip(held.label, held.n_samples)) == [("disarm", 1), ("reinforce", 1), ("rloo", 2)]
    assert text == {"n_samples": "1 (rloo: 2)"}


def test_pareto_front_and_colours():
    frame = pd.DataFrame({"time": [1.0, 2.0, 3.0, 4.0], "variance": [5.0, 6.0, 1.0, 1.0]})
    assert list(pareto(frame).time) == [1.0, 3.0]
    catalog = [style.colour(e) for e in style.CATALOG]
    assert len(set(catalog)) == len(catalog)  # every estimator its own colour
    assert style.colour("disarm") == style.colour("disarm") and style.linestyle("jax") != style.linestyle("torch")



# --- speed stability (issue 11): unstable timings marked, never ranked on; the headline -----------------------


def _section(text: str, heading: str) -> str:
    """The text of one `## ` section of index.md."""
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:end if end >= 0 else None]


def _ranked_rows(section: str) -> list[list[str]]:
    """The rows of the first work-normalised-variance ranking table in a section, as lists of cells."""
    table = section[section.index("Ranked by work-normalised variance"):].split("\n\n")[1]
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]


def test_unstable_timings_are_marked_and_left_out_of_the_work_variance_ranking(rendered):
    chain = _section((rendered[0] / "index.md").read_text(), "## Problem: chain")
    rows = _ranked_rows(chain)
    unstable = synthetic_results.UNSTABLE_ON_CHAIN
    ranked = [r for r in rows if r[0] != "–"]
    assert [r[0] for r in ranked] == [str(i + 1) for i in range(len(ranked))]
    assert {r[1] for r in ranked} == {"disarm", "st"}  # the stable ones, every backend with gradients
    shown = [r for r in rows if r[1] == unstable]
    assert len(shown) == 2 and all(r[0] == "–" and r[-1].endswith("†") and r[-2].endswith("†") for r in shown)
    assert rows[-2:] == shown  # listed after the ranking, not inside it


def test_unstable_timings_are_off_the_pareto_front(results):
    """At chain's held configuration the unstable estimator would be on the front; with its verdict it is not."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the corrupt file's warning, tested elsewhere
        rows = data.load(results).rows
    eff = data.efficiency(data.gradients(rows), data.speed(rows))
    chain = eff[(eff.view == "chain") & (eff.point == "init") & (eff.depth == 3) & (eff.batch_size == 8)
                & (eff.n_samples == 1) & (eff.backend == "torch")]
    unstable = synthetic_results.UNSTABLE_ON_CHAIN
    assert unstable in set(pareto(chain[chain.variance > 0]).estimator)  # trusted, it would be on the front
    assert set(chain[chain.estimator == unstable].stability) == {data.UNSTABLE}
    assert not chain[chain.estimator == unstable].ranked.any()
    assert unstable not in set(front(chain).estimator) and "disarm" in set(front(chain).estimator)
    toy = eff[eff.view == "toy-bernoulli"]  # results from before the check: unknown, never on a front
    assert set(toy.stability) == {data.UNKNOWN} and front(toy).empty


def test_efficiency_caption_names_the_front_and_what_was_left_off(rendered):
    text = (rendered[0] / "index.md").read_text()
    caption = next(line for line in text.splitlines() if line.startswith("_chain, init point: cost against"))
    on_front = caption.split("among stable timings): ")[1].split(". ")[0]
    assert "disarm" in on_front and "reinforce" not in on_front
    left_off = caption.split("left off the front: ")[1].split(". ")[0]
    assert set(left_off.split(", ")) == {"reinforce · torch †", "reinforce · jax †"}


def test_speed_section_shows_ratio_to_floor_and_estimate_memory_marked(rendered):
    text = (rendered[0] / "index.md").read_text()
    chain = _section(text, "## Problem: chain")
    header = next(line for line in chain.splitlines() if line.startswith("| estimator | backend | device | time"))
    assert "time / floor" in header and "estimate memory (MiB)" in header and "recompilations" in header
    rows = [line for line in chain.splitlines() if line.startswith("| reinforce | torch-compile | cpu |")]
    assert rows and "unstable †" in rows[0] and "1.5 †" in rows[0]
    stable = next(line for line in chain.splitlines() if line.startswith("| disarm | torch | cpu | 0.0012"))
    assert "†" not in stable and "| stable |" in stable
    assert "time torch-compile (s)" in chain  # the third backend beside torch and JAX


def _headline_rows(text: str) -> dict[str, list[str]]:
    """The opening table's rows by problem (the bold name that opens the first cell)."""
    head = _section(text, "## Headline")
    table = [line for line in head.splitlines() if line.startswith("| **")]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table]
    return {r[0].split("**")[1]: r for r in rows}


def test_headline_table_opens_the_report_with_each_problems_best(rendered):
    text = (rendered[0] / "index.md").read_text()
    assert text.index("# Monte Carlo") < text.index("## Headline") < text.index("## Problem:")
    rows = _headline_rows(text)
    assert set(rows) == {"chain", "stochastic-depth", "toy-bernoulli"}
    chain = rows["chain"]
    assert chain[0] == "**chain**: depth 3, batch 8, 1 draw, cpu"
    # reinforce's timings are unstable: disarm is the only unbiased one ranked (its faster backend, JAX, first)
    assert chain[1] == "disarm · jax" and " ± " in chain[2] and chain[3] == "no other stable"
    assert synthetic_results.UNSTABLE_ON_CHAIN not in " ".join(chain)
    assert chain[5] == "st · jax" and chain[7].startswith("0.1 ± ")
    assert "<b>chain</b>" in (rendered[0] / "index.html").read_text()  # bold in the HTML page too


def test_headline_says_when_a_problem_has_no_stable_speed_cell(rendered):
    text = (rendered[0] / "index.md").read_text()
    rows = _headline_rows(text)
    assert rows["stochastic-depth"][1] == "no stable timing (6 unstable †)"
    assert rows["toy-bernoulli"][1] == "no stable timing (6 of unknown stability ‡)"
    # timings without a verdict are said to be treated as unstable once, not per table
    assert text.count("carry no stability verdict") == 1


def test_the_fronts_figure_audit_and_warnings_come_before_the_details(rendered):
    text = (rendered[0] / "index.md").read_text()
    fronts, warned = text.index("![Pareto fronts, every problem](plots/fronts.png)"), text.index("**Warnings**")
    assert text.index("## Headline") < fronts < warned < text.index("How to read") < text.index("## Problem:")
    block = text[warned:text.index("How to read")]
    assert "cells were made by code that has changed since" in block and "2 cells failed (1 error, 1 oom)" in block
    assert "[Warnings in full](#warnings-in-full)" in block
    assert "out of memory (synthetic)" not in block  # the messages are in the tables at the end
    end = text[text.index("## Warnings in full"):]
    assert "### Failed cells" in end and "out of memory (synthetic)" in end
    assert text.index("## Environment") < text.index("## Warnings in full")
    html = (rendered[0] / "index.html").read_text()
    assert 'href="#warnings-in-full"' in html and 'id="warnings-in-full"' in html


def test_results_from_before_the_stability_check_render(tmp_path):
    results = synthetic_results.write_old(tmp_path / "results")
    path = report.render(results, tmp_path / "out")
    text = path.read_text()
    head = _section(text, "## Headline")
    assert "no stable timing" in head and "carry no stability verdict" in head
    assert "Not ranked by work-normalised variance" in text and "‡" in text
    assert (tmp_path / "out" / "plots" / "efficiency-chain.png").is_file()
    assert (tmp_path / "out" / "plots" / "speed-chain.png").is_file()


def test_stability_verdicts_across_seeds():
    """One unstable seed makes the configuration unstable; no verdict at all is unknown."""
    frame = pd.DataFrame({"stable": [1.0, 0.5, 0.0, np.nan]})
    assert list(data.stability(frame)) == [data.STABLE, data.UNSTABLE, data.UNSTABLE, data.UNKNOWN]
    assert list(data.stability(pd.DataFrame(index=range(2)))) == [data.UNKNOWN] * 2
    assert data.mark(data.STABLE) == "" and data.mark(data.UNSTABLE) == " †" and data.mark(data.UNKNOWN) == " ‡"
    assert tables.timed(1.5e-3, data.UNSTABLE) == "0.0015 †" and tables.timed(np.nan, data.UNSTABLE) == "n/a"


def test_headline_times_and_numbers():
    assert [headline.seconds(t) for t in (2.1, 1.2e-3, 6e-4, 3.5e-5, 4e-9)] == ["2.1 s", "1.2 ms", "600 µs",
                                                                                "35 µs", "4 ns"]
    assert headline.sci(3.1e-5) == "3.1e-5" and headline.sci(0.25) == "0.25" and headline.sci(310.0) == "3.1e2"
    assert headline.unbiased("disarm") and not headline.unbiased("st") and not headline.unbiased("no-such")


def test_results_older_than_the_code_are_flagged_by_suite():
    """The report compares every cell's stored versions with this checkout's, as `--resume` does: current cells
    pass, a changed estimator is named, a suite with nothing current is called out whole, and a cell of an
    estimator this process does not know (an audited library's adapter) is not compared."""
    from bench.store import versions

    def cell(i: int, suite: str, estimator: str, **stored: str) -> dict:
        now = versions.versions(suite, "chain", estimator, "torch")
        return {"cell_id": f"c{i}", "suite": suite, "problem": "chain", "estimator": estimator, "backend": "torch",
                **now, **stored}

    rows = pd.DataFrame([cell(0, "gradients", "disarm"), cell(1, "gradients", "disarm"),
                         cell(2, "gradients", "rloo", estimator_version="old"),
                         cell(3, "speed", "st", suite_version="old"),
                         cell(4, "audit", "pyro/trace-elbo", estimator_version="pyro-ppl==0+abc")])
    rows = rows.assign(status="ok")
    stale = caveats.outdated(rows)
    assert stale[["suite", "changed", "cells", "estimators"]].values.tolist() == [
        ["gradients", "estimator", 1, "rloo"], ["speed", "suite", 1, "st"]]
    (line,) = caveats.summary(rows)[1].items
    assert line.startswith("2 of 5 cells were made by code that has changed since (all of suite speed)")
    full = caveats.tables(rows)
    warning = full[full.index(Heading(3, "Results from code that has changed since")) + 1:]
    assert "2 cells were made by code that has changed since" in warning[0].text
    assert "(all of suite speed)" in warning[0].text and "gradients" not in warning[0].text
    assert warning[1].rows[0][2] == "1 of 3"
    assert caveats.outdated(rows.iloc[:2]).empty and caveats.summary(rows.iloc[:2]) == []


def test_a_problem_or_suite_this_checkout_does_not_know_is_not_compared():
    rows = pd.DataFrame([{"cell_id": "c0", "suite": "no-such-suite", "problem": "no-such-problem",
                          "estimator": "no-such-estimator", "backend": "torch", "estimator_version": "x",
                          "problem_version": "y", "suite_version": "z", "status": "ok"}])
    assert caveats.outdated(rows).changed.tolist() == ["suite"]  # only the suite's (empty) closure compares


@pytest.mark.slow  # renders the whole 283-cell reference
def test_no_text_overlaps_at_the_literature_sizes(tmp_path, monkeypatch):
    """The committed literature-size reference (results/paper/) labels its problems with long parameter lists,
    e.g. "categorical-vae (data=digits28, hidden=256, variant=nonlinear)"; its plots keep them apart too."""
    paper = Path(__file__).resolve().parents[1] / "results" / "paper"
    clashes: dict[str, list] = {}
    save = style.save

    def checked_save(fig, path):
        style.declutter(fig)
        clashes[Path(path).name] = overlapping(fig)
        return save(fig, path)

    monkeypatch.setattr(style, "save", checked_save)
    assert report.render(paper, tmp_path) is not None
    assert "fronts.png" in clashes
    assert {name: pairs for name, pairs in clashes.items() if pairs} == {}
