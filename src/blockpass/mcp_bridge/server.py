"""blockpass as an MCP server over one run (official ``mcp`` SDK 2.x, ``MCPServer``): a run
directory or a run in a PostgreSQL database, whichever store it is given.

Five tools, each with typed input and output schemas (pydantic models), for agents that
want blockpass's rules, or want to do a run's work themselves:

- ``search_style_rules(text, k)``: the rule index of the guide and style packages given to
  ``serve`` (``rag``): unit ids, titles, text and fused scores, best first;
- ``get_block_batch(run, budget_tokens, max_blocks)``: the run's next pending blocks, leased
  (``run_desk.py``), with short ids;
- ``get_schema_for_block_type(kind)``: the JSON schema a batch's results follow;
- ``lookup_previous_results(content_hash | block_id)``: results the run stored already;
- ``submit_results(batch_id, results)``: results for a batch, taken like a model's answer.

Bad arguments are tool errors that say what is wrong (``ToolError``: the agent reads them,
the server goes on). Resources: the run's ``report.json`` and the rule units.

No ``from __future__ import annotations`` here: the SDK reads the tools' annotations, which
name values of ``build_server`` (the run's name), so they must be evaluated where defined.
"""

from pathlib import Path
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from pydantic import BaseModel, Field

from blockpass.blocks import BlockKind
from blockpass.mcp_bridge.rule_tools import MAX_K, search_arguments
from blockpass.mcp_bridge.run_desk import DeskError, RunDesk
from blockpass.packformat import RESULT_SCHEMA
from blockpass.rag import RuleIndex
from blockpass.store import RunStore

__all__ = ["build_server"]


class RuleHit(BaseModel):
    id: str
    title: str
    text: str
    score: float


class RuleSearch(BaseModel):
    rules: list[RuleHit]


class BatchBlock(BaseModel):
    id: str = Field(description="the short id results must carry")
    kind: str
    text: str
    content_hash: str
    block_id: str = Field(description="the block's id in the run, for lookup_previous_results")


class BlockBatch(BaseModel):
    batch_id: str | None = Field(description="for submit_results; null: no block is pending")
    blocks: list[BatchBlock]
    tokens: int
    expires_at: float | None = Field(description="Unix seconds the lease on the blocks ends")
    pending: int = Field(description="blocks of the run without a result, this batch included")


class BlockSchema(BaseModel):
    kind: str
    result_schema: dict[str, Any] = Field(description="the JSON object submit_results expects")


class PreviousResult(BaseModel):
    block_id: str
    content_hash: str
    outcome: str
    verdict: str | None
    edits: list[dict[str, str]]
    notes: list[str]
    reason: str


class PreviousResults(BaseModel):
    results: list[PreviousResult]


class SubmitOutcome(BaseModel):
    stored: list[str] = Field(description="short ids whose results were stored")
    missing: list[str] = Field(description="short ids with no valid result: pending again")
    unknown_ids: int
    duplicate_ids: int
    invalid_items: int
    rejected_edits: int = Field(description="edits whose find text is not in the block")


