from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from blockpass.errors import UserInputError
from blockpass.rag import Retriever, RuleUnit, Triggers, UnitKind, guide_units, open_index
from blockpass.rag.index import CLOSE_SIMILARITY, RRF_K

from .embedders import HashingEmbedder


def section(anchor: str, text: str, terms: tuple[str, ...] = ()) -> RuleUnit:
    return RuleUnit(
        id=f"guide/g.md#{anchor}", kind=UnitKind.GUIDE_SECTION, title=anchor, text=text,
        source="g.md", anchor=anchor, triggers=Triggers(terms=terms),
    )  # fmt: skip


UNITS = [
    section("numbers", "Spell out numbers from one to nine; use numerals for 10 and above."),
    section("dates", "Write dates as month day, year: January 5, 2024."),
    section("broker", "Call it the AMQ broker.", terms=("A-MQ",)),
    section("headings", "Headings use sentence case, no period at the end."),
    section("links", "Link text says where the link goes; never click here."),
]


def test_a_fired_trigger_ranks_first_then_the_fusion_of_bm25_and_dense(tmp_path: Path) -> None:
    index = open_index(UNITS, cache_dir=tmp_path, embedder=HashingEmbedder())
    found = index.search("Use A-MQ for dates like January 5, 2024.", k=3)
    assert [hit.unit.anchor for hit in found.hits[:2]] == ["broker", "dates"]
    first, second = found.hits[:2]
    assert first.triggered
    assert not second.triggered
    assert first.score > 1.0 > second.score
    assert second.bm25_rank == 1
    assert second.score == pytest.approx(1 / (RRF_K + 1) + 1 / (RRF_K + second.dense_rank))
    assert found.confidence.triggered == found.confidence.triggered_kept == 1


def test_each_single_retriever_ranks_by_its_own_evidence_only(tmp_path: Path) -> None:
    index = open_index(UNITS, cache_dir=tmp_path, embedder=HashingEmbedder())
    text = "click here for the link text of headings"
    assert [hit.unit.anchor for hit in index.search(text, 5, Retriever.TRIGGERS).hits] == []
    bm25 = index.search(text, 5, Retriever.BM25).hits
    assert bm25[0].unit.anchor == "links"
    assert {hit.unit.anchor for hit in bm25} == {"links", "headings"}  # only units sharing words
    dense = index.search(text, 5, Retriever.DENSE).hits
    assert len(dense) == 5
    assert all(hit.bm25_rank is None for hit in dense)


def test_search_many_embeds_the_texts_in_one_batch_and_equals_search(tmp_path: Path) -> None:
    embedder = HashingEmbedder()
    index = open_index(UNITS, cache_dir=tmp_path, embedder=embedder)
    texts = ["numbers like 7", "sentence case headings", "A-MQ"]
    embedder.batches = 0
    together = index.search_many(texts, k=2)
    assert embedder.batches == 1
    assert together == [index.search(text, k=2) for text in texts]


def test_a_second_open_loads_the_stored_index_and_embeds_nothing(tmp_path: Path) -> None:
    first = HashingEmbedder()
    built = open_index(UNITS, cache_dir=tmp_path, embedder=first)
    assert len(first.embedded) == len(UNITS)
    second = HashingEmbedder()
    loaded = open_index(UNITS, cache_dir=tmp_path, embedder=second, on_build=pytest.fail)
    assert second.embedded == []
    assert loaded.path == built.path
    assert loaded.search("dates", 3) == built.search("dates", 3)


def test_a_changed_corpus_or_another_embedder_builds_a_new_index(tmp_path: Path) -> None:
    open_index(UNITS, cache_dir=tmp_path, embedder=HashingEmbedder())
    edited = [*UNITS[:-1], replace(UNITS[-1], text="Link text is descriptive.")]
    embedder = HashingEmbedder()
    built: list[int] = []
    open_index(edited, cache_dir=tmp_path, embedder=embedder, on_build=built.append)
    assert built == [len(UNITS)]
    other = HashingEmbedder(name="another model")
    open_index(UNITS, cache_dir=tmp_path, embedder=other)
    assert len(other.embedded) == len(UNITS)
    # A trigger change alone needs no new embeddings: triggers are compiled at open.
    retriggered = [replace(UNITS[0], triggers=Triggers(terms=("nine",))), *UNITS[1:]]
    again = HashingEmbedder()
    index = open_index(retriggered, cache_dir=tmp_path, embedder=again)
    assert again.embedded == []
    assert index.search("nine", 1).hits[0].triggered


