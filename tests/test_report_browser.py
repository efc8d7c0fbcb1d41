"""The report's HTML page in a real browser (headless Chromium, scripts/screenshot_report.py): it loads, draws
its text and plots, its first screen holds the answer, and that opening table needs no sideways scrolling at the
literature's label lengths. Only where Debian's chromium is installed; CI need
not have it."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

from bench.report import data, headline, to_html
from bench.report.doc import Table
from tests import synthetic_results

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "screenshot_report.py"

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("report"),
              pytest.mark.skipif(not CHROMIUM.is_file(), reason="no /usr/bin/chromium (apt-get install chromium)")]


def _script():
    spec = importlib.util.spec_from_file_location("screenshot_report", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_renders_in_chromium(tmp_path):
    from PIL import Image

    shots = _script()
    results = synthetic_results.write_old(tmp_path / "results")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        page = shots.render(results, tmp_path)
    top = np.asarray(Image.open(shots.screenshot(page, tmp_path / "top.png", 1280, 1400)).convert("L"))
    assert top.shape == (1400, 1280)
    inked = (top < 200).mean(axis=1)  # share of dark pixels per row: text, tables, plots
    assert (inked > 0).sum() > 300, "the first screen is (almost) blank"
    end = shots.from_anchor(page, "environment")
    pieces = shots.tiles(shots.screenshot(end, tmp_path / "end.png", 1280, 4000), 1400)
    assert pieces and all(p.is_file() for p in pieces)
    first = np.asarray(Image.open(pieces[0]).convert("L"))
    assert (first[:200] < 200).any(), "the page from #environment starts blank: the earlier sections were not hidden"


def test_the_opening_table_fits_a_1280_pixel_window(tmp_path):
    """The committed literature-size reference labels its problems and estimators at length ("categorical-vae
    (data=digits28, hidden=256, variant=nonlinear)", "double-cv (warmup_rows=8)"); its headline table still fits
    the window. The probe itself finds a table that does not."""
    shots = _script()
    rows = data.load(ROOT / "results" / "paper").rows
    grads, speeds = data.gradients(rows), data.speed(rows)
    page = tmp_path / "headline.html"
    page.write_text(to_html.render(headline.blocks(grads, speeds, data.efficiency(grads, speeds)), tmp_path, "h"))
    assert shots.overflowing(page, 1280) == []
    wide = Table(["first", *(f"column {i}" for i in range(13))], [["x", *["123456.789 ± 0.000123"] * 13]],
                 [False, *[True] * 13])
    page.write_text(to_html.render([wide], tmp_path, "a table too wide"))
    assert [head for head, px in shots.overflowing(page, 1280) if px > 100] == ["first"]