def build_server(
    store: RunStore,
    run_name: str,
    index: RuleIndex | None,
    *,
    report_path: Path | None = None,
    lease_seconds: float = 600.0,
) -> MCPServer:
    """``report_path``: the run's report.json (a PostgreSQL run keeps none)."""
    desk = RunDesk(store, lease_seconds=lease_seconds)
    server = MCPServer(
        "blockpass",
        instructions=(
            f"Style rules, and the work of the blockpass run {run_name!r}: get a batch of"
            " blocks, look up the rules they need, and submit a result for each block."
        ),
    )

    async def search_style_rules(
        text: Annotated[str, Field(description="the text to find rules for")],
        k: Annotated[int, Field(description=f"how many rules, 1 to {MAX_K}")] = 5,
    ) -> RuleSearch:
        """Search the style guide and style rules this server was given for the rules that
        apply to a text (a block, or a phrase of it): up to k rules, best first."""
        if index is None:
            raise ToolError("this server has no rules: serve it with --guide or --styles")
        try:
            text, k = search_arguments({"text": text, "k": k})
        except ValueError as problem:
            raise ToolError(str(problem)) from None
        found = await anyio.to_thread.run_sync(index.search, text, k)
        return RuleSearch(
            rules=[
                RuleHit(id=hit.unit.id, title=hit.unit.title, text=hit.unit.text, score=hit.score)
                for hit in found.hits
            ]
        )

    async def get_block_batch(
        run: Annotated[str, Field(description=f"the run's name: {run_name!r}")],
        budget_tokens: Annotated[
            int | None, Field(description="most tokens of block text in the batch")
        ] = None,
        max_blocks: Annotated[int | None, Field(description="most blocks in the batch")] = None,
    ) -> BlockBatch:
        """Lease the run's next pending blocks: nobody else gets them until the lease ends.
        Give budget_tokens, max_blocks or both."""
        if run != run_name:
            raise ToolError(f"unknown run {run!r}: this server serves {run_name!r}")
        try:
            batch = await desk.batch(budget_tokens=budget_tokens, max_blocks=max_blocks)
        except DeskError as problem:
            raise ToolError(str(problem)) from None
        pending = len(await desk.pending())
        if batch is None:
            return BlockBatch(batch_id=None, blocks=[], tokens=0, expires_at=None, pending=pending)
        return BlockBatch(
            batch_id=batch.id,
            blocks=[
                BatchBlock(
                    id=short_id,
                    kind=block.kind.value,
                    text=block.text,
                    content_hash=block.content_hash,
                    block_id=block.id,
                )
                for short_id, block in batch.blocks.items()
            ],
            tokens=batch.tokens,
            expires_at=batch.expires_at,
            pending=pending,
        )

    def get_schema_for_block_type(
        kind: Annotated[str, Field(description="a block kind, as a batch gives it")],
    ) -> BlockSchema:
        """The JSON schema of the results for blocks of this kind (submit_results takes the
        items of its results array)."""
        known = sorted(kind.value for kind in BlockKind)
        if kind not in known:
            raise ToolError(f"unknown block kind {kind!r}; known: {', '.join(known)}")
        return BlockSchema(kind=kind, result_schema=RESULT_SCHEMA)

    async def lookup_previous_results(
        content_hash: Annotated[str | None, Field(description="a block's content hash")] = None,
        block_id: Annotated[str | None, Field(description="a block's id in the run")] = None,
    ) -> PreviousResults:
        """Results the run already holds: for one block, or for every block with that text."""
        try:
            found = await desk.previous(content_hash=content_hash, block_id=block_id)
        except DeskError as problem:
            raise ToolError(str(problem)) from None
        return PreviousResults(
            results=[
                PreviousResult(
                    block_id=result.block_id,
                    content_hash=result.content_hash,
                    outcome=result.outcome.value,
                    verdict=None if result.verdict is None else result.verdict.value,
                    edits=[
                        {"find": edit.find, "replace": edit.replace, "rule": edit.rule}
                        for edit in result.edits
                    ],
                    notes=list(result.notes),
                    reason=result.reason,
                )
                for result in found
            ]
        )

    async def submit_results(
        batch_id: Annotated[str, Field(description="the batch_id get_block_batch gave")],
        results: Annotated[
            list[Any],
            Field(description="one item per block, as get_schema_for_block_type describes"),
        ],
    ) -> SubmitOutcome:
        """Results for a leased batch, checked like a model's (edits must find their text).
        Blocks without a valid result go back to the run."""
        try:
            submitted = await desk.submit(batch_id, results)
        except DeskError as problem:
            raise ToolError(str(problem)) from None
        return SubmitOutcome(
            stored=list(submitted.stored),
            missing=list(submitted.missing),
            unknown_ids=submitted.unknown_ids,
            duplicate_ids=submitted.duplicate_ids,
            invalid_items=submitted.invalid_items,
            rejected_edits=submitted.rejected_edits,
        )

    for tool in (
        search_style_rules,
        get_block_batch,
        get_schema_for_block_type,
        lookup_previous_results,
        submit_results,
    ):
        server.add_tool(tool)

    @server.resource("blockpass://run/report", mime_type="application/json")
    def run_report() -> str:
        """The run's report.json, as its last `blockpass run` wrote it."""
        if report_path is None:
            raise ResourceError(f"{run_name} is a PostgreSQL run: it keeps no report.json")
        if not report_path.is_file():
            raise ResourceError(f"{run_name} has no report yet: `blockpass run` writes it")
        return report_path.read_text(encoding="utf-8")

    @server.resource("blockpass://rules/units", mime_type="application/json")
    def rule_units() -> list[dict[str, str]]:
        """Every rule unit search_style_rules searches: id, title and text."""
        units = () if index is None else index.units
        return [{"id": unit.id, "title": unit.title, "text": unit.text} for unit in units]

    return server
