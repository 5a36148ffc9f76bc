"""What a block costs on each tier before any call, so routing spends only where it saves.

A block's cost on a tier, from the tier's prices and profile:
  - its share of the cached prefix: the prefix (instructions, guide, schema) is read once per
    pack, and a pack holds at most the tier's bound of blocks (``--max-blocks``, else the
    model's measured bound, ``providers/pack_bounds.toml``), so a tier whose answers are only
    good in small packs pays its prefix more often per block; a prefix shorter than the
    model's cacheable minimum is paid at the input price;
  - its own tokens at the input price, and its answer (``packing.OutputEstimator``'s prior
    for the block's kind and length, in the run's verdict format) at the output price.
Escalations are known only from answers and are left out: the figures are what a block
costs when its tier's answer stands.

The classify pass asks about a block (``runner.py``, ``forecast.py``) only when the most its
answer can save (the block on the strongest tier against the cheapest) is at least
``ASK_RETURN`` times what asking costs (the block's tokens on the classifier, its share of
the instructions, a listed id). Below that the answer cannot pay for itself by the margin
routing is held to, and the free first pass's tier stands. A classifier that reads a block
at half of what the weak tier saves on it (claude-haiku-4-5 under claude-sonnet-4-5) is
never worth asking; one at a tenth of the weak tier's price is, for most blocks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from blockpass.blocks import Block
from blockpass.packing import OutputEstimator, block_input_tokens, pack_size_bounds
from blockpass.prices import ModelPrices, PriceTable
from blockpass.providers.base import ModelProfile
from blockpass.routing.classify import (
    ANSWER_TOKENS_FIXED,
    ANSWER_TOKENS_PER_BLOCK,
    BLOCKS_PER_CALL,
    INSTRUCTIONS,
)
from blockpass.task import Task
from blockpass.tokens import count_tokens
from blockpass.usage import TokenClass
from blockpass.verdicts import OUTPUT_SCALE

__all__ = ["ASK_RETURN", "TierCosts", "worth_asking"]

# The classify pass asks about a block when the most it can save is this many times what
# asking costs: issue 15 holds the pass to a tenth of what routing saves, and a block whose
# best case cannot meet that is not worth a question.
ASK_RETURN = 10.0
_PER_TOKEN = 1e-6


@dataclass(frozen=True, slots=True, kw_only=True)
class TierCosts:
    """USD per block on each tier (weakest first), and what asking the classifier costs."""

    per_tier: Mapping[str, tuple[float, ...]]
    asking: Mapping[str, float]

    @classmethod
    def of(
        cls,
        blocks: Sequence[Block],
        tiers: Sequence[ModelProfile],
        prices: PriceTable,
        task: Task,
        *,
        max_blocks: int | None,
        classifier: ModelProfile | None = None,
    ) -> TierCosts:
        estimator = OutputEstimator(scale=OUTPUT_SCALE[task.verdicts])
        rates = [_TierRates.of(profile, prices, task, max_blocks) for profile in tiers]
        asked = _TierRates.of_classifier(classifier or tiers[0], prices)
        per_tier, asking = {}, {}
        for block in blocks:
            output = estimator.estimate(block)
            per_tier[block.id] = tuple(rate.block(block, output) for rate in rates)
            asking[block.id] = asked.block(block, ANSWER_TOKENS_PER_BLOCK)
        return cls(per_tier=per_tier, asking=asking)


@dataclass(frozen=True, slots=True, kw_only=True)
class _TierRates:
    prefix_per_block: float
    input: float
    output: float
    tokenizer: str

    @classmethod
    def of(
        cls, profile: ModelProfile, prices: PriceTable, task: Task, max_blocks: int | None
    ) -> _TierRates:
        card = prices.for_model(profile.id)
        prefix = count_tokens(task.system_prefix, family=profile.tokenizer)
        cached = 0 < profile.min_cacheable <= prefix
        prefix_class = TokenClass.CACHE_READ if cached else TokenClass.UNCACHED_INPUT
        _, bound = pack_size_bounds(profile, 1, max_blocks)
        return cls(
            prefix_per_block=prefix * _price(card, prefix_class) / bound,
            input=_price(card, TokenClass.UNCACHED_INPUT),
            output=_price(card, TokenClass.OUTPUT),
            tokenizer=profile.tokenizer,
        )

    @classmethod
    def of_classifier(cls, profile: ModelProfile, prices: PriceTable) -> _TierRates:
        card = prices.for_model(profile.id)
        instructions = count_tokens(INSTRUCTIONS, family=profile.tokenizer) + ANSWER_TOKENS_FIXED
        uncached = _price(card, TokenClass.UNCACHED_INPUT)
        return cls(
            prefix_per_block=instructions * uncached / BLOCKS_PER_CALL,
            input=uncached,
            output=_price(card, TokenClass.OUTPUT),
            tokenizer=profile.tokenizer,
        )

    def block(self, block: Block, output_tokens: int) -> float:
        tokens = block_input_tokens(block, partial(count_tokens, family=self.tokenizer))
        return self.prefix_per_block + tokens * self.input + output_tokens * self.output


def _price(card: ModelPrices, token_class: TokenClass) -> float:
    """USD per token at realtime prices (a batch discounts every tier alike)."""
    return float(card.per_million(token_class, batch=False, long=False)) * _PER_TOKEN


def worth_asking(block_id: str, costs: TierCosts) -> bool:
    """Whether the classify pass's answer on this block can save ``ASK_RETURN`` times what
    asking costs."""
    per_tier = costs.per_tier[block_id]
    return per_tier[-1] - min(per_tier) >= ASK_RETURN * costs.asking[block_id]
