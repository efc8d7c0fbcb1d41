"""Blocks -> GitHub-flavoured Markdown that renders on a code-hosting site as it is.

Every piece of text is parsed (bench.report.markup) and written back with its literal characters escaped, so
text from results renders as the characters it holds: `<`, `>` and `&` as entities (no raw HTML), the
characters Markdown would read as emphasis, links, tables or math behind a backslash, a line break as a space.
"""

from __future__ import annotations

import re

from bench.report import markup
from bench.report.doc import Block, Bullets, Heading, Image, Para, Table
from bench.report.markup import Bold, Code, Link, Text

ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
ESCAPED = set("\\`*[]|~$#")
# at a block's start, what would make it a list, a heading, a quote or a setext underline
BLOCK_START = re.compile(r"([-+=#>])|(\d+)([.)])")


def _text(text: str) -> str:
    out = []
    for i, c in enumerate(text):
        if c in ENTITIES:
            out.append(ENTITIES[c])
        elif c in ESCAPED:
            out.append("\\" + c)
        elif c == "_" and not (0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()):
            out.append("\\_")  # n_samples stays as it is; _x_ would be emphasis
        else:
            out.append(c)
    return " ".join("".join(out).splitlines())


def _code(text: str, in_table: bool) -> str:
    span = markup.code(text)
    return span.replace("|", "\\|") if in_table else span  # a table cell ends at an unescaped pipe, even in code


def inline(text: str, in_table: bool = False) -> str:
    return _tokens(markup.parse(text), in_table)


def _tokens(tokens: list | tuple, in_table: bool) -> str:
    out = []
    for t in tokens:
        if isinstance(t, Text):
            out.append(_text(t.text))
        elif isinstance(t, Code):
            out.append(_code(t.text, in_table))
        elif isinstance(t, Bold):
            out.append(f"**{_tokens(t.parts, in_table)}**")
        elif isinstance(t, Link) and markup.safe_target(t.target):
            out.append(f"[{_tokens(t.parts, in_table)}]({t.target})")
        elif isinstance(t, Link):  # not a target to follow: its text, and the target as text
            out.append(f"{_tokens(t.parts, in_table)} ({_text(t.target)})")
    return "".join(out)


def _block(text: str) -> str:
    """Inline text at the start of a block, with what would change the block's kind escaped."""
    md = inline(text).lstrip()
    m = BLOCK_START.match(md)
    if m and m.group(1):
        return "\\" + md
    if m:
        return f"{m.group(2)}\\{md[len(m.group(2)):]}"
    return md


def _table(t: Table) -> str:
    align = [("---:" if i < len(t.numeric) and t.numeric[i] else "---") for i in range(len(t.columns))]
    lines = ["| " + " | ".join(inline(c, True) for c in t.columns) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(inline(v, True) for v in row) + " |" for row in t.rows]
    return "\n".join(lines)


def render(blocks: list[Block]) -> str:
    parts = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append("#" * b.level + " " + inline(b.text))
        elif isinstance(b, Para):
            parts.append(_block(b.text))
        elif isinstance(b, Bullets):
            parts.append("\n".join(f"- {_block(item)}" for item in b.items))
        elif isinstance(b, Table):
            parts.append(_table(b))
        elif isinstance(b, Image):
            alt = _text(markup.plain(markup.parse(b.title)))
            parts.append(f"![{alt}]({b.path})\n\n_{inline(b.title)}: {inline(b.caption)}_")
    return "\n\n".join(parts) + "\n"
