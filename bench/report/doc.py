"""The report as a list of blocks, rendered twice: as Markdown (index.md) and as HTML (index.html).

Building one document and rendering it two ways keeps the two pages identical in content. Text may hold three
inline forms, `code`, **bold** and [text](link), and backslash escapes; both renderers understand them and
nothing else (bench.report.markup). Text from results enters only through `markup.lit` or `markup.code`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[str]]
    numeric: list[bool] = field(default_factory=list)  # right-aligned columns


@dataclass(frozen=True)
class Image:
    path: str  # relative to the report folder
    title: str
    caption: str  # what is held fixed, what bars and bands mean


Block = Heading | Para | Bullets | Table | Image
