"""What the report does with results it did not expect: files another tool wrote, truncated files, a folder
with nothing readable (warnings, no page, exit 1), and text from results that looks like markup (escaped in
both pages, no live unsafe link)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench import report
from bench.report import markup, to_html, to_markdown
from bench.report.files import SkippedFile
from tests import synthetic_results

pytestmark = pytest.mark.xdist_group("report")
ROOT = Path(__file__).resolve().parent.parent


def _valid(folder: Path, name: str = "valid") -> Path:
    """One small file the benchmark could have written: chain's gradients at one configuration."""
    rows = [r for r in synthetic_results._gradients("chain", [1], [1], [1]) if r["backend"] == "torch"]
    synthetic_results._write(folder, name, rows, synthetic_results.NEW_SCHEMA, "run-v")
    return folder / f"{name}.parquet"


def _bad_files(folder: Path) -> list[str]:
    """A file of each kind the report must skip; returns their names."""
    folder.mkdir(parents=True, exist_ok=True)
    whole = _valid(folder, "source").read_bytes()
    (folder / "source.parquet").unlink()
    (folder / "truncated.parquet").write_bytes(whole[: len(whole) // 2])
    (folder / "empty.parquet").write_bytes(b"")
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}), folder / "foreign.parquet")
    wrong = pa.table({**{c: ["x"] for c in ["run_id", "cell_id", "suite", "problem", "problem_params", "estimator",
                                            "backend", "device", "metric", "param_group", "status", "message"]},
                      **{c: ["not a number"] for c in ["depth", "batch_size", "n_samples", "seed", "step"]},
                      "value": [1.0], "stderr": [0.1]})
    pq.write_table(wrong, folder / "wrong-types.parquet")
    (folder / "sub").mkdir()
    (folder / "sub" / "text.parquet").write_text("plain text")
    return ["truncated.parquet", "empty.parquet", "foreign.parquet", "wrong-types.parquet", "text.parquet"]


