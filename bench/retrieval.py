"""Retrieval quality and cost of ``blockpass.rag``, per retriever (issue 13).

    python bench/retrieval.py [--cache DIR] [--packs 30]

Prints:

- recall@1/5/10 on the ``specific`` cases of ``styles/RedHat/retrieval_cases.jsonl`` (each
  invalid example of a Red Hat rule, labelled with the Red Hat supplementary style guide
  section it belongs to; a hit on the label or on one of its ``also`` entries counts), the
  index holding the guide's units only. PassiveVoice's cases (bare "It was <verb>", labelled
  with the guide's Prerequisites section, which merely allows the passive there) are also
  shown apart: only the passive-voice cue ties them to it (the cue unit, the section BM25
  ranks first for "passive voice" among those that name it: ``rag/triggers.py``); and the
  share of cases whose request, as a retrieve-mode run builds it at the default settings
  (the core, and the certain units or else the best guesses), carries a right section;
- rule-level recall@1/5/10 for the Google, Microsoft and write-good packages: for each
  alert of ``features/rules.feature``, the fixture line it is on is the query and the rule
  that raised it the answer, from an index of that package's rule units;
- the Red Hat guide's index build time and size on disk (built fresh in a temporary
  folder), and the median time to search a pack of 20 rust-book paragraphs (k = 10), for
  texts never searched (embedded) and again (their embeddings read from the index folder;
  with ``--cache`` from an earlier run, the first figure is that one too).

Targets: hybrid recall@10 >= 0.95 on the specific cases; rule-level recall@10 >= 0.98.
The examples are never indexed: the index holds the guide and the rule files only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from blockpass.blocks import Block, BlockKind
from blockpass.context import RetrievalSettings
from blockpass.documents import read_document
from blockpass.guide_retrieval import default_core, retrieve_block_rules
from blockpass.rag import MiniLmEmbedder, Retriever, RuleIndex, RuleUnit, open_index
from blockpass.rag.units import guide_units, vale_units
from blockpass.rules import load_vale_package
from vale_features import STYLES, package_scenarios

DATA = STYLES.parent
REDHAT_GUIDE = DATA / "guides" / "redhat-supplementary-style-guide"
CASES = STYLES / "RedHat" / "retrieval_cases.jsonl"
RUST_BOOK = DATA / "corpora" / "rust-book"
KS = (1, 5, 10)
PACK = 20


def recall(
    index: RuleIndex,
    queries: Sequence[tuple[str, Callable[[RuleUnit], bool]]],
    retriever: Retriever,
) -> dict[int, float]:
    """Share of queries with a right unit among the first K hits, for each K."""
    found = index.search_many([text for text, _ in queries], max(KS), retriever)
    hits = {k: 0 for k in KS}
    for (_, right), retrieval in zip(queries, found, strict=True):
        ranks = [rank for rank, hit in enumerate(retrieval.hits, 1) if right(hit.unit)]
        for k in KS:
            hits[k] += bool(ranks and ranks[0] <= k)
    return {k: hits[k] / len(queries) for k in KS}


def carried_share(
    index: RuleIndex, queries: Sequence[tuple[str, Callable[[RuleUnit], bool]]]
) -> float:
    """Share of queries whose request, as retrieve mode builds it, carries a right unit
    (or the whole guide, where retrieval is unsure of the query)."""
    core = default_core(index.units)
    blocks = [
        Block.create(document_id="cases", index=number, kind=BlockKind.PARAGRAPH, text=text)
        for number, (text, _) in enumerate(queries)
    ]
    rules = retrieve_block_rules(
        index, blocks, RetrievalSettings(), core=[unit.id for unit in core]
    )
    by_id = {unit.id: unit for unit in index.units}
    carried = [[*core, *(by_id[unit_id] for unit_id in rules[block.id].ranked)] for block in blocks]
    # A block retrieval is unsure of makes its pack fall back to the whole guide.
    found = sum(
        rules[block.id].unsure or any(right(unit) for unit in units)
        for block, (_, right), units in zip(blocks, queries, carried, strict=True)
    )
    return found / len(queries)


def redhat_queries(cases: Path) -> list[tuple[str, str, Callable[[RuleUnit], bool]]]:
    """(rule, example text, is-a-right-unit) for each specific case."""
    queries = []
    for line in cases.read_text("utf-8").splitlines():
        case = json.loads(line)
        if not case["specific"]:
            continue
        labels = {(case["ssg_file"], case["ssg_anchor"])}
        labels |= {(also["ssg_file"], also["ssg_anchor"]) for also in case["also"]}

        def right(unit: RuleUnit, labels: set[tuple[str, str]] = labels) -> bool:
            return (unit.source, unit.anchor) in labels

        queries.append((case["rule"], case["text"], right))
    return queries


def rule_queries(style: str) -> list[tuple[str, Callable[[RuleUnit], bool]]]:
    """(fixture line, is-the-rule-that-raised-it) for each alert the package's feature file
    expects."""
    queries = []
    for name, outputs in sorted(package_scenarios(style).items()):
        lines = (STYLES / style / "fixtures" / name / "test.md").read_text("utf-8").splitlines()
        for output in sorted(outputs):
            _, line, _, rule_id, _ = output.split(":", 4)

            def right(unit: RuleUnit, rule_id: str = rule_id) -> bool:
                return unit.id == rule_id

            queries.append((lines[int(line) - 1], right))
    return queries


def row(label: str, figures: dict[int, float], count: int) -> str:
    cells = "  ".join(f"@{k} {figures[k]:.3f}" for k in KS)
    return f"  {label:<10} {cells}   (n={count})"


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def rust_book_packs(count: int) -> list[list[str]]:
    paragraphs = [
        block.text
        for chapter in sorted(RUST_BOOK.glob("ch*.md"))
        for block in read_document(chapter, document_id=chapter.name).blocks
        if block.kind == BlockKind.PARAGRAPH
    ]
    return [paragraphs[start : start + PACK] for start in range(0, PACK * count, PACK)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="index cache (default: a fresh temp folder)")
    parser.add_argument("--packs", type=int, default=30, help="rust-book packs to time")
    args = parser.parse_args()
    embedder = MiniLmEmbedder()
    with tempfile.TemporaryDirectory() as scratch:
        cache = args.cache or Path(scratch)
        units = guide_units(REDHAT_GUIDE)
        started = time.perf_counter()
        index = open_index(units, cache_dir=cache, embedder=embedder)
        built = time.perf_counter() - started
        print(
            f"Red Hat guide: {len(units)} units; index opened in {built:.1f} s "
            f"({'from the cache' if args.cache else 'built fresh, model load included'}), "
            f"{folder_bytes(index.path) / 1e6:.1f} MB on disk"
        )

        cases = redhat_queries(CASES)
        passive = [(text, right) for rule, text, right in cases if rule == "RedHat.PassiveVoice"]
        others = [(text, right) for rule, text, right in cases if rule != "RedHat.PassiveVoice"]
        everything = [(text, right) for _, text, right in cases]
        print("Red Hat specific cases, recall@K (guide section of each invalid example):")
        for retriever in Retriever:
            print(row(retriever.value, recall(index, everything, retriever), len(everything)))
        print("  of which, without PassiveVoice / PassiveVoice alone (hybrid):")
        print(row("no passive", recall(index, others, Retriever.HYBRID), len(others)))
        print(row("passive", recall(index, passive, Retriever.HYBRID), len(passive)))
        carried = carried_share(index, everything)
        print(
            f"  what a retrieve-mode run carries (default settings, core included): the right "
            f"section for {carried:.3f} of the {len(everything)} cases"
        )

        packs = rust_book_packs(args.packs)
        index.search(".", 10)  # the model's first load is not a pack's cost
        for state in ("new texts", "searched again (query embeddings cached)"):
            timings = []
            for pack in packs:
                started = time.perf_counter()
                index.search_many(pack, 10)
                timings.append(time.perf_counter() - started)
            print(
                f"Latency, {len(packs)} packs of {PACK} rust-book paragraphs, Red Hat guide "
                f"index, k=10, {state}: median {statistics.median(timings) * 1000:.0f} ms per "
                f"pack (max {max(timings) * 1000:.0f} ms)"
            )

        print("Rule-level recall@K (the rule that raised each feature alert, from its package):")
        for style in ("Google", "Microsoft", "write-good"):
            rules = vale_units([load_vale_package(STYLES / style / style)])
            package_index = open_index(rules, cache_dir=cache, embedder=embedder)
            queries = rule_queries(style)
            print(f" {style} ({len(rules)} rules)")
            for retriever in Retriever:
                print(row(retriever.value, recall(package_index, queries, retriever), len(queries)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
