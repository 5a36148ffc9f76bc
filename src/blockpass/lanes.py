"""Lanes: the models one run sends blocks to, and which block goes to which.

A lane is a provider with its model profile. Each lane has its own cached prefix (the task
laid out for its model and tokenizer), its own fingerprint (reuse never hands one model's
answer to a block routed to another), its own packs, pack sizes and output estimates (kept in
the store under the lane's name) and its own ledger rows (every call names its model). A run
has one lane unless it is given several with a `route` that names each block's lane; routing
policies (tiers, a classify pass) build on this.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from blockpass.blocks import Block
from blockpass.providers.base import ModelProfile, Provider
from blockpass.task import Task

__all__ = ["Lane", "Lanes", "lane_name", "run_fingerprint"]


def lane_name(provider_name: str, profile: ModelProfile) -> str:
    return f"{provider_name}:{profile.results_key}"


def run_fingerprint(fingerprints: Mapping[str, str]) -> str:
    """A run's fingerprint from its lanes' (by lane name): the lane's own for one lane (as
    before runs had lanes), a digest of every lane's otherwise."""
    if len(fingerprints) == 1:
        return next(iter(fingerprints.values()))
    digest = hashlib.sha256()
    for name, fingerprint in sorted(fingerprints.items()):
        digest.update(f"{name}\n{fingerprint}\n".encode())
    return digest.hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Lane:
    provider: Provider

    @property
    def name(self) -> str:
        return lane_name(self.provider.name, self.provider.profile)

    @property
    def profile(self) -> ModelProfile:
        return self.provider.profile

    def fingerprint(self, task: Task) -> str:
        return task.fingerprint(self.profile.results_key)


@dataclass(frozen=True, slots=True, kw_only=True)
class Lanes:
    """The lanes of a run. ``route`` names each block's lane; without one, every block goes to
    the first lane."""

    lanes: tuple[Lane, ...]
    route: Callable[[Block], str] | None = None

    def __post_init__(self) -> None:
        if not self.lanes:
            raise ValueError("a run needs at least one lane")
        names = [lane.name for lane in self.lanes]
        if len(set(names)) != len(names):
            raise ValueError(f"two lanes share a name (provider and model): {names}")

    @classmethod
    def one(cls, provider: Provider) -> Lanes:
        return cls(lanes=(Lane(provider),))

    @property
    def first(self) -> Lane:
        return self.lanes[0]

    def fingerprints(self, task: Task) -> dict[str, str]:
        return {lane.name: lane.fingerprint(task) for lane in self.lanes}

    def run_fingerprint(self, task: Task) -> str:
        """What the run directory is bound to: the lane's fingerprint for a run of one lane
        (as before runs had lanes), a digest of every lane's otherwise."""
        return run_fingerprint(self.fingerprints(task))

    def assign(self, blocks: Sequence[Block]) -> dict[str, list[Block]]:
        """Each lane's blocks by lane name, in input order; every lane is a key."""
        assigned: dict[str, list[Block]] = {lane.name: [] for lane in self.lanes}
        for block in blocks:
            name = self.first.name if self.route is None else self.route(block)
            if name not in assigned:
                raise ValueError(f"block {block.id} was routed to {name!r}, which is no lane")
            assigned[name].append(block)
        return assigned
