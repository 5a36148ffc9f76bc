"""What of the reference material a request carries: the whole guide, or the rule units
retrieved for its pack.

In retrieve mode the cached prefix holds the instructions, the schema and the core units
(``Task.for_retrieval``); after its breakpoint, each pack carries the units retrieved for its
blocks, deduplicated, in the reference material's reading order (``PackContexts``):

- Each block gets every certain unit or, where there is none, its best ``k`` others
  (``guide_retrieval.retrieve_block_rules``); a block the retrievers disagree on gets
  ``wide_k`` others (*widened*).
- The units that many of a lane's packs carry are its *shared* units: sent once per request
  in a part of their own right after the prefix, with its own breakpoint, so they are
  written to the cache once and read after (``PackContexts.share``: where a unit recurs in
  more packs than a cache write and the reads cost). Each pack's own part holds the rest.
- A block retrieval is unsure of even at ``wide_k`` makes its pack fall back: to the whole
  guide, where it fits beside the pack (one context part for every such pack, with its own
  breakpoint, so it is cached after the first), or else to the core and the best units that
  fit.
- Blocks are ordered for packing so that blocks with the same best unit share packs, and
  the blocks that fall back share theirs: context parts repeat less.
- A pack whose retrieved units do not all fit beside it keeps the best-ranked ones; the
  units left out are counted (*trimmed*).

Everything that happens is counted in ``ContextStats`` for the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from blockpass.blocks import Block
from blockpass.providers.base import CacheTtl
from blockpass.unit_framing import Unit, UnitLabels, render_units

__all__ = [
    "NO_CONTEXT",
    "BlockRules",
    "ContextMode",
    "ContextStats",
    "Fallback",
    "PackContext",
    "PackContexts",
    "RetrievalSettings",
    "RetrievedRules",
]


# What a cached input token costs against an uncached one: written once (Anthropic: 1.25
# for 5 minutes, 2 for an hour, the TTL of batch requests), read after (0.1; OpenAI's
# automatic caching writes at 1 and reads at 0.1 to 0.5).
CACHE_WRITE_COST = {CacheTtl.FIVE_MINUTES: 1.25, CacheTtl.ONE_HOUR: 2.0}
CACHE_READ_COST = 0.1


class ContextMode(StrEnum):
    """``full``: the whole guide in the cached prefix; ``retrieve``: core units in the
    prefix, retrieved units per pack; ``auto``: whichever ``estimate`` prices lower;
    ``agentic``: core units in the prefix, and a ``search_style_rules`` tool the model looks
    the others up with (``mcp_bridge/rule_tools.py``), in a tool loop per pack."""

    FULL = "full"
    RETRIEVE = "retrieve"
    AUTO = "auto"
    AGENTIC = "agentic"


class Fallback(StrEnum):
    FULL_GUIDE = "full guide"
    WIDEST_FIT = "core and the widest K that fits"


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrievalSettings:
    """``k``: a block's ranked units where none is certain; ``wide_k``: where the
    retrievers disagree on it. The default ``k`` of 1 was chosen on ``bench/context_cost.py``
    (the rust-book with the Red Hat guide): the guide-linked findings come with the certain
    units, and each ranked one is paid in every pack that carries it."""

    k: int = 1
    wide_k: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.wide_k:
            raise ValueError(f"retrieval needs 1 <= k <= wide_k, not {self.k} and {self.wide_k}")


@dataclass(frozen=True, slots=True)
class BlockRules:
    """The units retrieved for one block: the certain ones, then the others best first,
    core units left out."""

    ranked: tuple[str, ...]
    widened: bool = False
    unsure: bool = False


NO_RULES = BlockRules(())


@dataclass(frozen=True, slots=True)
class SharedUnits:
    """The units many packs of a lane carry, sent once per request in a part of their own
    right after the prefix, with its own breakpoint: written to the cache once, read after."""

    text: str = ""
    tokens: int = 0
    units: tuple[str, ...] = ()


NO_SHARED_UNITS = SharedUnits()


@dataclass(frozen=True, slots=True)
class PackContext:
    """What one pack carries after the prefix's breakpoint: the lane's ``shared`` units (if
    any), then its own. ``cached``: its own text recurs in other packs (the whole guide of a
    fallback) and gets its own breakpoint; ``tokens`` counts its own text only."""

    text: str = ""
    tokens: int = 0
    units: tuple[str, ...] = ()
    fallback: Fallback | None = None
    cached: bool = False
    shared: SharedUnits = NO_SHARED_UNITS

    @property
    def all_tokens(self) -> int:
        return self.tokens + self.shared.tokens


NO_CONTEXT = PackContext()


@dataclass(slots=True)
class ContextStats:
    """What retrieval did in one run, by block (a block retried counts once)."""

    blocks: set[str] = field(default_factory=set)
    widened: set[str] = field(default_factory=set)
    fallback: dict[Fallback, set[str]] = field(default_factory=dict)
    trimmed_units: int = 0
    packs: int = 0
    units_sent: int = 0
    shared_units: int = 0
    # The shared part's tokens (sent in every pack that holds it, cached), and the packs'
    # own uncached parts' tokens summed over packs (a fallback's whole guide is cached).
    shared_tokens: int = 0
    own_tokens: int = 0

    @classmethod
    def merged(cls, parts: Iterable[ContextStats | None]) -> ContextStats | None:
        """One run's counts from its lanes' (or a distributed run's from each pack's);
        None when none retrieved anything."""
        counted = [stats for stats in parts if stats is not None]
        if not counted:
            return None
        merged = cls()
        for stats in counted:
            merged.add(stats)
        return merged

    def add(self, other: ContextStats) -> None:
        """Count ``other``'s packs in these (the shared part is one per lane, not summed)."""
        self.blocks |= other.blocks
        self.widened |= other.widened
        for kind, ids in other.fallback.items():
            self.fallback.setdefault(kind, set()).update(ids)
        self.trimmed_units += other.trimmed_units
        self.packs += other.packs
        self.units_sent += other.units_sent
        self.shared_units = max(self.shared_units, other.shared_units)
        self.shared_tokens = max(self.shared_tokens, other.shared_tokens)
        self.own_tokens += other.own_tokens

    def to_json(self) -> dict[str, object]:
        return {
            "blocks": len(self.blocks),
            "widened": len(self.widened),
            "fallback": {kind.value: len(ids) for kind, ids in sorted(self.fallback.items())},
            "trimmed_units": self.trimmed_units,
            "packs": self.packs,
            "units_per_pack": round(self.units_sent / self.packs, 1) if self.packs else 0,
            "shared_units": self.shared_units,
            "shared_tokens": self.shared_tokens,
            "own_tokens": self.own_tokens,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrievedRules:
    """A run's retrieval, the same for every lane: the units, each block's, and the whole
    guide for fallbacks; ``contexts`` lays it out for one lane's tokenizer."""

    units: Sequence[Unit]
    rules: Mapping[str, BlockRules]
    full_guide: str
    # The shared units, where another process chose them from the lane's first plan (a
    # submitted run's); None: the lane's first plan here chooses them.
    shared: Sequence[str] | None = None
    # Hears each pack's own counts as it is laid out (a worker keeps them per job).
    on_pack: Callable[[ContextStats], None] | None = None

    def contexts(self, count: Callable[[str], int]) -> PackContexts:
        contexts = PackContexts(
            units=self.units,
            rules=self.rules,
            full_guide=self.full_guide,
            count=count,
            on_pack=self.on_pack,
        )
        if self.shared is not None:
            contexts.keep_shared(self.shared)
        return contexts


class PackContexts:
    """The context of each pack of one lane, from its blocks' retrieved units.

    ``units``: every unit of the reference material in reading order (the order a pack's
    units are written in); ``full_guide``: the whole guide as a context part, for packs
    that fall back; ``count``: the lane's tokenizer.
    """

    def __init__(
        self,
        *,
        units: Sequence[Unit],
        rules: Mapping[str, BlockRules],
        full_guide: str,
        count: Callable[[str], int],
        on_pack: Callable[[ContextStats], None] | None = None,
    ) -> None:
        self._units = {unit.id: unit for unit in units}
        self._labels = UnitLabels.of(units)
        self._order = {unit.id: position for position, unit in enumerate(units)}
        self._rules = rules
        self._count = count
        self._unit_tokens: dict[str, int] = {}
        self._shared = NO_SHARED_UNITS
        self.share_pending = True
        self._full_guide = PackContext(
            text=full_guide, tokens=count(full_guide), fallback=Fallback.FULL_GUIDE, cached=True
        )
        self.stats = ContextStats()
        self._on_pack = on_pack

    def groups(self, blocks: Sequence[Block]) -> list[list[Block]]:
        """Blocks grouped for packing: the blocks retrieval is sure of, ordered by their best
        unit not shared, then apart the unsure ones (whose packs fall back); input order
        within each."""

        def best(block: Block) -> int:
            own = [unit_id for unit_id in self._rule(block).ranked if unit_id not in shared]
            return self._order.get(own[0], -1) if own else -1

        shared = frozenset(self._shared.units)

        sure = [block for block in blocks if not self._rule(block).unsure]
        unsure = [block for block in blocks if self._rule(block).unsure]
        return [group for group in (sorted(sure, key=best), unsure) if group]

    def share(
        self,
        packs: Sequence[Sequence[Block]],
        *,
        room: Callable[[Sequence[Block]], int],
        min_tokens: int,
        ttl: CacheTtl = CacheTtl.FIVE_MINUTES,
    ) -> None:
        """Choose the lane's shared units, once, from its first plan (``packs``: each pack's
        blocks). A unit that ``n`` of the ``P`` packs retrieval is sure of carry costs ``n``
        uncached sends apart; shared, one cache write at ``ttl``'s price and ``P - 1`` cache
        reads: it is shared where that is cheaper (at Anthropic's 5-minute prices, in more
        than about a tenth of the packs), most recurring first, as long as every pack still
        holds the shared part beside all of its own units in ``room(pack)`` tokens (what its
        blocks leave). None are shared when the chosen come to fewer than ``min_tokens``: too
        short to be cached after the prefix, every pack would send them whole."""
        if not self.share_pending:
            return
        self.share_pending = False
        sure = [pack for pack in packs if not any(self._rule(block).unsure for block in pack)]
        carried = [
            {unit_id for block in pack for unit_id in self._rule(block).ranked} for pack in sure
        ]
        wrapper = self._count(wrap_retrieved(""))
        # The tokens each pack has to spare beside both parts' wrappers and all its units,
        # nothing shared. A pack short of room already trims its own units: sharing a unit
        # it does not carry would leave it less, so it only bounds the others.
        spare = [
            room(pack) - 2 * wrapper - sum(self._tokens(unit_id) for unit_id in units)
            for pack, units in zip(sure, carried, strict=True)
        ]
        counts = Counter(unit_id for units in carried for unit_id in units)
        break_even = CACHE_WRITE_COST[ttl] + CACHE_READ_COST * (len(sure) - 1)
        chosen: list[str] = []
        for unit_id, packs_with_it in sorted(
            counts.items(), key=lambda item: (-item[1], self._order.get(item[0], 0))
        ):
            if packs_with_it <= break_even:
                break
            tokens = self._tokens(unit_id)
            # A pack that carries the unit moves it from its own part to the shared one.
            needs = [
                position
                for position, units in enumerate(carried)
                if unit_id not in units and spare[position] >= 0
            ]
            if all(spare[position] >= tokens for position in needs):
                chosen.append(unit_id)
                for position in needs:
                    spare[position] -= tokens
        if not chosen:
            return
        shared = self._shared_part(chosen)
        if shared.tokens >= min_tokens:
            self._use_shared(shared)

    def keep_shared(self, unit_ids: Sequence[str]) -> None:
        """Share these units instead of choosing from a first plan."""
        self.share_pending = False
        if unit_ids:
            self._use_shared(self._shared_part(unit_ids))

    def _shared_part(self, unit_ids: Sequence[str]) -> SharedUnits:
        chosen = sorted(unit_ids, key=lambda unit_id: self._order.get(unit_id, 0))
        text = wrap_retrieved(
            render_units((self._units[unit_id] for unit_id in chosen), self._labels)
        )
        return SharedUnits(text=text, tokens=self._count(text), units=tuple(chosen))

    def _use_shared(self, shared: SharedUnits) -> None:
        self._shared = shared
        self.stats.shared_units = len(shared.units)
        self.stats.shared_tokens = shared.tokens

    def fitting(
        self, blocks: Sequence[Block], *, budget: int, block_tokens: Callable[[Block], int]
    ) -> list[Sequence[Block]]:
        """``blocks`` (a planned pack) cut into runs, in order, whose blocks and units (the
        shared part and the run's own) all fit in ``budget`` tokens; a block that does not
        fit with its units alone still gets a run of its own. A pack that falls back is left
        whole: it carries the widest context that fits anyway."""
        rules = [self._rule(block) for block in blocks]
        if any(rule.unsure for rule in rules):
            return [blocks]
        shared = frozenset(self._shared.units)
        fixed = 2 * self._count(wrap_retrieved("")) + self._shared.tokens
        runs: list[Sequence[Block]] = []
        start, carried, used = 0, set[str](), fixed
        for position, (block, rule) in enumerate(zip(blocks, rules, strict=True)):
            added = set(rule.ranked) - shared - carried
            more = block_tokens(block) + sum(self._tokens(unit_id) for unit_id in added)
            if position > start and used + more > budget:
                runs.append(blocks[start:position])
                start, carried, used = position, set(), fixed
                added = set(rule.ranked) - shared
                more = block_tokens(block) + sum(self._tokens(unit_id) for unit_id in added)
            carried |= added
            used += more
        runs.append(blocks[start:])
        return runs

    @property
    def shared_units(self) -> tuple[str, ...]:
        return self._shared.units

    def for_pack(self, blocks: Sequence[Block], room: int) -> PackContext:
        """The context of a pack of ``blocks`` with ``room`` tokens left beside them."""
        rules = [self._rule(block) for block in blocks]
        counts = ContextStats(
            blocks={block.id for block in blocks},
            widened={block.id for block, rule in zip(blocks, rules, strict=True) if rule.widened},
            shared_units=self.stats.shared_units,
            shared_tokens=self.stats.shared_tokens,
        )
        if any(rule.unsure for rule in rules):
            if self._full_guide.tokens <= room:
                kind, context = Fallback.FULL_GUIDE, self._full_guide
            else:
                kind = Fallback.WIDEST_FIT
                context = replace(self._best_fitting(rules, room, counts), fallback=kind)
            counts.fallback[kind] = set(counts.blocks)
        else:
            context = self._best_fitting(rules, room, counts)
        counts.packs = 1
        counts.units_sent = len(context.units)
        if not context.cached:
            counts.own_tokens = context.tokens
        self.stats.add(counts)
        if self._on_pack is not None:
            self._on_pack(counts)
        return context

    def _rule(self, block: Block) -> BlockRules:
        return self._rules.get(block.id, NO_RULES)

    def _best_fitting(
        self, rules: Sequence[BlockRules], room: int, counts: ContextStats
    ) -> PackContext:
        """The shared units (where they fit), then the pack's own, best rank first across
        its blocks, while they fit; the units left out are counted in ``counts``."""
        shared = self._shared if self._shared.tokens <= room else NO_SHARED_UNITS
        best_rank: dict[str, int] = {}
        for rule in rules:
            for rank, unit_id in enumerate(rule.ranked):
                if unit_id not in shared.units and rank < best_rank.get(unit_id, rank + 1):
                    best_rank[unit_id] = rank
        kept: list[str] = []
        used = shared.tokens + self._count(wrap_retrieved(""))
        for unit_id in sorted(best_rank, key=lambda u: (best_rank[u], self._order.get(u, 0))):
            tokens = self._tokens(unit_id)
            if used + tokens <= room:
                kept.append(unit_id)
                used += tokens
        counts.trimmed_units += len(best_rank) - len(kept)
        kept.sort(key=lambda unit_id: self._order.get(unit_id, 0))
        if not kept:
            return PackContext(shared=shared)
        text = wrap_retrieved(
            render_units((self._units[unit_id] for unit_id in kept), self._labels)
        )
        return PackContext(text=text, tokens=self._count(text), units=tuple(kept), shared=shared)

    def _tokens(self, unit_id: str) -> int:
        if unit_id not in self._unit_tokens:
            self._unit_tokens[unit_id] = (
                self._count(render_units([self._units[unit_id]], self._labels)) + 1
            )
        return self._unit_tokens[unit_id]


RETRIEVED_OPEN = "<retrieved_rules>"
RETRIEVED_CLOSE = "</retrieved_rules>"


def wrap_retrieved(rendered: str) -> str:
    return f"{RETRIEVED_OPEN}\n{rendered}\n{RETRIEVED_CLOSE}"
