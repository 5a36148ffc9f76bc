"""The hybrid rule index: triggers, BM25 and dense ranks, fused; built once per corpus.

``open_index(units, cache_dir=..., embedder=...)`` returns a ``RuleIndex``. The BM25 model
and the unit embeddings are stored under ``cache_dir`` in a folder named by the hash of the
units' content and the embedder's name: a corpus seen before loads from there (no unit is
embedded again), a changed one (an edited section, another model) is built anew. A build
is written to a temporary folder and renamed into place, so a reader never sees half an
index and two builders of the same corpus do not clash.

Query texts are embedded once per embedder under ``cache_dir`` (``query_cache.py``): a text
searched again, in this run or a later one, against this index or another, is not embedded
again.

Ranking (``Retriever.HYBRID``): every unit whose trigger fires comes first (certainty), and
the guide's section on a grammar construction the text shows (its cue unit, ``triggers.py``),
then the rest; within each group units are ordered by reciprocal rank fusion (RRF, k = 60) of
their trigger, BM25 and dense ranks. The single retrievers are there to measure each part.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from blockpass.errors import UserInputError
from blockpass.rag.query_cache import QueryVectors, queries_folder
from blockpass.rag.retrievers import Bm25, Embedder
from blockpass.rag.triggers import CUES, TriggerMatcher, cues_in, query_with_cues
from blockpass.rag.units import RuleUnit

if TYPE_CHECKING:
    from blockpass.rag.retrievers import Scores, Vectors

__all__ = ["Confidence", "Hit", "Retrieval", "Retriever", "RuleIndex", "open_index"]

INDEX_FORMAT = "1"
RRF_K = 60
# The median cosine similarity, under all-MiniLM-L6-v2, between an invalid example of a Red
# Hat rule and the guide section it belongs to (0.489 over the 782 specific cases of
# ``styles/RedHat/retrieval_cases.jsonl``): a unit at least this close is one the guide
# plausibly has to say about a text.
CLOSE_SIMILARITY = 0.5
_EMBEDDINGS = "embeddings.npy"
_MANIFEST = "manifest.json"
_BM25 = "bm25"


class Retriever(StrEnum):
    TRIGGERS = "triggers"
    BM25 = "bm25"
    DENSE = "dense"
    HYBRID = "hybrid"


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved unit. Ranks are 1-based (``None``: that retriever did not rank it, a trigger
    that did not fire); ``score`` is the fused score (plus 1 for a fired trigger)."""

    unit: RuleUnit
    score: float
    triggered: bool
    bm25_rank: int | None
    bm25_score: float
    dense_rank: int | None
    dense_score: float


@dataclass(frozen=True, slots=True)
class Confidence:
    """How far to trust a text's top K, for widening K or falling back.

    ``margin``: the fused score of the last hit kept minus that of the best one left out,
    over the first hit's (near 0: the cut at K is arbitrary). ``agreement``: the share of
    BM25's top K that dense retrieval also ranks in its top K. ``triggered``: units whose
    trigger fired, ``triggered_kept``: how many of them are among the hits (fewer: K is
    too small for what the text certainly touches). ``close``: units as similar to the text in
    meaning as a rule's own examples typically are to it (``CLOSE_SIMILARITY``): how much the
    guide has to say about the text."""

    margin: float
    agreement: float
    triggered: int
    triggered_kept: int
    close: int = 0


@dataclass(frozen=True, slots=True)
class Retrieval:
    text: str
    hits: tuple[Hit, ...]
    confidence: Confidence


