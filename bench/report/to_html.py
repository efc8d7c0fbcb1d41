"""Blocks -> one self-contained HTML page: plots embedded as base64 PNG data URIs, a little inline CSS.

Text is parsed (bench.report.markup) and every literal character escaped, so nothing from results reaches the
page as HTML; a link is live only when its target is http(s) or relative (bench.report.markup.safe_target).
"""

from __future__ import annotations

import base64
import html
import re
from collections import Counter
from pathlib import Path

from bench.report import markup
from bench.report.doc import Block, Bullets, Heading, Image, Para, Table
from bench.report.markup import Bold, Code, Link, Text

CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;
line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:0.25em 0.45em}
th{background:#f3f3f3;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.short,span.name{white-space:nowrap}
.wide{overflow-x:auto;max-width:100%}
img{max-width:100%}figure{margin:1.5em 0}figcaption{font-style:italic;color:#555}
code{background:#f3f3f3;padding:0 0.2em;overflow-wrap:anywhere}
h2{border-bottom:1px solid #ddd;padding-bottom:0.2em;margin-top:2em}"""


def anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _href(link: str) -> str:
    """A link to a plot file points at the plot embedded in this page, so the page needs no other file."""
    return f"#fig-{anchor(Path(link).stem)}" if link.endswith(".png") and "://" not in link else link


HYPHENATED = re.compile(r"(\S*\w-\w\S*)")  # a word with a hyphen inside: a name (gumbel-softmax, torch-compile)


def _text(text: str, names: bool) -> str:
    """Escaped text; with `names`, each hyphenated word kept on one line (browsers break after a hyphen)."""
    if not names:
        return html.escape(text)
    return "".join(f'<span class="name">{html.escape(part)}</span>' if i % 2 else html.escape(part)
                   for i, part in enumerate(HYPHENATED.split(text)))


def _tokens(tokens: list | tuple, names: bool = False) -> str:
    out = []
    for t in tokens:
        if isinstance(t, Text):
            out.append(_text(t.text, names))
        elif isinstance(t, Code):
            out.append(f"<code>{html.escape(t.text)}</code>")
        elif isinstance(t, Bold):
            out.append(f"<b>{_tokens(t.parts, names)}</b>")
        elif isinstance(t, Link) and markup.safe_target(t.target):
            out.append(f'<a href="{html.escape(_href(t.target))}">{_tokens(t.parts, names)}</a>')
        elif isinstance(t, Link):
            out.append(f"{_tokens(t.parts, names)} ({html.escape(t.target)})")
    return "".join(out)


def inline(text: str, names: bool = False) -> str:
    """Escaped text, `code` as <code>, **bold** as <b>, [text](link) as a link where the target is safe; with
    `names` (table cells), a hyphenated word never broken at its hyphen."""
    return _tokens(markup.parse(text), names)


SHORT = 16  # characters: a cell this short is a name (torch-compile, st-gumbel), never broken at its hyphen


def _cell(value: str, numeric: bool) -> str:
    if numeric:
        return f'<td class="num">{inline(value)}</td>'
    short = len(markup.plain(markup.parse(value))) <= SHORT
    return f'<td class="short">{inline(value)}</td>' if short else f"<td>{inline(value, names=True)}</td>"


def _table(t: Table) -> str:
    head = "".join(f"<th>{inline(c)}</th>" for c in t.columns)
    body = "".join(
        "<tr>" + "".join(_cell(v, i < len(t.numeric) and t.numeric[i]) for i, v in enumerate(row)) + "</tr>\n"
        for row in t.rows)
    return f'<div class="wide"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table></div>'


def _image(b: Image, folder: Path) -> str:
    data = base64.b64encode((folder / b.path).read_bytes()).decode("ascii")
    alt = html.escape(markup.plain(markup.parse(b.title)))
    return (f'<figure id="fig-{anchor(Path(b.path).stem)}"><img src="data:image/png;base64,{data}" alt="{alt}">'
            f"<figcaption><b>{inline(b.title)}</b>: {inline(b.caption)}</figcaption></figure>")


def render(blocks: list[Block], folder: Path, title: str) -> str:
    """The page; `folder` is where Image paths resolve (the report folder)."""
    parts, ids = [], Counter()
    for b in blocks:
        if isinstance(b, Heading):
            name = anchor(markup.plain(markup.parse(b.text)))
            ids[name] += 1  # a heading repeated under several problems still gets an id of its own
            name += f"-{ids[name]}" if ids[name] > 1 else ""
            parts.append(f'<h{b.level} id="{name}">{inline(b.text)}</h{b.level}>')
        elif isinstance(b, Para):
            parts.append(f"<p>{inline(b.text)}</p>")
        elif isinstance(b, Bullets):
            parts.append("<ul>\n" + "".join(f"<li>{inline(i)}</li>\n" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            parts.append(_table(b))
        elif isinstance(b, Image):
            parts.append(_image(b, folder))
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>'
            f"\n<style>\n{CSS}\n</style>\n</head>\n<body>\n" + "\n".join(parts) + "\n</body>\n</html>\n")
