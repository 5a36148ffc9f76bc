"""``blockpass rules search``: the rule units of a guide and style packages a text needs.

    blockpass rules search "It was decided to reboot the broker." \\
        --guide ../shared/data/guides/redhat-supplementary-style-guide --styles styles/ -k 5

Prints the top units with their fused score, whether a trigger fired, and each retriever's
rank, then the confidence signals. The index is built on first use and kept in
``--cache-dir`` (default ``$XDG_CACHE_HOME/blockpass``, else ``~/.cache/blockpass``): the
only place this command reads the environment.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from blockpass.errors import UserInputError

__all__ = ["add_rules_parser", "rules_command"]

RETRIEVERS = ("triggers", "bm25", "dense", "hybrid")


def add_rules_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("rules", help="look up rule units in guides and style packages")
    actions = parser.add_subparsers(dest="rules_command", required=True)
    search = actions.add_parser(
        "search",
        help="the rule units most relevant to a text",
        description="Rank the guide sections, glossary entries and Vale rules for a text.",
    )
    search.add_argument("text", help="the text to find rules for")
    search.add_argument("--guide", type=Path, action="append", default=[], help="repeatable")
    search.add_argument(
        "--styles", type=Path, action="append", default=[], help="a Vale style folder; repeatable"
    )
    search.add_argument("-k", type=int, default=10, help="how many units (default 10)")
    search.add_argument("--retriever", choices=RETRIEVERS, default="hybrid")
    search.add_argument("--cache-dir", type=Path, help="where built indexes are kept")


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "blockpass"


def rules_command(args: argparse.Namespace) -> int:
    from blockpass.rag import MiniLmEmbedder, Retriever, load_units, open_index
    from blockpass.rules import load_styles

    if args.k < 1:
        raise UserInputError(f"-k must be at least 1, not {args.k}")
    if not args.text.strip():
        raise UserInputError("nothing to search for: the text is empty")
    if not args.guide and not args.styles:
        raise UserInputError("give a guide (--guide), style packages (--styles), or both")
    units = load_units(args.guide, load_styles(args.styles))
    cache_dir = args.cache_dir or default_cache_dir(os.environ)

    def building(count: int) -> None:
        print(f"blockpass: building the rule index of {count} units (once)", file=sys.stderr)

    index = open_index(units, cache_dir=cache_dir, embedder=MiniLmEmbedder(), on_build=building)
    found = index.search(args.text, args.k, Retriever(args.retriever))
    for rank, hit in enumerate(found.hits, 1):
        trigger = "trigger" if hit.triggered else "       "
        bm25 = f"bm25 #{hit.bm25_rank}" if hit.bm25_rank else "bm25 -"
        dense = f"dense #{hit.dense_rank}" if hit.dense_rank else "dense -"
        print(
            f"{rank:>3}  {hit.score:.4f}  {trigger}  {bm25:<10} {dense:<11} "
            f"{hit.unit.kind.value:<14}  {hit.unit.id}  {hit.unit.title}"
        )
    signals = found.confidence
    print(
        f"confidence: margin {signals.margin:.3f}, retriever agreement {signals.agreement:.2f}, "
        f"triggers fired {signals.triggered} ({signals.triggered_kept} kept), "
        f"units close in meaning {signals.close}"
    )
    return 0