def _render(results: Path, out: Path) -> tuple[Path | None, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = report.render(results, out)
    return path, [str(w.message) for w in caught if issubclass(w.category, SkippedFile)]


def test_bad_files_beside_a_good_one_are_each_skipped_with_one_warning(tmp_path):
    bad = _bad_files(tmp_path / "results")
    _valid(tmp_path / "results")
    path, skipped = _render(tmp_path / "results", tmp_path / "out")
    assert path is not None and "## Problem: chain" in path.read_text()
    assert len(skipped) == len(bad) and all(any(name in w for w in skipped) for name in bad), skipped
    assert all("\n" not in w for w in skipped)  # one line each
    assert "not a bench results file: no column run_id" in next(w for w in skipped if "foreign" in w)


def test_a_folder_of_only_bad_files_renders_nothing_and_the_command_exits_1(tmp_path):
    bad = _bad_files(tmp_path / "results")
    stale = tmp_path / "out" / "index.md"
    path, skipped = _render(tmp_path / "results", tmp_path / "out")
    assert path is None and len(skipped) == len(bad) and not stale.exists()
    proc = subprocess.run([sys.executable, "-m", "bench", "report", "--results", str(tmp_path / "results"),
                           "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == len(bad) + 1 and "nothing to render" in lines[-1], proc.stderr
    assert not (tmp_path / "out" / "index.html").exists()


def test_missing_empty_and_rowless_folders_render_nothing(tmp_path):
    assert _render(tmp_path / "missing", tmp_path / "out")[0] is None
    (tmp_path / "empty").mkdir()
    assert _render(tmp_path / "empty", tmp_path / "out")[0] is None
    (tmp_path / "rowless").mkdir()
    synthetic_results._write(tmp_path / "rowless", "none", [], synthetic_results.NEW_SCHEMA, "run-0")
    assert _render(tmp_path / "rowless", tmp_path / "out")[0] is None
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


HOSTILE = {
    "estimator": "<script>alert(1)</script>**bold**[x](javascript:alert(1))|`tick`$x$_y_",
    "message": '<img src=x onerror="alert(2)"> [click](javascript:alert(3)) [data](data:text/html,hi) & | # -',
    "problem": "<b>plug</b>[p](JaVaScRiPt:alert(4))",
    "options": "not json {",
    "problem_params": "[1, 2]",
}


def _hostile(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    base = synthetic_results._gradients("chain", [1], [1], [1])
    rows = [{**r, "estimator": HOSTILE["estimator"] if r["estimator"] == "st" else r["estimator"]} for r in base]
    rows += [{**r, "problem": HOSTILE["problem"], "problem_params": HOSTILE["problem_params"],
              "options": HOSTILE["options"], "cell_id": "odd-" + r["cell_id"]} for r in base[:12]]
    rows.append(synthetic_results._row("gradients", "chain", HOSTILE["estimator"], "torch", "error", float("nan"),
                                       status="error", message=HOSTILE["message"]))
    synthetic_results._write(folder, "hostile", rows, synthetic_results.NEW_SCHEMA, "<run>&[r](javascript:x)")
    return folder


@pytest.fixture(scope="session")
def hostile_report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    path, _ = _render(_hostile(folder / "results"), folder / "out")
    assert path is not None
    return folder / "out"


def test_text_from_results_is_escaped_in_the_html_page(hostile_report):
    page = (hostile_report / "index.html").read_text()
    body = page[page.index("<body>"):]
    assert "<script" not in body and "<img src=x" not in body and "<b>plug" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "&lt;img src=x" in body
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs and all(h.startswith(("#", "http://", "https://", "plots/")) for h in hrefs), hrefs
    assert "javascript:" not in " ".join(hrefs).lower() and "data:" not in " ".join(hrefs)


def test_text_from_results_is_escaped_in_the_markdown_page(hostile_report):
    text = (hostile_report / "index.md").read_text()
    assert "<script" not in text and "<img" not in text and "<b>" not in text
    assert "&lt;script&gt;" in text and "&lt;img src=x" in text
    assert not re.search(r"(?<!\\)\](?i:\(javascript|\(data):", text)  # no link with an unsafe target
    # every table row keeps its column count: pipes from results are escaped
    for table in re.findall(r"(?:^\|.*\|$\n?)+", text, flags=re.MULTILINE):
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in table.splitlines()}
        assert len(widths) == 1, table


@pytest.mark.parametrize("value", [HOSTILE["estimator"], HOSTILE["message"], "a\\b", "``", "**", "[", "1. x",
                                   "# x", "\\*", "x\ny"])
def test_lit_and_code_keep_every_character_literal(value):
    assert markup.plain(markup.parse(markup.lit(value))) == value
    (token,) = markup.parse(markup.code(value))
    assert isinstance(token, markup.Code) and token.text == " ".join(value.splitlines())
    html = to_html.inline(markup.lit(value))
    assert "<" not in html.replace("<code>", "").replace("</code>", "")
    md = to_markdown.inline(markup.lit(value))
    assert "<" not in md and "](" not in md.replace("\\](", "")


@pytest.mark.parametrize("target,safe", [("https://example.org/a?b=1#c", True), ("plots/x.png", True),
                                         ("#section", True), ("javascript:alert(1)", False),
                                         ("JAVASCRIPT:alert(1)", False), ("data:text/html,x", False),
                                         ("//evil.example", False), ("java&#115;cript:x", False),
                                         ("vbscript:x", False), ("http://a b", False)])
def test_only_http_and_relative_links_are_live(target, safe):
    assert markup.safe_target(target) is safe
    html = to_html.inline(f"[text]({target})")
    assert ("<a href" in html) is (safe and " " not in target)


def test_unsafe_parameters_and_options_do_not_break_the_tables(hostile_report):
    text = (hostile_report / "index.md").read_text()
    assert "## Problem: &lt;b&gt;plug&lt;/b&gt;" in text  # problem_params not a dict: the bare name
    frame = pd.read_parquet(next((hostile_report.parent / "results").glob("*.parquet")))
    assert json.loads(frame.problem_params.iloc[0]) == synthetic_results.PARAMS["chain"]


def test_a_long_cell_breaks_between_names_never_inside_one():
    """'gumbel-softmax · jax, 2 draws' may wrap at its spaces, not after the hyphen of gumbel-softmax (a browser's
    default); the text itself is unchanged, so it copies and searches as written."""
    cell = to_html._cell(markup.lit("gumbel-softmax · jax, 2 draws"), numeric=False)
    assert '<span class="name">gumbel-softmax</span>' in cell
    assert "nowrap" not in cell and cell.startswith("<td>")  # the cell as a whole still wraps
    assert re.sub(r"<[^>]+>", "", cell) == "gumbel-softmax · jax, 2 draws"
    assert to_html.inline("a well-known word") == "a well-known word"  # paragraphs keep the browser's breaks
