"""What a run writes for its users: one result line per block, the revised documents and
the report, all inside the run directory."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from blockpass.blocks import Block, BlockResult, Document, Outcome
from blockpass.breakdown import Breakdown
from blockpass.documents import SkippedInputs, render_document
from blockpass.ledger import CostReport, WhatIf
from blockpass.results import apply_edits


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """How long this invocation took, and the run's batches from first submit to last end."""

    wall_seconds: float
    batches: int
    batch_items: int
    batch_seconds: float | None

    def to_json(self) -> dict[str, object]:
        return {
            "wall_seconds": round(self.wall_seconds, 3),
            "batches": self.batches,
            "batch_items": self.batch_items,
            "batch_time_to_completion_seconds": None
            if self.batch_seconds is None
            else round(self.batch_seconds, 3),
        }


def write_outputs(
    out_dir: Path,
    documents: Sequence[Document],
    results: dict[str, BlockResult],
    report: CostReport,
    summary: Breakdown,
    *,
    mode: str = "realtime",
    timing: Timing | None = None,
    possibly_ours: Sequence[str] = (),
    skipped_inputs: SkippedInputs | None = None,
    what_if: WhatIf | None = None,
    context: dict[str, object] | None = None,
) -> None:
    lines = []
    targets = revised_paths(out_dir, [document.id for document in documents])
    for document in documents:
        for block in document.blocks:
            lines.append(
                json.dumps(_result_line(document, block, results.get(block.id)), ensure_ascii=False)
            )
        revised = render_document(
            document,
            {
                block.id: apply_edits(block.text, results[block.id].edits)
                for block in document.blocks
                if block.id in results and results[block.id].edits
            },
        )
        target = targets[document.id]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(revised)
    (out_dir / "results.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    payload: dict[str, object] = {**report.to_json(), "breakdown": summary.to_json()}
    payload["mode"] = mode
    if timing is not None:
        payload["timing"] = timing.to_json()
    if possibly_ours:
        payload["possibly_ours"] = list(possibly_ours)
    if skipped_inputs is not None:
        payload["skipped_files"] = skipped_inputs.to_json()
    if what_if is not None:
        payload["what_if"] = what_if.to_json()
    if context is not None:
        payload["context"] = context
    (out_dir / "report.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def revised_path(out_dir: Path, document_id: str) -> Path:
    """Where a revised document goes: always inside the run directory, whatever its id.

    A document named by an absolute path or with ``..`` in its id keeps only its safe parts,
    so writing it back can never touch a file outside ``out_dir/revised``.
    """
    parts = [part for part in PurePosixPath(document_id).parts if part not in ("/", "..", ".")]
    return out_dir.joinpath("revised", *parts)


def revised_paths(out_dir: Path, document_ids: Sequence[str]) -> dict[str, Path]:
    """`revised_path` for each document, made distinct where two would meet.

    `a.md` and `../a.md` (or `A.md` beside `a.md`, on a case-insensitive disk) would write
    one file. In each such group the document whose id is its path under `revised/` (then
    the smallest id) keeps the plain name; the others get a name tagged with a hash of
    their id (`a.1f0c2e9d.md`), so the choice never depends on the order of the inputs.
    """
    groups: dict[str, list[str]] = defaultdict(list)
    for document_id in document_ids:
        groups[revised_path(out_dir, document_id).as_posix().casefold()].append(document_id)
    targets: dict[str, Path] = {}
    for members in groups.values():
        plain = min(members, key=lambda document_id: (_moved(out_dir, document_id), document_id))
        for document_id in members:
            target = revised_path(out_dir, document_id)
            if document_id != plain:
                tag = hashlib.sha256(document_id.encode()).hexdigest()[:8]
                target = target.with_name(f"{target.stem}.{tag}{target.suffix}")
            targets[document_id] = target
    return targets


def _moved(out_dir: Path, document_id: str) -> bool:
    return revised_path(out_dir, document_id) != out_dir.joinpath("revised", document_id)


def _result_line(document: Document, block: Block, result: BlockResult | None) -> dict[str, Any]:
    line: dict[str, Any] = {"block_id": block.id, "document": document.id, "kind": block.kind.value}
    if block.source_id is not None:
        line["source_id"] = block.source_id
    if result is None:
        return {**line, "outcome": "pending"}
    line["outcome"] = result.outcome.value
    if result.lane:
        line["lane"] = result.lane
    if result.outcome is Outcome.RESULT:
        line["verdict"] = result.verdict.value if result.verdict else None
        line["edits"] = [
            {"find": e.find, "replace": e.replace, "rule": e.rule, "source": e.source}
            for e in result.edits
        ]
        line["notes"] = list(result.notes)
        if result.rejected_edits:
            line["rejected_edits"] = [
                {"find": e.find, "replace": e.replace, "rule": e.rule}
                for e in result.rejected_edits
            ]
    else:
        line["reason"] = result.reason
    return line
