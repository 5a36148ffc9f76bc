"""Inputs shared by the document reader tests: the real corpora and a hand-written sample."""

from __future__ import annotations

import functools
from pathlib import Path

from blockpass.blocks import Document
from blockpass.documents import read_documents

# tests/documents/ → repository → its parent, where the project's shared data lives.
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CORPORA = SHARED_DATA / "corpora"

# One of every block kind, including the awkward cases: nested and lazy list items, a list
# and a fence inside a blockquote, a closing ATX sequence, a multi-line setext heading.
SAMPLE_MARKDOWN = """\
---
title: Sample
tags: [a, b]
---

# Getting started ##

A first paragraph with *emphasis*
that continues on a second line.

Setext heading
over two lines
==============

- first item with `code`
  - nested item
  - another nested item

    with a second paragraph
- last item
lazily continued

1. numbered item

> A quoted paragraph
> on two lines.
>
> - a list in a quote
>
> ```text
> fenced in a quote
> ```

```rust
fn main() {}
```

    indented code

| Column | Other |
| ------ | ----- |
| 1      | 2     |

<div class="note">
raw html
</div>

![diagram](diagram.png)

<a id="anchor"></a>

***

#

{{#include ../listings/ch01/main.rs}}

Last paragraph without a trailing newline."""


def corpus_files() -> list[Path]:
    """Every Markdown file of both corpora, listed independently of the code under test."""
    assert CORPORA.is_dir(), f"shared corpora not found at {CORPORA}"
    return sorted(path for path in CORPORA.glob("*/*.md") if path.is_file())


@functools.cache
def corpus_documents() -> tuple[Document, ...]:
    """Both corpora read through `read_documents`, once per test session (about a second)."""
    assert CORPORA.is_dir(), f"shared corpora not found at {CORPORA}"
    return tuple(read_documents([CORPORA]))


def write_tree(root: Path, files: dict[str, str | bytes]) -> None:
    """Files under `root` by relative name, with their folders; bytes written as they are."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
