"""The run store: what a run has sent, what it paid, and how each block ended.

A run is resumable and its cost report can be rebuilt from the store alone. The embedded
implementation keeps one SQLite file per run directory (`sqlite.py`); the PostgreSQL one
(`postgres.py`) shares a job between workers, so nothing here assumes one process, one file
or SQLite rowids: ids are opaque integers handed out by the store, unique and increasing
for one writer (not in commit order between writers).

Tables (the SQLite layout; another backend keeps the same columns):

    run          one row: fingerprint, settings (JSON object of str), created_at, opened_at
    blocks       id PK, document_id, block_index, kind, text, content_hash,
                 span_start, span_end, span_line, span_column (all four NULL when no span)
                 index (document_id, block_index)
    calls        id PK (store-assigned), pack_id, provider, model, batch, status, error,
                 attempt, started_at, finished_at,
                 uncached_input, cache_write_5m, cache_write_1h, cache_read, output
    call_blocks  (call_id → calls, position) PK, block_id → blocks: the blocks sent, in order
    call_starts  id PK (store-assigned), pack_id, provider, model, block_ids (JSON list),
                 attempt, input_tokens, max_output, cache_ttl, started_at,
                 call_id → calls (NULL until the call's answer or error is stored)
    batches      id PK (store-assigned), label UNIQUE, provider, remote_id, state,
                 remote_status, priming, created_at, submitted_at, ended_at, lane
    batch_items  (batch_id → batches, custom_id) PK, position, block_ids (JSON list),
                 collected: the packs of a provider batch, and whether each one's result
                 has been stored
    webhook_deliveries  webhook_id PK, received_at: deliveries already acted on
    leases       id PK (store-assigned, new for every claim), kind, key, worker, expires_at
                 unique (kind, key): work a worker holds (`claim`)
    lane_pack_sizes        (lane, block_id → blocks) PK, max_blocks
    lane_output_estimates  (lane, kind) PK, tokens
    results      block_id PK → blocks, content_hash, fingerprint, outcome, verdict,
                 edits, notes, rejected_edits (JSON text), reason, call_id → calls (NULL when
                 no call produced it), lane, recorded_at
                 index (content_hash, fingerprint) for outcome 'result'

Invariants:

- A call and the results it produced are stored in one transaction (`record_call`): after a
  crash either both the usage and the results are there, or neither, so a finished block is
  never sent (and paid for) twice, and every stored call is priced.
- A realtime call is stored as started (`start_call`) before it is sent, and the record of
  its answer or error closes that start in the transaction that stores it. A start left
  open when no run is executing is a call whose outcome is unknown (the process died or
  was interrupted while it was in flight): the report prices it at its upper bound.
- A block has at most one result row. An outcome `result` for a given content hash is
  final: a later result, skip or failure for the same content is ignored (and logged). Any
  other stored outcome (`failed`, `skipped`) is replaced by the newer record, so a later run
  retries failures. A record for different content (the block's text changed) replaces
  whatever was there.
- Results and call blocks name blocks that were stored with `put_blocks` first.
- One store holds one run: `open_run` refuses a fingerprint other than the first one.
- No pack is sent by two runners at once, or the run pays for it twice. How a store keeps
  that is part of its contract: the SQLite store opened for a run (`open_run_store`) is
  exclusive, holding the run directory's lock until it is closed; a store shared by
  workers hands out packs and batches by lease (`claim`), and a lease that expires (its
  worker died) lets another worker take the work over.
- A lane (a provider and model with its own cached prefix, named by the caller; a run has
  one or more) keeps the pack sizes and output estimates it learned in the store, so a
  restart or another worker starts from them rather than from nothing. A result is stored
  under its lane's fingerprint (the run's own for results of no lane: skips, the rule
  engine's), so reuse never hands one model's answer to another lane. A batch and a result
  remember their lane; rows older than lanes have the lane `""`, the run's only lane.
- A batch is stored, with its packs, before it is submitted (state `submitting`), and its
  provider id as soon as the provider returns it, so a crash in between leaves a record to
  reconcile rather than a batch nobody knows about. An item's call and results are stored
  in the same transaction that marks the item collected (`record_batch_item`): collecting a
  batch twice stores nothing twice.
- `collected`, `abandoned` and `unproven` are final: a batch in them never changes again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from blockpass.blocks import Block, BlockResult, Outcome
from blockpass.usage import Usage

__all__ = [
    "OPEN_BATCH_STATES",
    "BatchItemRecord",
    "BatchState",
    "CallRecord",
    "CallStart",
    "CallStatus",
    "Lease",
    "LeaseKind",
    "RunStore",
    "StoredBatch",
]


class CallStatus(StrEnum):
    """The usual values of `CallRecord.status`; the store accepts any string."""

    OK = "ok"
    TRUNCATED = "truncated"
    MALFORMED = "malformed"
    REFUSED = "refused"
    ERROR = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    """One provider call, paid or not: its usage and which blocks it carried.

    `id` is None until the store assigns one in `record_call`. `attempt` counts from 1 for
    the same pack; `started_at`/`finished_at` are Unix timestamps in seconds. `start_id`
    names the `CallStart` this record closes (written only; None when read back).
    """

    id: int | None = None
    pack_id: str
    provider: str
    model: str
    block_ids: tuple[str, ...]
    usage: Usage
    batch: bool
    status: str
    error: str = ""
    attempt: int = 1
    started_at: float
    finished_at: float
    start_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallStart:
    """A realtime call as stored before it is sent, with what bounds its cost.

    `input_tokens` is the whole request as blockpass counts it, `max_output` its
    `max_tokens`, and `cache_ttl` its breakpoint's TTL ("5m", "1h", or "" for none), which
    says which cache write class its input can be billed as. `call_id` is the stored call
    that closed it, None while its outcome is unknown.
    """

    id: int | None = None
    pack_id: str
    provider: str
    model: str
    block_ids: tuple[str, ...]
    attempt: int
    input_tokens: int
    max_output: int
    cache_ttl: str = ""
    started_at: float
    call_id: int | None = None


class BatchState(StrEnum):
    SUBMITTING = "submitting"  # stored, provider id not known yet
    SUBMITTED = "submitted"
    ENDED = "ended"  # the provider says every item is final; results not all stored yet
    COLLECTED = "collected"
    ABANDONED = "abandoned"  # never reached the provider, or given up
    # Given up with a batch at the provider that may be it but cannot be proven to be (a
    # crash lost its id); ``remote_status`` names those batches. Nothing of them is touched.
    UNPROVEN = "unproven"


OPEN_BATCH_STATES = frozenset({BatchState.SUBMITTING, BatchState.SUBMITTED, BatchState.ENDED})


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchItemRecord:
    custom_id: str
    block_ids: tuple[str, ...]
    collected: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredBatch:
    """One provider batch of a run: its packs and how far it has got. Times in Unix seconds."""

    id: int
    label: str
    provider: str
    remote_id: str | None
    state: BatchState
    remote_status: str
    priming: bool
    created_at: float
    submitted_at: float | None
    ended_at: float | None
    items: tuple[BatchItemRecord, ...]
    # The lane whose packs it carries; "" for a batch stored before runs had lanes.
    lane: str = ""

    def belongs_to(self, lane: str) -> bool:
        return self.lane in (lane, "")


@dataclass(frozen=True, slots=True, kw_only=True)
class LaneFingerprints:
    """The fingerprint a result is stored (and found for reuse) under: its lane's, or the
    run's for a result of no lane or of a lane `open_run` did not name (a run of one lane,
    whose fingerprint is that lane's, need not name it)."""

    run: str
    lanes: Mapping[str, str]

    def of(self, result: BlockResult) -> str:
        return self.lanes.get(result.lane, self.run)


