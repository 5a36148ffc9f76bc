"""Blocks into packs under a context budget and an output cap. Pure functions.

- Input budget: the model's context window minus the cached prefix minus the output reserve.
- Output cap: a pack's estimated output stays under the model's maximum output times a safety
  margin, so a pack is rarely truncated; per-kind output estimates start from defaults and
  learn from observed results, per character of a block's text (``OutputEstimator``).
- Blocks per pack stay within bounds (default 10 to 40); only budgets or the end of the
  queue make a pack smaller than the lower bound.

Blocks keep their order, and each block lands in exactly one pack. ``fill_packs`` is the
one greedy rule, on plain token counts: the runner packs blocks with it (``plan_packs``) and
``forecast.py`` prices a million blocks' packs with it, so an estimate's packs are the run's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

from blockpass.blocks import Block, BlockKind
from blockpass.context import NO_CONTEXT, PackContext
from blockpass.errors import UserInputError
from blockpass.packformat import PackedBlock, render_pack
from blockpass.proposals import Proposal, proposal_lines
from blockpass.providers.base import ModelProfile

# Output tokens per block before anything is observed: an "ok" costs about a dozen tokens,
# an edit or flag with its notes about fifty.
DEFAULT_OUTPUT_ESTIMATE = 40
_DEFAULT_BY_KIND = {BlockKind.HEADING: 25, BlockKind.LIST_ITEM: 35}
_LEARNING_RATE = 0.2
_RATE_PART = "/"
# The stored estimates' key for the rate per rule-engine hit.
_HITS = "hits"
# Output per rule-engine hit before one is observed (a finding written out in the full
# format, about 20 tokens; scaled for the verdict format).
DEFAULT_HIT_TOKENS = 16
# An ok item in the full format (``{"id":"b12","verdict":"ok"},``).
_OK_ITEM_TOKENS = 14
# Each observed block's weight in a kind's rate decays by this per later block of the kind.
_RATE_DECAY = 0.98


# Blocks per pack when neither the job nor the model's profile (``pack_bound``) says.
DEFAULT_MAX_BLOCKS = 40


def pack_size_bounds(
    profile: ModelProfile, min_blocks: int, max_blocks: int | None
) -> tuple[int, int]:
    """The job's bounds, its upper one (None: not given) else the profile's measured bound
    else ``DEFAULT_MAX_BLOCKS``; a lower bound above that upper one comes down to it."""
    chosen = max_blocks or profile.pack_bound or DEFAULT_MAX_BLOCKS
    return min(min_blocks, chosen), chosen


def batch_pack_bound(profile: ModelProfile, backstop: int | None) -> int | None:
    """Blocks per batch pack: ``backstop`` (``--batch-max-blocks``), held to the model's
    measured bound where answers were measured to get worse past it: answer quality does
    not change with the mode. A bound at the largest size swept only says no drop was seen
    up to there; batch packs, each paying for its prefix again (best-effort caching), stay
    larger then, up to the backstop and the planned answer length."""
    if not profile.pack_bound_dropped or profile.pack_bound is None:
        return backstop
    return profile.pack_bound if backstop is None else min(backstop, profile.pack_bound)


@dataclass(frozen=True, slots=True, kw_only=True)
class PackLimits:
    input_budget: int
    output_cap: int
    min_blocks: int = 10
    max_blocks: int = 40

    def __post_init__(self) -> None:
        if not 1 <= self.min_blocks <= self.max_blocks:
            raise UserInputError(
                "pack bounds must satisfy 1 <= min <= max "
                f"(got {self.min_blocks}-{self.max_blocks})"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Pack:
    """Blocks sent in one request. ``input_tokens``: the blocks' and the context's, the
    prefix left out; ``context``: what the request carries for these blocks alone (retrieved
    rules), none in a run that sends the whole guide."""

    id: str
    blocks: tuple[Block, ...]
    input_tokens: int
    estimated_output: int
    context: PackContext = NO_CONTEXT
    # The rule engine's proposals for each block, in block order (``proposals.py``); empty
    # when the run makes none.
    proposals: tuple[tuple[Proposal, ...], ...] = ()

    @property
    def short_ids(self) -> dict[str, Block]:
        """``b1``, ``b2``, ... in pack order: ids that cost almost nothing."""
        return {f"b{number}": block for number, block in enumerate(self.blocks, start=1)}

    @property
    def proposals_by_short_id(self) -> dict[str, tuple[Proposal, ...]]:
        return {
            short_id: proposed
            for short_id, proposed in zip(self.short_ids, self.proposals, strict=False)
            if proposed
        }

    def render(self) -> str:
        proposed = self.proposals_by_short_id
        return render_pack(
            PackedBlock(
                id=short_id,
                kind=block.kind.value,
                text=block.text,
                proposals=proposal_lines(proposed.get(short_id, ())),
            )
            for short_id, block in self.short_ids.items()
        )


@dataclass(slots=True)
class OutputEstimator:
    """Expected output tokens per block, learned from observed results: an answer item's
        fixed cost, a rate per character of the block's text, by kind (a long paragraph has
        more to find than a short one, and packs mix both), and a rate per rule-engine hit (a
        block the engine flagged has findings to write, or proposals to answer). Before a kind
        is observed, its default per block (hits or not: the default is an average block's);
    once the kind's rate is learned but no hit's yet, ``DEFAULT_HIT_TOKENS`` per hit;
        ``scale``: what the verdict format writes against the full one.

        The rates are ratios of decayed sums (output over characters, each block counting for
        its length; what is left over hits), so one short block with many findings cannot
        swing them. The character rate learns from blocks without hits, the hit rate from what
        blocks with hits wrote beyond it; with no engine, no block has hits.
    """

    scale: float = 1.0
    # Per block, an exponential moving average: what the store keeps per lane.
    by_kind: dict[BlockKind, float] = field(default_factory=dict)
    # Per kind: decayed sums of output beyond an ok item's cost, and of characters.
    rates: dict[BlockKind, tuple[float, float]] = field(default_factory=dict)
    # Decayed sums of output beyond the item and its characters' share, and of hits.
    hit_rate: tuple[float, float] = (0.0, 0.0)

    @property
    def item_cost(self) -> float:
        """What an ``ok`` item costs: the floor of every block's estimate."""
        return _OK_ITEM_TOKENS * self.scale

    @property
    def per_hit(self) -> float:
        beyond, hits = self.hit_rate
        return beyond / hits if hits > 0 else DEFAULT_HIT_TOKENS * self.scale

    def estimate(self, block: Block, hits: int = 0) -> int:
        rate = self.rates.get(block.kind)
        if rate is not None and rate[1] > 0:
            return round(self.item_cost + self._by_characters(block) + self.per_hit * hits)
        if hits and self.hit_rate[1] > 0:
            # Nothing learned of the kind's blocks without hits: its hits say the most.
            return round(self.item_cost + self.per_hit * hits)
        # Nothing learned yet: the kind's default is an average block's, findings included,
        # so hits do not add to it (a batch plans its packs before any answer).
        default = _DEFAULT_BY_KIND.get(block.kind, DEFAULT_OUTPUT_ESTIMATE) * self.scale
        return round(self.by_kind.get(block.kind, default))

    def observe(self, block: Block, output_tokens: float, hits: int = 0) -> None:
        current = self.by_kind.get(block.kind)
        self.by_kind[block.kind] = (
            output_tokens
            if current is None
            else current + _LEARNING_RATE * (output_tokens - current)
        )
        beyond_item = max(0.0, output_tokens - self.item_cost)
        if hits:
            beyond, counted = self.hit_rate
            left = max(0.0, beyond_item - self._by_characters(block))
            self.hit_rate = (_RATE_DECAY * beyond + left, _RATE_DECAY * counted + hits)
            return
        beyond, characters = self.rates.get(block.kind, (0.0, 0.0))
        self.rates[block.kind] = (
            _RATE_DECAY * beyond + beyond_item,
            _RATE_DECAY * characters + len(block.text),
        )

    def resume(self, stored: Mapping[str, float]) -> None:
        """Start from estimates learned before, as ``stored`` (``stored_form``) keeps them."""
        rates: dict[str, dict[str, float]] = {}
        for key, tokens in stored.items():
            kind, _, part = key.partition(_RATE_PART)
            if part:
                rates.setdefault(kind, {})[part] = tokens
            else:
                self.by_kind[BlockKind(kind)] = tokens
        hits = rates.pop(_HITS, None)
        if hits is not None:
            self.hit_rate = (hits["beyond"], hits["hits"])
        for kind, sums in rates.items():
            self.rates[BlockKind(kind)] = (sums["beyond"], sums["characters"])

    def stored_form(self) -> dict[str, float]:
        """Per kind, output per block and the rate's sums (``kind/beyond``,
        ``kind/characters``); the hit rate's (``hits/beyond``, ``hits/hits``)."""
        stored = {kind.value: tokens for kind, tokens in self.by_kind.items()}
        for kind, (beyond, characters) in self.rates.items():
            stored[f"{kind.value}{_RATE_PART}beyond"] = beyond
            stored[f"{kind.value}{_RATE_PART}characters"] = characters
        if self.hit_rate[1] > 0:
            stored[f"{_HITS}{_RATE_PART}beyond"], stored[f"{_HITS}{_RATE_PART}hits"] = self.hit_rate
        return stored

    def _by_characters(self, block: Block) -> float:
        beyond, characters = self.rates.get(block.kind, (0.0, 0.0))
        return beyond / characters * len(block.text) if characters > 0 else 0.0


def block_input_tokens(block: Block, count: Callable[[str], int]) -> int:
    """Tokens a block adds to a pack: its text plus its tag (a pack id is two or three
    chars; the pack's one closing tag is left out)."""
    return count(block.text) + count(_opening_tag(block.kind))


@cache
def _opening_tag(kind: BlockKind) -> str:
    """A block's tag line and the line break before the next block."""
    rendered = render_pack([PackedBlock(id="b10", kind=kind.value, text="")])
    return rendered[: rendered.index("\n") + 1] + "\n"


def pack_id(blocks: Iterable[Block]) -> str:
    digest = hashlib.sha256()
    for block in blocks:
        digest.update(block.id.encode())
        digest.update(b"\x00")
        digest.update(block.content_hash.encode())
    return f"p-{digest.hexdigest()[:20]}"


def fill_packs(
    sizes: Iterable[tuple[int, int]], *, input_budget: int, output_cap: int, max_blocks: int
) -> Iterator[tuple[int, int, int]]:
    """Greedy in-order packing of blocks given as (input tokens, estimated output tokens).

    Yields each pack as (blocks, input tokens, estimated output): a pack takes blocks until
    the next one would pass ``max_blocks`` or a budget. A block over a budget alone still
    gets a pack of its own; callers decide whether that is an error. Plain ints and tuples
    only: an estimate runs this over millions of blocks.
    """
    count = pack_in = pack_out = 0
    for tokens, output in sizes:
        if count and (
            count == max_blocks or pack_in + tokens > input_budget or pack_out + output > output_cap
        ):
            yield count, pack_in, pack_out
            count = pack_in = pack_out = 0
        count += 1
        pack_in += tokens
        pack_out += output
    if count:
        yield count, pack_in, pack_out


def plan_packs(
    blocks: Sequence[Block],
    limits: PackLimits,
    *,
    input_tokens: Callable[[Block], int],
    estimate_output: Callable[[Block], int],
) -> list[Pack]:
    sizes = [(input_tokens(block), estimate_output(block)) for block in blocks]
    for block, (tokens, output) in zip(blocks, sizes, strict=True):
        if tokens > limits.input_budget or output > limits.output_cap:
            raise UserInputError(
                f"block {block.id} alone needs {tokens} input tokens and about {output} output "
                f"tokens, more than one request allows ({limits.input_budget} in, "
                f"{limits.output_cap} out): split it in the source document"
            )
    packs: list[Pack] = []
    start = 0
    for count, pack_in, pack_out in fill_packs(
        sizes,
        input_budget=limits.input_budget,
        output_cap=limits.output_cap,
        max_blocks=limits.max_blocks,
    ):
        members = blocks[start : start + count]
        start += count
        packs.append(
            Pack(
                id=pack_id(members),
                blocks=tuple(members),
                input_tokens=pack_in,
                estimated_output=pack_out,
            )
        )
    return packs
