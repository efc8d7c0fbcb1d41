"""The report's inline markup, parsed once for both renderings: `code`, **bold**, [text](link), and backslash
escapes (`\\X` is a literal X for any ASCII punctuation X).

Text from results (estimator names, options, problem parameters, messages of failed cells, run metadata) is
never markup: it enters a block through `lit` (every character literal) or `code` (a code span), so nothing a
cell wrote can open a link, bold or raw HTML in either page. A link is live only when its target is http(s) or
a plain relative path (`plots/x.png`, `#section`): never `javascript:`, `data:` or anything a browser or a
Markdown renderer might decode into a scheme; any other is shown as text.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

PUNCTUATION = frozenset(string.punctuation)
_SPECIAL = re.compile(r"([\\`*\[\]])")  # what the parser below gives a meaning to
_HTTP = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$'()*+,;=%]+", re.IGNORECASE)
_RELATIVE = re.compile(r"[A-Za-z0-9\-._~/#?=%+,]+")


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Bold:
    parts: tuple


@dataclass(frozen=True)
class Link:
    parts: tuple
    target: str


Token = Text | Code | Bold | Link


def lit(value: object) -> str:
    """`value` as text whose every character is literal: what result text goes through into a block."""
    return _SPECIAL.sub(r"\\\1", str(value))


def code(value: object) -> str:
    """`value` as a code span: fenced with one more backtick than its longest run (CommonMark's rule)."""
    text = " ".join(str(value).splitlines())
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def safe_target(target: str) -> bool:
    """http(s) or a plain relative path: the only link targets that become live links."""
    if _HTTP.fullmatch(target):
        return True
    return bool(_RELATIVE.fullmatch(target)) and not target.startswith("//") and ":" not in target


def _code_end(text: str, start: int, n: int) -> int:
    """Where the run of exactly n backticks that closes a code span opened at `start` begins, or -1."""
    for m in re.finditer(r"`+", text[start:]):
        if len(m.group()) == n:
            return start + m.start()
    return -1


def _scan(text: str, i: int, closer: str | None) -> tuple[list[Token], int | None]:
    """Tokens from text[i:] up to `closer` (then the index after it), or to the end (closer None); (…, None)
    when a closer was wanted and never came, so its opener reads as literal text."""
    out: list[Token] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            out.append(Text("".join(buf)))
            buf.clear()

    while i < len(text):
        if closer and text.startswith(closer, i):
            flush()
            return out, i + len(closer)
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in PUNCTUATION:
            buf.append(text[i + 1])
            i += 2
            continue
        if c == "`":
            n = len(re.match(r"`+", text[i:]).group())
            end = _code_end(text, i + n, n)
            if end >= 0:
                inner = text[i + n:end]
                if len(inner) > 1 and inner[0] == inner[-1] == " " and inner.strip():
                    inner = inner[1:-1]
                flush()
                out.append(Code(inner))
                i = end + n
            else:
                buf.append("`" * n)
                i += n
            continue
        if text.startswith("**", i) and closer != "**":
            inner, after = _scan(text, i + 2, "**")
            if after is not None and inner:
                flush()
                out.append(Bold(tuple(inner)))
                i = after
                continue
        if c == "[" and closer != "]":
            inner, after = _scan(text, i + 1, "]")
            close = text.find(")", after) if after is not None and text.startswith("(", after) else -1
            if close > 0 and text[after + 1:close] and not re.search(r"\s", text[after + 1:close]):
                flush()
                out.append(Link(tuple(inner), text[after + 1:close]))
                i = close + 1
                continue
        buf.append(c)
        i += 1
    flush()
    return out, (None if closer else i)


def parse(text: str) -> list[Token]:
    """The tokens of one piece of block text."""
    return _scan(text, 0, None)[0]


def plain(tokens: list[Token] | tuple) -> str:
    """The tokens' text without markup (for alt texts and anchors)."""
    out = []
    for t in tokens:
        out.append(t.text if isinstance(t, Text | Code) else plain(t.parts))
    return "".join(out)
