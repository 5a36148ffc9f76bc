"""Model answers into one result per block: parse, validate, salvage, apply edits.

An answer is ``{"results": [...]}`` with one item per short id (``packformat``); an item in
the compact format is expanded into the full one first (``verdicts.expand_item``). Parsing is
item by item, so a truncated or broken answer still yields every item that was complete
before the damage: those results are kept, and the rest of the pack goes back to the queue.
Unknown ids and repeated ids are ignored and counted. An item that does not have the shape
of its verdict is treated as missing.

Edits are applied deterministically: each ``find`` is located in the block's original text
(the first occurrence that does not overlap an earlier accepted edit); an edit whose ``find``
is not there is rejected and counted, never guessed at.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from blockpass.blocks import Block, BlockResult, Edit, Outcome, Verdict
from blockpass.proposals import Proposal, accepted_edits, accepted_numbers
from blockpass.verdicts import RuleCodes, compact_id, expand_item

_RESULTS_ARRAY = re.compile(r'"results"\s*:\s*\[')
_LEGEND = re.compile(r'"rules"\s*:\s*\[')
_DECODER = json.JSONDecoder()


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedAnswer:
    results: dict[str, BlockResult]
    missing: tuple[Block, ...]
    unknown_ids: int = 0
    duplicate_ids: int = 0
    invalid_items: int = 0
    rejected_edits: int = 0
    complete: bool = True


def parse_answer(
    text: str,
    short_ids: Mapping[str, Block],
    codes: RuleCodes | None = None,
    proposals: Mapping[str, Sequence[Proposal]] | None = None,
) -> ParsedAnswer:
    """``codes``: the answer is in the compact format (``verdicts.py``), citing these;
    ``proposals``: the rule engine's proposals the pack showed, by short id: the ones an item
    accepts become edits of source ``rules`` (``proposals.py``), placed first."""
    results: dict[str, BlockResult] = {}
    unknown = duplicates = invalid = rejected = 0
    items, complete = _items(text)
    if codes is not None:
        codes = codes.reading(_legend(text))
    for item in items:
        if codes is None and not isinstance(item, dict):
            continue
        short_id = item.get("id") if codes is None else compact_id(item)
        block = short_ids.get(short_id) if isinstance(short_id, str) else None
        if block is None or not isinstance(short_id, str):
            unknown += 1
            continue
        if block.id in results:
            duplicates += 1
            continue
        # Edits are told from notes by where their words occur in the block.
        full_item = item if codes is None else expand_item(item, codes, block.text)
        result = _result(full_item, block, (proposals or {}).get(short_id, ()))
        if result is None:
            invalid += 1
            continue
        rejected += len(result.rejected_edits)
        results[block.id] = result
    missing = tuple(block for block in short_ids.values() if block.id not in results)
    return ParsedAnswer(
        results=results,
        missing=missing,
        unknown_ids=unknown,
        duplicate_ids=duplicates,
        invalid_items=invalid,
        rejected_edits=rejected,
        complete=complete,
    )


def _items(text: str) -> tuple[list[Any], bool]:
    """Every complete item of the results array, and whether the whole answer parsed."""
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        return list(_salvaged_items(text)), False
    results = whole.get("results") if isinstance(whole, dict) else None
    if not isinstance(results, list):
        return [], False
    return [item for item in results if isinstance(item, dict | list)], True


def _legend(text: str) -> object:
    """A compact answer's ``rules`` (it comes before the results, so a truncated answer
    still has it whole)."""
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        opening = _LEGEND.search(text)
        if opening is None:
            return None
        try:
            return _DECODER.raw_decode(text, opening.end() - 1)[0]
        except json.JSONDecodeError:
            return None
    return whole.get("rules") if isinstance(whole, dict) else None


def _salvaged_items(text: str) -> Iterator[Any]:
    opening = _RESULTS_ARRAY.search(text)
    if opening is None:
        return
    position = opening.end()
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] not in "{[":
            return
        try:
            item, position = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError:
            return
        yield item


def _strings(value: object) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(entry, str) for entry in value):
        return tuple(value)
    return None


def _result(
    item: dict[str, Any], block: Block, proposals: Sequence[Proposal]
) -> BlockResult | None:
    try:
        verdict = Verdict(str(item.get("verdict")))
    except ValueError:
        return None
    notes = _strings(item.get("notes", []))
    accept = accepted_numbers(item.get("accept", []))
    if notes is None or accept is None:
        return None
    edits: list[Edit] = accepted_edits(accept, proposals)
    if verdict is Verdict.EDIT:
        raw_edits = item.get("edits")
        if not isinstance(raw_edits, list):
            return None
        for raw in raw_edits:
            if not isinstance(raw, dict) or not all(
                isinstance(raw.get(key), str) for key in ("find", "replace", "rule")
            ):
                return None
            edits.append(Edit(find=raw["find"], replace=raw["replace"], rule=raw["rule"]))
    accepted, rejected = locate_edits(block.text, edits)
    return BlockResult(
        block_id=block.id,
        content_hash=block.content_hash,
        outcome=Outcome.RESULT,
        verdict=verdict,
        edits=tuple(edit for edit, _ in accepted),
        notes=notes,
        rejected_edits=tuple(rejected),
    )


def locate_edits(text: str, edits: list[Edit]) -> tuple[list[tuple[Edit, int]], list[Edit]]:
    """Each accepted edit with where its ``find`` starts; edits that cannot be placed."""
    accepted: list[tuple[Edit, int]] = []
    rejected: list[Edit] = []
    taken: list[tuple[int, int]] = []
    for edit in edits:
        start = _free_occurrence(text, edit.find, taken) if edit.find else -1
        if start < 0 or edit.find == edit.replace:
            rejected.append(edit)
            continue
        taken.append((start, start + len(edit.find)))
        accepted.append((edit, start))
    return accepted, rejected


def _free_occurrence(text: str, find: str, taken: list[tuple[int, int]]) -> int:
    start = text.find(find)
    while start >= 0:
        end = start + len(find)
        if all(end <= low or start >= high for low, high in taken):
            return start
        start = text.find(find, start + 1)
    return -1


def apply_edits(text: str, edits: tuple[Edit, ...]) -> str:
    accepted, _ = locate_edits(text, list(edits))
    for edit, start in sorted(accepted, key=lambda placed: placed[1], reverse=True):
        text = text[:start] + edit.replace + text[start + len(edit.find) :]
    return text
