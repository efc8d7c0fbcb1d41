"""The report's HTML page in a real browser (headless Chromium, scripts/screenshot_report.py): it loads, draws
its text and plots, and its first screen holds the answer. Only where Debian's chromium is installed; CI need
not have it."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests import synthetic_results

CHROMIUM = Path("/usr/bin/chromium")
SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "screenshot_report.py"

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