def test_an_interrupted_build_left_in_the_cache_is_built_again(tmp_path: Path) -> None:
    index = open_index(UNITS, cache_dir=tmp_path, embedder=HashingEmbedder())
    (index.path / "manifest.json").write_text("{trunc")
    embedder = HashingEmbedder()
    open_index(UNITS, cache_dir=tmp_path, embedder=embedder)
    assert len(embedder.embedded) == len(UNITS)
    assert [path.name for path in tmp_path.iterdir()] == [index.path.name]  # no leftovers


def test_k_larger_than_the_corpus_returns_every_ranked_unit_and_k_below_one_is_refused(
    tmp_path: Path,
) -> None:
    index = open_index(UNITS, cache_dir=tmp_path, embedder=HashingEmbedder())
    assert len(index.search("dates", 10**9).hits) == len(UNITS)
    with pytest.raises(ValueError, match="at least 1"):
        index.search("dates", 0)
    assert index.search_many([], 3) == []


def test_confidence_reports_a_clear_cut_and_agreement_between_retrievers(tmp_path: Path) -> None:
    index = open_index(UNITS, cache_dir=tmp_path, embedder=HashingEmbedder())
    clear = index.search("Spell out numbers from one to nine", 1).confidence
    assert 0 < clear.margin <= 1
    assert clear.agreement == 1.0
    assert clear.triggered == 0


def test_confidence_counts_the_units_close_to_a_text_in_meaning(tmp_path: Path) -> None:
    index = open_index(UNITS, cache_dir=tmp_path, embedder=HashingEmbedder())
    headings = index.search(UNITS[3].text, len(UNITS))
    similar = [hit for hit in headings.hits if hit.dense_score >= CLOSE_SIMILARITY]
    assert UNITS[3] in [hit.unit for hit in similar]
    assert index.search(UNITS[3].text, 1).confidence.close == len(similar)
    assert index.search("Ferris the crab borrows a mutable reference", 1).confidence.close == 0
    # Only dense retrieval measures meaning: the lexical retrievers alone count nothing.
    assert index.search(UNITS[3].text, 1, Retriever.BM25).confidence.close == 0


def test_nothing_to_index_and_an_unwritable_cache_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="nothing to index"):
        open_index([], cache_dir=tmp_path, embedder=HashingEmbedder())
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserInputError, match="cannot write the rule index"):
        open_index(UNITS, cache_dir=blocker / "cache", embedder=HashingEmbedder())


def test_a_read_only_cache_folder_is_a_one_line_error() -> None:
    # /proc takes no new folder from anyone, root included (CI runs as root).
    with pytest.raises(UserInputError, match="cannot write the rule index"):
        open_index(UNITS, cache_dir=Path("/proc/blockpass-cache"), embedder=HashingEmbedder())


def test_the_red_hat_guide_finds_a_glossary_entry_by_an_incorrect_form(
    shared_data: Path, tmp_path: Path
) -> None:
    units = guide_units(shared_data / "guides" / "redhat-supplementary-style-guide")
    index = open_index(units, cache_dir=tmp_path, embedder=HashingEmbedder())
    found = index.search("Configure the A-MQ Broker first.", 3)
    assert found.hits[0].unit.anchor == "amq-broker"
    assert found.hits[0].triggered
    bm25 = index.search("Avoid contractions in product documentation", 1, Retriever.BM25)
    assert bm25.hits[0].unit.anchor == "contractions"


VOICE = [
    section(
        "voice", "Prefer the active voice; use the passive voice only when the actor is unknown."
    ),
    section("files", "Name files in lower case. A file is deleted with rm."),
    section("broker", "Call it the AMQ broker.", terms=("A-MQ",)),
]


def test_a_passive_block_gets_the_section_that_names_the_passive_voice_as_certain(
    tmp_path: Path,
) -> None:
    index = open_index(VOICE, cache_dir=tmp_path, embedder=HashingEmbedder())
    found = index.search("The file was deleted by the cleanup script.", k=1)
    assert [(hit.unit.anchor, hit.triggered) for hit in found.hits] == [("voice", True)]
    assert found.confidence.triggered == 1
    assert not any(hit.triggered for hit in index.search("Delete the file.", k=3).hits)


def test_a_guide_that_never_names_the_construction_has_no_cue_unit(tmp_path: Path) -> None:
    index = open_index(UNITS, cache_dir=tmp_path, embedder=HashingEmbedder())
    found = index.search("The dates were written by hand.", k=5)
    assert not any(hit.triggered for hit in found.hits)
