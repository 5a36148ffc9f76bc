from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blockpass.rag import open_index, query_cache
from blockpass.rag.query_cache import QueryVectors

from .embedders import HashingEmbedder
from .test_index import UNITS


def test_a_text_searched_again_is_not_embedded_again_even_by_a_later_process(
    tmp_path: Path,
) -> None:
    first = HashingEmbedder()
    index = open_index(UNITS, cache_dir=tmp_path, embedder=first)
    found = index.search_many(["dates like January 5", "click here"], k=2)
    assert index.search("click here", k=2) == found[1]
    assert first.embedded[len(UNITS) :] == ["dates like January 5", "click here"]
    later = HashingEmbedder()
    reopened = open_index(UNITS, cache_dir=tmp_path, embedder=later)
    assert reopened.search_many(["click here", "headings"], k=2)[0] == found[1]
    assert later.embedded == ["headings"]


def test_vectors_come_back_in_the_order_asked_with_repeats(tmp_path: Path) -> None:
    embedder = HashingEmbedder()
    vectors = QueryVectors(tmp_path / "queries", embedder)
    texts = ["alpha beta", "gamma", "alpha beta"]
    got = vectors.embed(texts)
    assert np.array_equal(got, embedder.embed(texts))
    assert embedder.batches == 2  # the check above embedded once more, the cache once


def test_many_shards_are_merged_into_one_that_a_new_reader_loads_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(query_cache, "MERGE_AT", 3)
    folder = tmp_path / "queries"
    writer = QueryVectors(folder, HashingEmbedder())
    for text in ("one", "two", "three", "four"):
        writer.embed([text])
    assert len(list(folder.glob("*.npz"))) == 2  # three merged into one, then a new one
    reader_embedder = HashingEmbedder()
    reader = QueryVectors(folder, reader_embedder)
    reader.embed(["one", "two", "three", "four"])
    assert reader_embedder.embedded == []


def test_a_cache_that_cannot_be_written_only_costs_time(tmp_path: Path) -> None:
    blocked = tmp_path / "queries"
    blocked.write_text("a file where the folder should be")
    embedder = HashingEmbedder()
    vectors = QueryVectors(blocked, embedder)
    assert vectors.embed(["gamma"]).shape == (1, 64)
    assert vectors.embed(["gamma"]).shape == (1, 64)
    assert embedder.embedded == ["gamma"]  # kept in memory for this process


@pytest.mark.parametrize("content", [b"not a shard", b"PK\x03\x04torn", b""])
def test_a_broken_shard_is_skipped_and_its_texts_embedded_again(
    tmp_path: Path, content: bytes
) -> None:
    folder = tmp_path / "queries"
    QueryVectors(folder, HashingEmbedder()).embed(["kept"])
    (folder / "broken.npz").write_bytes(content)
    embedder = HashingEmbedder()
    QueryVectors(folder, embedder).embed(["kept", "new"])
    assert embedder.embedded == ["new"]


def test_another_corpus_with_the_same_embedder_reads_the_same_query_vectors(
    tmp_path: Path,
) -> None:
    open_index(UNITS, cache_dir=tmp_path, embedder=HashingEmbedder()).search("click here")
    embedder = HashingEmbedder()
    edited = open_index(UNITS[:3], cache_dir=tmp_path, embedder=embedder)
    edited.search("click here")
    assert embedder.embedded == [unit.search_text for unit in UNITS[:3]]
    other = HashingEmbedder(name="another model")
    open_index(UNITS, cache_dir=tmp_path, embedder=other).search("click here")
    assert other.embedded[-1] == "click here"
