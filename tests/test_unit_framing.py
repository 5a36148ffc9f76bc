from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from blockpass.rag import guide_units
from blockpass.sandbox.presence import carried_rules
from blockpass.unit_framing import UnitLabels, render_units


@dataclass(frozen=True)
class Unit:
    id: str
    title: str
    text: str


def guide(shared_data: Path, name: str) -> Path:
    return shared_data / "guides" / name


def test_every_red_hat_unit_is_labelled_by_its_anchor_alone(shared_data: Path) -> None:
    units = guide_units(guide(shared_data, "redhat-supplementary-style-guide"))
    labels = UnitLabels.of(units)
    assert [labels.label(unit.id) for unit in units] == [unit.anchor for unit in units]


def test_sections_that_share_an_anchor_are_told_apart_by_their_page(shared_data: Path) -> None:
    units = guide_units(guide(shared_data, "18f-content-guide"))
    labels = UnitLabels.of(units)
    named = [labels.label(unit.id) for unit in units]
    assert len(set(named)) == len(units)
    tables = [label for label in named if label.endswith("#tables")]
    assert len(tables) > 1
    assert all(label.count("/") <= 1 for label in tables)
    # A page's own unit (no anchor) is named by its file.
    assert "address-the-user.md" in named


def test_an_id_that_ends_another_keeps_its_whole_form() -> None:
    units = [Unit("x", "X", "x"), Unit("a/x", "X", "x"), Unit("b/y#x", "X", "x")]
    labels = UnitLabels.of(units)
    assert [labels.label(unit.id) for unit in units] == ["x", "a/x", "y#x"]


@given(
    st.lists(
        st.text(alphabet="ab/#", min_size=1, max_size=6).filter(
            lambda id: not id.endswith(("/", "#"))
        ),
        unique=True,
        max_size=12,
    )
)
def test_no_two_units_ever_share_a_label(ids: list[str]) -> None:
    labels = UnitLabels.of(Unit(unit_id, "", "") for unit_id in ids)
    named = [labels.label(unit_id) for unit_id in ids]
    assert len(set(named)) == len(ids)
    assert all(unit_id.endswith(label) for unit_id, label in zip(ids, named, strict=True))


def test_a_title_the_text_opens_with_is_not_said_twice_and_any_other_is_escaped() -> None:
    heading = Unit("g/a.adoc#tone", "Tone", "== Tone\nBe friendly.")
    plain = Unit("g/a.adoc#quotes", 'Say "hi"', "Greet people.")
    text = render_units([heading, plain], UnitLabels.of([heading, plain]))
    assert text == (
        '<rule id="tone">\n== Tone\nBe friendly.\n</rule>\n'
        '<rule id="quotes" title="Say &quot;hi&quot;">\nGreet people.\n</rule>'
    )


def test_the_red_hat_guide_rendering_is_pinned(shared_data: Path) -> None:
    """Every user's cached whole guide and every retrieved unit: change only on purpose."""
    units = guide_units(guide(shared_data, "redhat-supplementary-style-guide"))
    text = render_units(units, UnitLabels.of(units))
    assert '<rule id="bottleneck">\n==== yes bottleneck (noun)\n' in text
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert digest == PINNED_RED_HAT_SHA256


PINNED_RED_HAT_SHA256 = "41b016b5d9088fdb2615dfda09c3cb4c0704af2c02912694a08cf1d926ec0428"


def test_the_sandbox_reads_a_carried_section_from_its_label() -> None:
    prefix = 'Instructions.\n<style_guide name="g" part="core">\n\n</style_guide>\n'
    units = [Unit("g/a.adoc#_master_and_slave", "Master", "== Master\nNo.")]
    retrieved = (
        f"<retrieved_rules>\n{render_units(units, UnitLabels.of(units))}\n</retrieved_rules>"
    )
    carried = carried_rules(prefix + retrieved)
    assert carried is not None
    assert carried.anchors == {"_master_and_slave"}
