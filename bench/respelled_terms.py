"""Which glossary entries fire only because a block respells their term (issue 13).

    python bench/respelled_terms.py [--corpus DIR] [--guide DIR]

A glossary term also fires where a text writes it with other spacing, hyphens,
underscores or case (``rag/triggers.py``). That is what the glossary exists to catch, and
it must not make two ordinary words a certain candidate by accident. For each block of
the corpus the pre-filter keeps (rust-book and the Red Hat supplementary style guide by
default), this prints every entry that fires in it by a respelling alone (no spelled match
of any of its terms in the same block): the number of blocks, and the spellings found with
their counts.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

from blockpass.documents import read_documents
from blockpass.prefilter import prefilter
from blockpass.rag.triggers import TriggerMatcher
from blockpass.rag.units import guide_units
from vale_features import STYLES

DATA = STYLES.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DATA / "corpora" / "rust-book")
    parser.add_argument(
        "--guide", type=Path, default=DATA / "guides" / "redhat-supplementary-style-guide"
    )
    arguments = parser.parse_args()
    units = guide_units(arguments.guide)
    matcher = TriggerMatcher(units)
    blocks = [block for document in read_documents([arguments.corpus]) for block in document.blocks]
    kept, _ = prefilter(blocks)
    blocks_by_entry: Counter[int] = Counter()
    spellings: defaultdict[int, Counter[str]] = defaultdict(Counter)
    for block in kept:
        matches = matcher.term_matches(block.text)
        spelled = {match.position for match in matches if not match.respelled}
        only_respelled = [m for m in matches if m.respelled and m.position not in spelled]
        for position in {match.position for match in only_respelled}:
            blocks_by_entry[position] += 1
        for match in only_respelled:
            spellings[match.position][" ".join(match.tokens)] += 1
    print(
        f"{arguments.corpus.name}: {len(kept)} blocks kept by the pre-filter; "
        f"{len(blocks_by_entry)} entries of {arguments.guide.name} fire by a respelling alone"
    )
    for position, count in blocks_by_entry.most_common():
        unit = units[position]
        found = ", ".join(f"{text!r} ×{n}" for text, n in spellings[position].most_common(5))
        print(f"  {count:4d} blocks  {unit.anchor} ({' | '.join(unit.triggers.terms)}): {found}")


if __name__ == "__main__":
    main()
