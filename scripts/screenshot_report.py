"""Render a report and photograph its HTML page in headless Chromium, to see it as a reader does.

    python scripts/screenshot_report.py --out /tmp/shots                    # from synthetic results
    python scripts/screenshot_report.py --results results/reference --out /tmp/shots

Writes <out>/report/ (index.md, index.html, plots/) and <out>/page-<width>.png for each --width, and with
--tile H that screenshot cut into pieces H pixels tall (page-<width>-01.png, ...; blank space at the bottom
dropped), small enough for an image viewer to show at full size. It also names each table wider than the
window (a reader would have to scroll it sideways). Needs
Debian's chromium (`apt-get install -y chromium`); it is for looking, so CI does not need it. Chromium runs
with a fresh profile and every background connection off: the page is self-contained and nothing is fetched.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `bench` and `tests` importable when run as a script from anywhere

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 4000, chromium: str = CHROMIUM,
               timeout: float = 120.0) -> Path:
    """`page` (an HTML file) as Chromium draws it in a width × height window, saved to `png`."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
               f"--window-size={width},{height}", page.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if not png.is_file():
        raise RuntimeError(f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return png


# marks each table box (bench.report.to_html wraps every table in div.wide) that the window cannot show whole
PROBE = """<script>
for (const box of document.querySelectorAll('.wide')) {
  const over = box.scrollWidth - box.clientWidth;
  if (over > 1) box.setAttribute('data-overflow', over);
}
</script>"""


def overflowing(page: Path, width: int = 1280, chromium: str = CHROMIUM, timeout: float = 120.0
                ) -> list[tuple[str, int]]:
    """(its first column's header, the pixels it is too wide by) for each table of `page` that a window `width`
    pixels wide shows only by scrolling it sideways, as Chromium lays the page out."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        probe = Path(profile) / "probe.html"  # the page is self-contained: its copy needs no other file
        probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>", 1),
                         encoding="utf-8")
        cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", f"--window-size={width},1000",
               probe.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if "<body" not in proc.stdout:
        raise RuntimeError(f"chromium returned no page (exit {proc.returncode}): {proc.stderr[-2000:]}")
    found = re.findall(r'data-overflow="(\d+)">\s*<table>\s*<thead>\s*<tr>\s*<th>(.*?)</th>', proc.stdout, re.S)
    return [(html.unescape(re.sub(r"<[^>]+>", "", head)), int(px)) for px, head in found]


def tiles(png: Path, height: int) -> list[Path]:
    """`png` cut into pieces `height` pixels tall, the page's blank bottom (the window past its end) left off."""
    import numpy as np
    from PIL import Image

    image = Image.open(png).convert("RGB")
    pixels = np.asarray(image)
    inked = np.nonzero((pixels != pixels[-1, 0]).any(axis=(1, 2)))[0]  # rows not all the background colour
    bottom = int(inked[-1]) + 20 if len(inked) else image.height
    out = []
    for i, top in enumerate(range(0, min(bottom, image.height), height)):
        piece = png.with_name(f"{png.stem}-{i + 1:02d}.png")
        image.crop((0, top, image.width, min(top + height, bottom, image.height))).save(piece)
        out.append(piece)
    return out


def from_anchor(page: Path, anchor: str) -> Path:
    """A copy of `page` that starts at the element with id `anchor`: everything before it hidden (CSS :has),
    since a headless screenshot cannot be told to scroll."""
    text = page.read_text(encoding="utf-8")
    if f'id="{anchor}"' not in text:
        raise SystemExit(f"no element with id {anchor!r} in {page}")
    hide = f"<style>body > *:has(~ #{anchor}) {{display: none}}</style>"
    copy = page.with_name(f"{page.stem}-from-{anchor}.html")
    copy.write_text(text.replace("</head>", hide + "</head>", 1), encoding="utf-8")
    return copy


def render(results: Path | None, out: Path) -> Path:
    """The report of `results` (synthetic results when None) in out/report; returns its index.html."""
    from bench import report

    if results is None:
        from tests import synthetic_results

        results = synthetic_results.write(out / "synthetic-results")
    folder = out / "report"
    if report.render(results, folder) is None:
        raise SystemExit(f"nothing to render under {results}")
    return folder / "index.html"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, help="a results folder (default: synthetic results)")
    p.add_argument("--out", type=Path, required=True, help="where the report and the screenshots go")
    p.add_argument("--width", type=int, action="append", help="window width in pixels (repeatable; default 1280)")
    p.add_argument("--height", type=int, default=4000, help="window height in pixels")
    p.add_argument("--from", dest="anchors", action="append", default=[], metavar="ID",
                   help="also photograph the page from the element with this id on (repeatable)")
    p.add_argument("--tile", type=int, default=0, help="also cut each screenshot into pieces this many pixels tall")
    p.add_argument("--chromium", default=shutil.which("chromium") or CHROMIUM)
    args = p.parse_args(argv)
    if not Path(args.chromium).is_file():
        print(f"no chromium at {args.chromium} (apt-get install -y chromium)", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    page = render(args.results, args.out)
    for width in args.width or [1280]:
        pages = [(page, f"page-{width}")] + [(from_anchor(page, a), f"page-{width}-from-{a}") for a in args.anchors]
        for shown, name in pages:
            shot = screenshot(shown, args.out / f"{name}.png", width, args.height, args.chromium)
            print(shot)
            for piece in tiles(shot, args.tile) if args.tile > 0 else []:
                print(piece)
        for head, px in overflowing(page, width, args.chromium):
            print(f"the table whose first column is {head!r} is {px} px too wide for a {width}-pixel window")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
