"""Query embeddings kept on disk beside an index, by the hash of the query text.

A run retrieves for every block, an ``auto`` run prices retrieval before it runs, a widened
block is searched again, and the next run of the same documents asks the same questions:
embedding is most of a search's time, so a text is embedded once per embedder. The vectors
live beside the indexes, in a folder of the cache named by the embedder
(``queries_folder``): a query's vector does not depend on the corpus, so every index (an
edited guide's, another guide's) reads them. One shard per batch of new texts, each written
to a temporary file and renamed into place; many shards are merged into one. A cache that
cannot be written only costs time: a search never fails for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from blockpass.rag.retrievers import Embedder, Vectors

__all__ = ["QueryVectors", "queries_folder"]

# Past this many shards, the next store writes all known vectors as one.
MERGE_AT = 16
_SUFFIX = ".npz"
_UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


def queries_folder(cache_dir: Path, embedder: Embedder) -> Path:
    return cache_dir / f"queries-{hashlib.sha256(embedder.name.encode()).hexdigest()[:16]}"


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class QueryVectors:
    def __init__(self, folder: Path, embedder: Embedder) -> None:
        self.folder = folder
        self._embedder = embedder
        self._known: dict[str, Vectors] | None = None
        self._shards: list[Path] = []

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One row per text (at least one), as the embedder gives it; only unknown texts are
        embedded, in one batch."""
        import numpy as np

        known = self._loaded()
        keys = [text_key(text) for text in texts]
        new = {key: text for key, text in zip(keys, texts, strict=True) if key not in known}
        if new:
            vectors = self._embedder.embed(list(new.values())).astype(np.float32)
            fresh = dict(zip(new, vectors, strict=True))
            known.update(fresh)
            self._store(fresh)
        return np.stack([known[key] for key in keys])

    def _loaded(self) -> dict[str, Vectors]:
        import numpy as np

        if self._known is None:
            self._known = {}
            self._shards = sorted(self.folder.glob(f"*{_SUFFIX}"))
            for shard in self._shards:
                # A shard another process merged away meanwhile, or a broken one: skipped.
                with (
                    contextlib.suppress(*_UNREADABLE),
                    np.load(shard, allow_pickle=False) as data,
                ):
                    self._known.update(zip(data["keys"].tolist(), data["vectors"], strict=True))
        return self._known

    def _store(self, fresh: dict[str, Vectors]) -> None:
        merge = len(self._shards) + 1 >= MERGE_AT
        vectors = self._loaded() if merge else fresh
        with contextlib.suppress(OSError):
            written = self._write(vectors)
            if merge:
                for shard in self._shards:
                    with contextlib.suppress(OSError):
                        shard.unlink()
                self._shards = [written]
            else:
                self._shards.append(written)

    def _write(self, vectors: dict[str, Vectors]) -> Path:
        import numpy as np

        self.folder.mkdir(parents=True, exist_ok=True)
        keys = sorted(vectors)
        name = hashlib.sha256("".join(keys).encode()).hexdigest()[:24]
        handle, temporary = tempfile.mkstemp(prefix=".writing-", suffix=_SUFFIX, dir=self.folder)
        try:
            with os.fdopen(handle, "wb") as out:
                np.savez(out, keys=np.array(keys), vectors=np.stack([vectors[k] for k in keys]))
            target = self.folder / f"{name}{_SUFFIX}"
            os.replace(temporary, target)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        return target