class RuleIndex:
    def __init__(
        self,
        units: Sequence[RuleUnit],
        bm25: Bm25,
        embeddings: Vectors,
        embedder: Embedder,
        path: Path,
    ) -> None:
        self.units = tuple(units)
        self.path = path
        self._bm25 = bm25
        self._embeddings = embeddings
        self._queries = QueryVectors(queries_folder(path.parent, embedder), embedder)
        self._triggers = TriggerMatcher(units)
        self._cue_units = _cue_units(self.units, bm25)

    def search(self, text: str, k: int = 10, retriever: Retriever = Retriever.HYBRID) -> Retrieval:
        return self.search_many([text], k, retriever)[0]

    def search_many(
        self, texts: Sequence[str], k: int = 10, retriever: Retriever = Retriever.HYBRID
    ) -> list[Retrieval]:
        """Each text's top ``k`` units, the texts embedded in one batch."""
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        if not texts or not self.units:
            return [Retrieval(text, (), Confidence(0.0, 0.0, 0, 0)) for text in texts]
        dense_needed = retriever in (Retriever.DENSE, Retriever.HYBRID)
        expanded = [query_with_cues(text) for text in texts]
        queries = self._queries.embed(expanded) if dense_needed else None
        return [
            self._ranked(
                text, expanded[row], None if queries is None else queries[row], k, retriever
            )
            for row, text in enumerate(texts)
        ]

    def _ranked(
        self, text: str, expanded: str, query: Vectors | None, k: int, retriever: Retriever
    ) -> Retrieval:
        import numpy as np

        count = len(self.units)
        fired = self._fired(text) if retriever != Retriever.DENSE else {}
        bm25 = self._bm25.scores(expanded) if retriever != Retriever.DENSE else np.zeros(count)
        dense = self._embeddings @ query if query is not None else np.zeros(count)
        bm25_ranks = _ranks(bm25, positive_only=True)
        dense_ranks = _ranks(dense, positive_only=False) if query is not None else {}
        # Longer matches first: ``Red Hat AMQ`` is more specific than ``AMQ``.
        trigger_order = sorted(fired, key=lambda position: (-fired[position], position))
        trigger_ranks = {position: rank for rank, position in enumerate(trigger_order, 1)}
        rankings = {
            Retriever.TRIGGERS: [trigger_ranks],
            Retriever.BM25: [bm25_ranks],
            Retriever.DENSE: [dense_ranks],
            Retriever.HYBRID: [trigger_ranks, bm25_ranks, dense_ranks],
        }[retriever]
        fused = {
            position: sum(
                1.0 / (RRF_K + ranks[position]) for ranks in rankings if position in ranks
            )
            for position in set().union(*rankings)
        }
        if retriever == Retriever.HYBRID:
            fused = {p: score + (1.0 if p in fired else 0.0) for p, score in fused.items()}
        order = sorted(fused, key=lambda position: (-fused[position], position))
        kept = order[:k]
        hits = tuple(
            Hit(
                unit=self.units[position],
                score=fused[position],
                triggered=position in fired,
                bm25_rank=bm25_ranks.get(position),
                bm25_score=float(bm25[position]),
                dense_rank=dense_ranks.get(position),
                dense_score=float(dense[position]),
            )
            for position in kept
        )
        close = int((dense >= CLOSE_SIMILARITY).sum()) if query is not None else 0
        confidence = _confidence(order, fused, bm25_ranks, dense_ranks, fired, k, close)
        return Retrieval(text, hits, confidence)

    def _fired(self, text: str) -> dict[int, int]:
        """Triggered unit positions → match length: terms and patterns, and cue units."""
        fired = self._triggers.fired(text)
        for name in cues_in(text):
            if (position := self._cue_units.get(name)) is not None:
                fired[position] = max(fired.get(position, 0), len(name))
        return fired


def _cue_units(units: Sequence[RuleUnit], bm25: Bm25) -> dict[str, int]:
    """Each cue's unit: of the units that name the construction, the one BM25 ranks first
    for its name; none where no unit names it (a guide silent on contractions)."""
    found: dict[str, int] = {}
    for _, name in CUES:
        naming = [p for p, unit in enumerate(units) if name in unit.search_text.lower()]
        if naming:
            scores = bm25.scores(name)
            found[name] = max(naming, key=lambda position: (scores[position], -position))
    return found


