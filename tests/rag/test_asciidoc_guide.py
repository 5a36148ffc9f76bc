from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from blockpass.errors import UserInputError
from blockpass.rag import RuleUnit, UnitKind, guide_units


@pytest.fixture
def redhat_units(shared_data: Path) -> list[RuleUnit]:
    return guide_units(shared_data / "guides" / "redhat-supplementary-style-guide")


def test_red_hat_section_ids_are_the_ones_its_labels_use(
    redhat_units: list[RuleUnit], shared_data: Path
) -> None:
    """Every section with text of its own is a unit named as ``ssg_sections.tsv`` names it
    (explicit anchors and Asciidoctor's generated ids alike), and there is no other."""
    with (shared_data / "styles" / "RedHat" / "ssg_sections.tsv").open() as table:
        rows = list(csv.DictReader(table, delimiter="\t"))
    labelled = {(row["ssg_file"], row["ssg_anchor"]) for row in rows}
    ours = {(unit.source, unit.anchor) for unit in redhat_units}
    assert ours <= labelled
    only_headings = labelled - ours
    assert len(only_headings) < 50  # the letter sections A-Z, chapter headings
    assert ("main.adoc", "_a") in only_headings


def test_every_retrieval_label_of_the_red_hat_cases_is_a_unit(
    redhat_units: list[RuleUnit], shared_data: Path
) -> None:
    ours = {(unit.source, unit.anchor) for unit in redhat_units}
    lines = (shared_data / "styles" / "RedHat" / "retrieval_cases.jsonl").read_text().splitlines()
    labels = {(case["ssg_file"], case["ssg_anchor"]) for case in map(json.loads, lines)}
    assert labels <= ours


def test_glossary_entries_are_units_with_their_term_and_incorrect_forms_as_triggers(
    redhat_units: list[RuleUnit],
) -> None:
    by_anchor = {unit.anchor: unit for unit in redhat_units}
    amq = by_anchor["jboss-amq"]
    assert amq.kind is UnitKind.GLOSSARY_ENTRY
    assert amq.id == (
        "redhat-supplementary-style-guide/"
        "glossary_terms_conventions/general_conventions/a.adoc#jboss-amq"
    )
    assert amq.title == "AMQ (noun)"
    assert amq.level == 4
    assert amq.heading_path[-3:] == ("Glossary of terms and conventions", "Word usage", "A")
    assert amq.triggers.terms == ("AMQ", "A-MQ", "JBoss AMQ", "Red Hat A-MQ", "Red Hat AMQ")
    assert "{nbsp}" not in amq.text  # attributes resolved: Red Hat, not Red{nbsp}Hat
    # A symbol in the title's parentheses is another form of the term.
    assert by_anchor["_ampersand"].triggers.terms == ("ampersand", "&")
    assert by_anchor["contractions"].kind is UnitKind.GUIDE_SECTION
    assert not by_anchor["contractions"].triggers


def test_includes_resolve_relative_to_the_including_file_with_their_level_offset(
    tmp_path: Path,
) -> None:
    (tmp_path / "parts" / "deep").mkdir(parents=True)
    (tmp_path / "main.adoc").write_text(
        "= Book\n:product: Widget\n\n== Chapter\n\nAbout {product} and {undefined}.\n\n"
        "include::parts/part.adoc[leveloffset=+1]\n"
    )
    (tmp_path / "parts" / "part.adoc").write_text(
        '[id="part-one"]\n= Part\n\nPart text.\n\ninclude::deep/leaf.adoc[leveloffset=+1]\n'
    )
    (tmp_path / "parts" / "deep" / "leaf.adoc").write_text(
        "[[leaf]]\n= Leaf\n\nLeaf text.\n\n----\n= not a heading\n----\n\n"
        "// == a comment, not a heading\n\n=== Grandchild title\n\nMore.\n"
    )
    units = {unit.anchor: unit for unit in guide_units(tmp_path)}
    assert set(units) == {"_chapter", "part-one", "leaf", "_grandchild_title"}
    assert units["_chapter"].text.endswith("About Widget and {undefined}.")
    assert (units["part-one"].level, units["part-one"].source) == (1, "parts/part.adoc")
    assert (units["leaf"].level, units["leaf"].source) == (2, "parts/deep/leaf.adoc")
    assert units["_grandchild_title"].level == 4
    assert units["_grandchild_title"].heading_path == ("Book", "Part", "Leaf")
    assert "= not a heading" in units["leaf"].text
    assert "a comment" not in units["leaf"].text


def test_a_unit_reads_as_the_rendered_guide_does_without_roles_empty_labels_or_image_paths(
    tmp_path: Path,
) -> None:
    (tmp_path / "main.adoc").write_text(
        "= Glossary\n\n==== image:images/yes.png[yes] widget (noun)\n*Description*: A part.\n\n"
        "[.vale-ignore]\n*Incorrect forms*: wigdet, xref:gadget[gadget]\n\n\n*See also*:\n"
        "\n----\n[.role]\n*Label*:\nimage:kept.png[kept]\n----\n"
    )
    (unit,) = guide_units(tmp_path)
    assert unit.text == (
        "==== yes widget (noun)\n*Description*: A part.\n\n*Incorrect forms*: wigdet, gadget"
        "\n\n----\n[.role]\n*Label*:\nimage:kept.png[kept]\n----"
    )
    assert unit.triggers.terms == ("widget", "wigdet", "gadget")


