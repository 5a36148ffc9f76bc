"""A responder that applies only the rules a request carries, so a retrieval miss costs
findings; requests that carry the whole guide get every rule, as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blockpass.packformat import PackedBlock
from blockpass.rules.vale import load_vale_package
from blockpass.sandbox import SandboxConfig
from blockpass.sandbox.presence import RuleLinks, carried_rules
from blockpass.sandbox.responder import Responder
from tests.sandbox.support import StartSandbox, cached_system, pack, user

GUIDE = "redhat-supplementary-style-guide"
TEXT = "The master node is alright, but you can't see it."


def redhat(shared_data: Path) -> Path:
    return shared_data / "styles" / "RedHat" / "RedHat"


def core(units: str = "") -> str:
    return f'Instructions.\n<style_guide name="{GUIDE}" part="core">\n\n</style_guide>\n{units}'


def retrieved(*unit_ids: str) -> str:
    rules = "\n".join(f'<rule id="{unit}" title="t">\ntext\n</rule>' for unit in unit_ids)
    return f"<retrieved_rules>\n{rules}\n</retrieved_rules>"


def rules_applied(responder: Responder, instructions: str) -> set[str]:
    answer = json.loads(
        responder.reply(
            [PackedBlock(id="b1", kind="paragraph", text=TEXT)],
            {"type": "object", "properties": {"results": {}}},
            carried=carried_rules(instructions),
        )
    )
    (result,) = answer["results"]
    found = [edit["rule"] for edit in result.get("edits", [])]
    found += [note.split(":")[0] for note in result.get("notes", [])]
    return set(found)


@pytest.fixture
def responder(shared_data: Path) -> Responder:
    package = redhat(shared_data)
    return Responder(load_vale_package(package).rules, RuleLinks.beside(package))


def test_a_request_with_the_whole_guide_or_no_retrieval_gets_every_rule(
    responder: Responder,
) -> None:
    everything = rules_applied(responder, "Instructions, no guide at all.")
    assert {"RedHat.ConsciousLanguage", "RedHat.Contractions", "RedHat.TermsErrors"} <= everything
    whole = f'<style_guide name="{GUIDE}">\nthe whole guide\n</style_guide>'
    assert rules_applied(responder, core(whole)) == everything


def test_a_retrieve_request_gets_only_the_rules_its_units_carry(responder: Responder) -> None:
    assert rules_applied(responder, core(retrieved())) == set()
    # "master" is defined in a subsection: the section above it does not carry the rule.
    section = f"{GUIDE}/style_guidelines/grammar.adoc#conscious-language"
    assert rules_applied(responder, core(retrieved(section))) == set()
    subsection = f"{GUIDE}/style_guidelines/grammar.adoc#_master_and_slave"
    assert rules_applied(responder, core(retrieved(subsection))) == {"RedHat.ConsciousLanguage"}
    # A Vale rule's own unit carries it, whatever the guide says.
    assert rules_applied(responder, core(retrieved("RedHat.Contractions"))) == {
        "RedHat.Contractions"
    }


def test_a_term_rule_is_carried_by_the_glossary_entry_of_that_term_only(
    responder: Responder,
) -> None:
    entry = f"{GUIDE}/glossary_terms_conventions/general_conventions/a.adoc#alright"
    other = f"{GUIDE}/glossary_terms_conventions/general_conventions/a.adoc#air-gap"
    assert "RedHat.TermsErrors" in rules_applied(responder, core(retrieved(entry)))
    assert "RedHat.TermsErrors" not in rules_applied(responder, core(retrieved(other)))


def test_rules_without_label_files_are_carried_only_by_their_own_units(shared_data: Path) -> None:
    package = shared_data / "styles" / "Google" / "Google"
    links = RuleLinks.beside(package)
    assert links == RuleLinks()
    responder = Responder(load_vale_package(package).rules, links)
    text = core(retrieved("Google.Contractions", "some-guide/page.md#plain-language"))
    assert rules_applied(responder, text) <= {"Google.Contractions"}


@pytest.mark.anyio
async def test_the_served_sandbox_answers_a_retrieve_request_with_the_carried_rules_only(
    start_sandbox: StartSandbox, shared_data: Path
) -> None:
    running = start_sandbox(SandboxConfig(rules=redhat(shared_data)))
    client = running.client()
    section = f"{GUIDE}/style_guidelines/grammar.adoc#_master_and_slave"
    message = await client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=1_000,
        system=[*cached_system(core()), {"type": "text", "text": retrieved(section)}],
        messages=user(pack(TEXT)),
    )
    text = message.content[0].text  # type: ignore[union-attr]
    assert "RedHat.ConsciousLanguage" in text
    assert "RedHat.Contractions" not in text