def require_failures(results: Sequence[BlockResult]) -> None:
    """What `RunStore.withdraw_results` accepts: failures only."""
    if any(result.outcome is not Outcome.FAILED for result in results):
        raise ValueError("only failures replace a stored result")


class LeaseKind(StrEnum):
    PACK = "pack"  # a pack to send; its key is the pack id
    BATCH = "batch"  # a provider batch to poll and collect; its key is the batch label
    # A block being worked on, by a run's pack in flight or an outside agent's batch, which
    # nobody else takes up meanwhile; its key is the block id.
    BLOCK = "block"
    # A batch of blocks handed to an outside agent (``blockpass mcp serve``), held by the
    # batch itself like its blocks' leases; its key is ``{batch id}/{number of blocks}``.
    HANDOUT = "handout"


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    """Work one worker holds until `expires_at` (Unix seconds, by the store's clock).

    `id` is new for every claim, so a lease that was taken over is never mistaken for the
    one that replaced it, even when the same worker claimed the work again.
    """

    id: int
    kind: LeaseKind
    key: str
    worker: str
    expires_at: float


class RunStore(Protocol):
    """Persistent state of one run. All methods are safe to call from concurrent tasks."""

    async def open_run(
        self,
        *,
        fingerprint: str,
        settings: Mapping[str, str],
        lanes: Mapping[str, str] | None = None,
    ) -> None:
        """Bind the store to a run, or check that it already belongs to this one.

        The first call records `fingerprint` and `settings`. A later call with another
        fingerprint raises `UserInputError` (the store holds a run of a different task,
        guide or model); with the same fingerprint it replaces the stored settings, which
        may only differ in values that do not affect results. Must precede the writes.
        `lanes` maps each lane's name to its fingerprint: a result with a `lane` is stored
        under that fingerprint (`LaneFingerprints`).
        """
        ...

    async def settings(self) -> dict[str, str]:
        """The settings of the latest `open_run`; empty before the first."""
        ...

    async def join_run(self, lanes: Mapping[str, str] | None = None) -> bool:
        """Bind the store to the run an earlier `open_run` recorded, settings unchanged, for
        a worker that only hands out blocks and adds results (``blockpass mcp serve``);
        False, and nothing bound, when no run was ever opened here. ``lanes``: the
        fingerprints of the lanes this worker writes results of, as `open_run` takes them
        (the run's own fingerprint is not theirs when the run has several lanes)."""
        ...

    async def put_blocks(self, blocks: Sequence[Block]) -> None:
        """Insert or update blocks by id; calling it again with the same blocks is a no-op."""
        ...

    async def blocks(self) -> list[Block]:
        """Every stored block, in (document_id, index) order."""
        ...

    async def record_call(self, call: CallRecord, results: Sequence[BlockResult]) -> int:
        """Store a call and the results it produced in one transaction; return the call's id.

        Each result is stored with `call_id` set to the new id, whatever it held. The
        at-most-one-result rule (module docstring) applies to each result; the call itself
        is always stored, since it was paid for. If anything fails (a result for an unknown
        block raises `ValueError`), nothing of the call or its results is stored. A call
        with a `start_id` closes that start in the same transaction.
        """
        ...

    async def start_call(self, start: CallStart) -> int:
        """Store a call about to be sent, before it is sent; return the start's id."""
        ...

    async def call_starts(self, *, open_only: bool = False) -> list[CallStart]:
        """Every stored start in id order, or only those no stored call has closed."""
        ...

    async def record_results(self, results: Sequence[BlockResult]) -> None:
        """Store results that no call produced: skips, failures, reused results.

        `call_id` is stored as given and must name a stored call or be None. The
        at-most-one-result rule applies; an unknown block raises `ValueError` and nothing of
        this batch is stored.
        """
        ...

    async def withdraw_results(self, failures: Sequence[BlockResult]) -> None:
        """Replace the stored results of these blocks with these failures, whatever they
        were: a result judged unusable after it was stored (a routed run escalates it to a
        stronger model, ``routing/runner.py``), so the next pass sends the block again. Every
        one must be a failure of a stored block (else `ValueError`, nothing stored)."""
        ...

    async def results(self, block_ids: Collection[str] | None = None) -> dict[str, BlockResult]:
        """The stored result of every block that has one (of these blocks only, given
        ``block_ids``), keyed by block id."""
        ...

    async def calls(self) -> list[CallRecord]:
        """Every stored call, with its assigned id, in id order."""
        ...

    async def lookup_previous_results(
        self, hashes: Collection[str], fingerprint: str
    ) -> dict[str, BlockResult]:
        """Results with outcome `result` for these content hashes under this fingerprint.

        Keyed by content hash. The returned result still names the block (and call) it was
        recorded for: a caller reusing it for another block replaces `block_id` and clears
        `call_id` before `record_results`. Where several blocks share a hash, the one with
        the smallest block id is returned.
        """
        ...

    async def add_batch(
        self,
        *,
        label: str,
        provider: str,
        items: Sequence[BatchItemRecord],
        priming: bool = False,
        lane: str = "",
    ) -> StoredBatch:
        """Store a batch about to be submitted, in state `submitting`."""
        ...

    async def update_batch(
        self,
        batch_id: int,
        state: BatchState,
        *,
        remote_id: str | None = None,
        remote_status: str | None = None,
    ) -> None:
        """Move a batch on; `submitted` and `ended` stamp their time once.

        A batch already `collected`, `abandoned` or `unproven` stays so: a late webhook or
        poll changes nothing.
        """
        ...

    async def batches(self, *, open_only: bool = False) -> list[StoredBatch]:
        """Every batch of the run in id order, or only those not in a final state."""
        ...

    async def batch_by_remote_id(self, remote_id: str) -> StoredBatch | None: ...

    async def record_batch_item(
        self, batch_id: int, custom_id: str, call: CallRecord, results: Sequence[BlockResult]
    ) -> int | None:
        """`record_call` for one batch item, marking it collected in the same transaction.

        Returns the call's id, or None (storing nothing) if the item was collected before.
        """
        ...

    async def first_delivery(self, webhook_id: str, received_at: float) -> bool:
        """Remember a webhook delivery; False if its id was remembered before."""
        ...

    async def forget_delivery(self, webhook_id: str) -> None:
        """Drop a remembered delivery whose handling failed, so that its retry is handled."""
        ...

    async def claim(
        self, kind: LeaseKind, keys: Sequence[str], *, worker: str, seconds: float
    ) -> Lease | None:
        """Lease the first of `keys` nobody holds to `worker` for `seconds`; None if all are held.

        A key is held while a lease on it has not expired, whoever holds it (a worker asking
        again for its own work gets the next key). An expired lease is taken over: its
        worker is presumed dead. Two claims, from any process or machine, never both get
        the same key while its lease runs.
        """
        ...

    async def claim_each(
        self, kind: LeaseKind, keys: Sequence[str], *, worker: str, seconds: float
    ) -> list[Lease]:
        """Lease every one of `keys` nobody holds to `worker` for `seconds`, one lease per
        key, at once (a pack's blocks); the keys held by a live lease are left out. Each key
        as `claim` would take it: never to two claimers while its lease runs."""
        ...

    async def renew(self, lease: Lease, *, seconds: float) -> Lease | None:
        """Extend `lease` to `seconds` from now; None if it is gone (released, or expired
        and taken over), when the work belongs to someone else and must be dropped."""
        ...

    async def release(self, lease: Lease) -> None:
        """Give the work up, done or not; a lease already taken over is left alone."""
        ...

    async def release_each(self, leases: Sequence[Lease]) -> None:
        """`release` for each of `leases`, at once."""
        ...

    async def leases(self, kind: LeaseKind) -> list[Lease]:
        """The leases of this kind that have not expired, in id order."""
        ...

    async def limit_pack_sizes(self, lane: str, sizes: Mapping[str, int]) -> None:
        """Remember, per block id, the most blocks a pack holding it may have in `lane`.

        A bound only shrinks: where a smaller one is stored (another worker split the same
        pack further), it is kept. The blocks must have been stored with `put_blocks`.
        """
        ...

    async def pack_sizes(self, lane: str) -> dict[str, int]:
        """The bounds `limit_pack_sizes` stored for `lane`, by block id."""
        ...

    async def save_output_estimates(self, lane: str, tokens_by_kind: Mapping[str, float]) -> None:
        """Store `lane`'s expected output tokens per block kind, replacing those given."""
        ...

    async def output_estimates(self, lane: str) -> dict[str, float]:
        """The expected output tokens per block kind last saved for `lane`."""
        ...

    async def close(self) -> None:
        """Release the store's resources (and a run's lock); calling it twice is harmless."""
        ...
