"""Blocks -> one self-contained HTML page: plots embedded as base64 PNG data URIs, a little inline CSS."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from bench.report.doc import Block, Bullets, Heading, Image, Para, Table

CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:0.25em 0.6em}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%}figure{margin:1.5em 0}figcaption{font-style:italic;color:#555}
code{background:#f3f3f3;padding:0 0.2em}"""
INLINE = re.compile(r"`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\)|\*\*([^*]+)\*\*")


def anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _href(link: str) -> str:
    """A link to a plot file points at the plot embedded in this page, so the page needs no other file."""
    return f"#fig-{anchor(Path(link).stem)}" if link.endswith(".png") else link


def inline(text: str) -> str:
    """Escapes text, turning `code` into <code>, **bold** into <b> and [text](link) into a link."""
    out, last = [], 0
    for m in INLINE.finditer(text):
        out.append(html.escape(text[last:m.start()]))
        if m.group(1) is not None:
            out.append(f"<code>{html.escape(m.group(1))}</code>")
        elif m.group(4) is not None:
            out.append(f"<b>{html.escape(m.group(4))}</b>")
        else:
            out.append(f'<a href="{html.escape(_href(m.group(3)))}">{html.escape(m.group(2))}</a>')
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def _table(t: Table) -> str:
    head = "".join(f"<th>{inline(c)}</th>" for c in t.columns)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{inline(v)}</td>' if i < len(t.numeric) and t.numeric[i]
                         else f"<td>{inline(v)}</td>" for i, v in enumerate(row)) + "</tr>\n"
        for row in t.rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>"


def _image(b: Image, folder: Path) -> str:
    data = base64.b64encode((folder / b.path).read_bytes()).decode("ascii")
    alt = html.escape(b.caption)
    return (f'<figure id="fig-{anchor(Path(b.path).stem)}"><img src="data:image/png;base64,{data}" alt="{alt}">'
            f"<figcaption><b>{inline(b.title)}</b>: {inline(b.caption)}</figcaption></figure>")


def render(blocks: list[Block], folder: Path, title: str) -> str:
    """The page; `folder` is where Image paths resolve (the report folder)."""
    parts = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f'<h{b.level} id="{anchor(b.text)}">{inline(b.text)}</h{b.level}>')
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