def test_red_hat_terms_are_the_words_a_writer_types_without_marks_or_editorial_remarks(
    redhat_units: list[RuleUnit],
) -> None:
    terms = {unit.anchor: unit.triggers.terms for unit in redhat_units}
    assert terms["source-navigator"] == ("Source-Navigator", "Source Navigator")
    assert terms["intel-xeon"] == ("Intel Xeon",)
    assert terms["intel-coretm"] == ("Intel Core",)
    assert terms["fedramp"][0] == "FedRAMP"
    assert terms["systemd"][-1] == "Systemd"  # "(unless at the start of a sentence)."
    assert terms["x"] == ("X",)  # "X (when referring to XEmacs only)"
    assert terms["x86_64"] == ("x86_64", "x64", "x86-64", "x86")  # "..., or x86"
    assert terms["UltraSPARC"] == ("UltraSPARC", "ULTRASPARC", "UltraSparc")
    assert "and so on" not in terms["specific"]
    # A name's own parentheses stay; an abbreviation in them is another form.
    assert terms["ibm-cloud-bare-metal"] == ("IBM Cloud Bare Metal (Classic)", "IBM Cloud")
    assert terms["source-to-image"][:2] == ("Source-to-Image", "S2I")
    every_term = [term for found in terms.values() for term in found]
    assert not [term for term in every_term if re.search(r"[\^®™©]|\([a-z]|\(R\)", term)]


def test_a_glossary_terms_marks_remarks_and_list_words_are_not_part_of_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "main.adoc").write_text(
        "= Glossary\n\n==== Widget^TM^ Pro (WP) (noun)\n*Description*: A part.\n\n"
        "*Incorrect forms*: Widget(R) Pro, widget pro (without the mark), WidgetPro™, "
        "or Widgit, or any other variation\n"
    )
    (unit,) = guide_units(tmp_path)
    assert unit.triggers.terms == ("Widget Pro", "WP", "widget pro", "WidgetPro", "Widgit")


def test_red_hat_glossary_entries_carry_no_rendering_hints(redhat_units: list[RuleUnit]) -> None:
    entry = {unit.anchor: unit for unit in redhat_units}["bottleneck"]
    assert entry.text == (
        "==== yes bottleneck (noun)\n*Description*: A _bottleneck_ is a limitation in the "
        "capacity of software or hardware caused by a single component.\n\n*Use it*: yes\n\n"
        "*Incorrect forms*: bottle neck, bottle-neck"
    )
    assert not any("[.vale-ignore]" in unit.text for unit in redhat_units)


def test_a_repeated_title_gets_asciidoctors_numbered_id(tmp_path: Path) -> None:
    (tmp_path / "main.adoc").write_text(
        "= Book\n\n== Red{nbsp}Hat _examples_\n\nOne.\n\n== Red{nbsp}Hat _examples_\n\nTwo.\n"
    )
    assert [unit.anchor for unit in guide_units(tmp_path)] == [
        "_redhat_examples",
        "_redhat_examples_2",
    ]


def test_a_missing_include_target_is_the_guides_error_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "main.adoc").write_text("= Book\n\ninclude::gone.adoc[]\n")
    with pytest.raises(UserInputError, match=r"include target not found: gone\.adoc"):
        guide_units(tmp_path)


def test_an_include_cycle_is_refused_rather_than_followed_forever(tmp_path: Path) -> None:
    (tmp_path / "main.adoc").write_text("= Book\n\ninclude::main.adoc[]\n")
    with pytest.raises(UserInputError, match="nest deeper"):
        guide_units(tmp_path)


def test_a_folder_of_several_asciidoc_books_without_a_main_one_is_refused(tmp_path: Path) -> None:
    (tmp_path / "one.adoc").write_text("= One\n\nText.\n")
    (tmp_path / "two.adoc").write_text("= Two\n\nText.\n")
    with pytest.raises(UserInputError, match="no main document"):
        guide_units(tmp_path)


@pytest.mark.parametrize(
    ("target", "refusal"),
    [
        ("../secret.adoc", "include outside the guide folder"),
        ("/etc/passwd", "include outside the guide folder"),
        ("https://example.com/x.adoc", "include target not found"),
    ],
)
def test_an_include_outside_the_guide_folder_is_refused_and_nothing_is_fetched(
    tmp_path: Path, target: str, refusal: str
) -> None:
    guide = tmp_path / "guide"
    guide.mkdir()
    (tmp_path / "secret.adoc").write_text("= Secret\n\nkey = 42\n")
    (guide / "main.adoc").write_text(f"= Book\n\ninclude::{target}[]\n")
    with pytest.raises(UserInputError, match=refusal):
        guide_units(guide)


def test_a_binary_asciidoc_file_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "main.adoc").write_bytes(b"= Book\n\xff\xfe\x00")
    with pytest.raises(UserInputError, match="not valid UTF-8"):
        guide_units(tmp_path)
