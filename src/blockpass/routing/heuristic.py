"""The free first pass: a tier per block from what is known before any call.

Each feature adds points to a block's difficulty score; every ``POINTS_PER_TIER`` points move
the block one tier up (weakest tier first), capped at the strongest. With two tiers a block
goes to the strong one at 2 points or more. The thresholds are assumptions, written here so
a run's routing can be read back from them:

  kind          heading -1 (short, rarely more than capitalization);
                blockquote, table +1 (quoted or tabular text is easy to get wrong)
  length        more than LONG_WORDS words +1, more than VERY_LONG_WORDS +2
  spread        the standard deviation of sentence lengths (words) above SPREAD_WORDS +1:
                one long sentence among short ones is where a weak model misses the clause
  markup        inline markup characters above MARKUP_SHARE of the text +1 (links, emphasis
                and HTML a careless edit breaks)
  code          inline code above CODE_SHARE of the text +1 (identifiers must stay as written)
  rule hits     the rule engine's alerts weighted by level (error 2, warning 1, suggestion
                0.5): a weight of HITS_SOME or more +1, HITS_MANY or more +2

With ``--route classify`` the heuristic settles the blocks it is sure of (no point: the
weakest tier; SETTLED_MARGIN points past the strongest tier's threshold: the strongest) and
the classify pass (``classify.py``) names the tier of the others, so its calls carry only
the blocks where a model's reading can change the decision.

The features never include what the sandbox's quality model uses to decide what a weak tier
misses (``sandbox/quality.py``): the router sees only the block and the engine's alerts.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from blockpass.blocks import Block, BlockKind
from blockpass.rules.linter import LintAlert

__all__ = ["POINTS_PER_TIER", "BlockFeatures", "heuristic_tier"]

POINTS_PER_TIER = 2.0
SETTLED_MARGIN = 2.0
LONG_WORDS = 60
VERY_LONG_WORDS = 150
SPREAD_WORDS = 8.0
MARKUP_SHARE = 0.05
CODE_SHARE = 0.15
HITS_SOME = 2.0
HITS_MANY = 4.0
LEVEL_WEIGHTS = {"error": 2.0, "warning": 1.0, "suggestion": 0.5}
KIND_POINTS = {BlockKind.HEADING: -1.0, BlockKind.BLOCKQUOTE: 1.0, BlockKind.TABLE: 1.0}

_WORD = re.compile(r"[\w'’-]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_INLINE_CODE = re.compile(r"`[^`]*`")
_MARKUP = re.compile(r"[*_\[\]()<>#|]")


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockFeatures:
    kind: BlockKind
    words: int
    sentence_spread: float
    markup_share: float
    code_share: float
    rule_weight: float

    @classmethod
    def of(cls, block: Block, alerts: Sequence[LintAlert] = ()) -> BlockFeatures:
        text = block.text
        code = sum(len(match) for match in _INLINE_CODE.findall(text))
        prose = _INLINE_CODE.sub(" ", text)
        sentences = [len(_WORD.findall(part)) for part in _SENTENCE_END.split(prose)]
        sentences = [count for count in sentences if count]
        return cls(
            kind=block.kind,
            words=len(_WORD.findall(prose)),
            sentence_spread=statistics.pstdev(sentences) if len(sentences) > 1 else 0.0,
            markup_share=len(_MARKUP.findall(prose)) / max(len(text), 1),
            code_share=code / max(len(text), 1),
            rule_weight=sum(LEVEL_WEIGHTS.get(alert.level, 1.0) for alert in alerts),
        )

    def settled(self, tiers: int) -> bool:
        """Whether the heuristic alone decides this block (``--route classify`` asks the
        classify pass about the others): no point at all (the weakest tier), or
        ``SETTLED_MARGIN`` points past the last tier's threshold (the strongest)."""
        score = self.score()
        return score <= 0 or score >= (tiers - 1) * POINTS_PER_TIER + SETTLED_MARGIN

    def score(self) -> float:
        points = KIND_POINTS.get(self.kind, 0.0)
        points += 2.0 if self.words > VERY_LONG_WORDS else 1.0 if self.words > LONG_WORDS else 0.0
        points += 1.0 if self.sentence_spread > SPREAD_WORDS else 0.0
        points += 1.0 if self.markup_share > MARKUP_SHARE else 0.0
        points += 1.0 if self.code_share > CODE_SHARE else 0.0
        if self.rule_weight >= HITS_MANY:
            points += 2.0
        elif self.rule_weight >= HITS_SOME:
            points += 1.0
        return points


def heuristic_tier(features: BlockFeatures, tiers: int) -> int:
    """The tier (0 the weakest) for a block with these features, among ``tiers``."""
    step = int(max(features.score(), 0.0) // POINTS_PER_TIER)
    return min(step, tiers - 1)
