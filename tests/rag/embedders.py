"""A small embedder for fast tests: hashed bags of words, L2-normalised.

Texts sharing words get similar vectors, so the dense retriever's ranking means something,
and it counts what it embeds, so a test can tell a cached index from a rebuilt one. The real
model (all-MiniLM-L6-v2) has its own tests, marked slow.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

DIMENSIONS = 64


class HashingEmbedder:
    def __init__(self, name: str = "hashing-64") -> None:
        self.name = name
        self.embedded: list[str] = []
        self.batches = 0

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.embedded.extend(texts)
        self.batches += 1
        vectors = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                bucket = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big")
                vectors[row, bucket % DIMENSIONS] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)
