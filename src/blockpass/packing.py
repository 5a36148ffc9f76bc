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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache

from blockpass.blocks import Block, BlockKind
from blockpass.context import NO_CONTEXT, PackContext
from blockpass.errors import UserInputError
from blockpass.packformat import PackedBlock, render_pack
from blockpass.providers.base import ModelProfile

# Output tokens per block before anything is observed: an "ok" costs about a dozen tokens,
# an edit or flag with its notes about fifty.
DEFAULT_OUTPUT_ESTIMATE = 40
_DEFAULT_BY_KIND = {BlockKind.HEADING: 25, BlockKind.LIST_ITEM: 35}
_LEARNING_RATE = 0.2
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

    @property
    def short_ids(self) -> dict[str, Block]:
        """``b1``, ``b2``, ... in pack order: ids that cost almost nothing."""
        return {f"b{number}": block for number, block in enumerate(self.blocks, start=1)}

    def render(self) -> str:
        return render_pack(
            PackedBlock(id=short_id, kind=block.kind.value, text=block.text)
            for short_id, block in self.short_ids.items()
        )


@dataclass(slots=True)
class OutputEstimator:
    """Expected output tokens per block, learned from observed results: an answer item's
    fixed cost plus a rate per character of the block's text, by kind (a long paragraph has
    more to find than a short one, and packs mix both). Before a kind is observed, its
    default per block; ``scale``: what the verdict format writes against the full one.

    The rate is a ratio of decayed sums (output over characters, each block counting for
    its length), so one short block with many findings cannot swing it.
    """

    scale: float = 1.0
    # Per block, an exponential moving average: what the store keeps per lane.
    by_kind: dict[BlockKind, float] = field(default_factory=dict)
    # Per kind: decayed sums of output beyond an ok item's cost, and of characters.
    rates: dict[BlockKind, tuple[float, float]] = field(default_factory=dict)

    @property
    def item_cost(self) -> float:
        """What an ``ok`` item costs: the floor of every block's estimate."""
        return _OK_ITEM_TOKENS * self.scale

    def estimate(self, block: Block) -> int:
        rate = self.rates.get(block.kind)
        if rate is not None and rate[1] > 0:
            return round(self.item_cost + rate[0] / rate[1] * len(block.text))
        default = _DEFAULT_BY_KIND.get(block.kind, DEFAULT_OUTPUT_ESTIMATE) * self.scale
        return round(self.by_kind.get(block.kind, default))

    def observe(self, block: Block, output_tokens: float) -> None:
        current = self.by_kind.get(block.kind)
        self.by_kind[block.kind] = (
            output_tokens
            if current is None
            else current + _LEARNING_RATE * (output_tokens - current)
        )
        beyond, characters = self.rates.get(block.kind, (0.0, 0.0))
        self.rates[block.kind] = (
            _RATE_DECAY * beyond + max(0.0, output_tokens - self.item_cost),
            _RATE_DECAY * characters + len(block.text),
        )


def block_input_tokens(block: Block, count: Callable[[str], int]) -> int:
    """Tokens a block adds to a pack: its text plus its tags (a pack id is two or three chars)."""
    return count(block.text) + count(_empty_tags(block.kind))


@cache
def _empty_tags(kind: BlockKind) -> str:
    return render_pack([PackedBlock(id="b10", kind=kind.value, text="")]) + "\n"


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