def _ranks(scores: Scores | Vectors, *, positive_only: bool) -> dict[int, int]:
    """Unit position → 1-based rank by score (ties in unit order); BM25 ranks only units
    that share a word with the text."""
    import numpy as np

    order = np.argsort(-scores, kind="stable")
    if positive_only:
        order = order[scores[order] > 0]
    return {int(position): rank for rank, position in enumerate(order, 1)}


def _confidence(
    order: list[int],
    fused: dict[int, float],
    bm25_ranks: dict[int, int],
    dense_ranks: dict[int, int],
    fired: dict[int, int],
    k: int,
    close: int,
) -> Confidence:
    if not order:
        return Confidence(0.0, 0.0, len(fired), 0, close)
    kept = order[:k]
    left_out = fused[order[k]] if len(order) > k else 0.0
    margin = (fused[kept[-1]] - left_out) / fused[kept[0]] if fused[kept[0]] else 0.0
    bm25_top = {p for p, rank in bm25_ranks.items() if rank <= k}
    dense_top = {p for p, rank in dense_ranks.items() if rank <= k}
    agreement = len(bm25_top & dense_top) / len(bm25_top) if bm25_top and dense_top else 0.0
    return Confidence(
        margin=margin,
        agreement=agreement,
        triggered=len(fired),
        triggered_kept=sum(1 for position in kept if position in fired),
        close=close,
    )


def corpus_key(units: Sequence[RuleUnit], embedder: Embedder) -> str:
    """The hash naming an index folder: everything the stored models are made of (each
    unit's id and search text, the embedder). Triggers are compiled when an index opens, so
    a change to them alone needs no new embeddings."""
    digest = hashlib.sha256(f"{INDEX_FORMAT}\n{embedder.name}\n".encode())
    for unit in units:
        digest.update(json.dumps([unit.id, unit.search_text]).encode())
        digest.update(b"\n")
    return digest.hexdigest()[:32]


def open_index(
    units: Sequence[RuleUnit],
    *,
    cache_dir: Path,
    embedder: Embedder,
    on_build: Callable[[int], None] | None = None,
) -> RuleIndex:
    """The index of ``units``, from ``cache_dir`` when it was built before, else built and
    stored there (the units are embedded once, in one batch; ``on_build`` hears the unit
    count first, since that takes a while)."""
    import numpy as np

    if not units:
        raise UserInputError("nothing to index: no guide section and no style rule")
    folder = cache_dir / f"rules-{corpus_key(units, embedder)}"
    if not _is_complete(folder, units):
        if on_build is not None:
            on_build(len(units))
        _build(units, embedder, cache_dir, folder)
    embeddings = np.load(folder / _EMBEDDINGS, allow_pickle=False)
    return RuleIndex(units, Bm25.load(folder / _BM25), embeddings, embedder, folder)


def _is_complete(folder: Path, units: Sequence[RuleUnit]) -> bool:
    try:
        manifest = json.loads((folder / _MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("units") == [unit.id for unit in units]


def _build(units: Sequence[RuleUnit], embedder: Embedder, cache_dir: Path, folder: Path) -> None:
    import numpy as np

    texts = [unit.search_text for unit in units]
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=".building-", dir=cache_dir))
    except OSError as error:
        raise UserInputError(f"cannot write the rule index in {cache_dir}: {error}") from None
    try:
        Bm25.build(texts).save(building / _BM25)
        np.save(building / _EMBEDDINGS, embedder.embed(texts).astype(np.float32))
        manifest = {
            "format": INDEX_FORMAT,
            "embedder": embedder.name,
            "units": [unit.id for unit in units],
        }
        (building / _MANIFEST).write_text(json.dumps(manifest), "utf-8")
        if folder.exists():
            shutil.rmtree(folder)  # an incomplete folder from an interrupted build
        os.replace(building, folder)
    except OSError as error:
        if not _is_complete(folder, units):  # else another process built it meanwhile
            raise UserInputError(f"cannot write the rule index in {cache_dir}: {error}") from None
    finally:
        shutil.rmtree(building, ignore_errors=True)
