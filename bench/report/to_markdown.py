"""Blocks -> GitHub-flavoured Markdown that renders on a code-hosting site as it is."""

from __future__ import annotations

from bench.report.doc import Block, Bullets, Heading, Image, Para, Table


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(t: Table) -> str:
    align = [("---:" if i < len(t.numeric) and t.numeric[i] else "---") for i in range(len(t.columns))]
    lines = ["| " + " | ".join(_cell(c) for c in t.columns) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in t.rows]
    return "\n".join(lines)


def render(blocks: list[Block]) -> str:
    parts = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append("#" * b.level + " " + b.text)
        elif isinstance(b, Para):
            parts.append(b.text)
        elif isinstance(b, Bullets):
            parts.append("\n".join(f"- {item}" for item in b.items))
        elif isinstance(b, Table):
            parts.append(_table(b))
        elif isinstance(b, Image):
            parts.append(f"![{b.title}]({b.path})\n\n_{b.title}: {b.caption}_")
    return "\n\n".join(parts) + "\n"
