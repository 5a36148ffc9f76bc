"""The deterministic responder: a stand-in model whose answers can be checked.

Given a request that carries a pack of blocks (``blockpass.packformat``), it returns one
result per block by applying deterministic rules, typically the existence and substitution
rules of a Vale package: a substitution match becomes an ``edit``, an existence match a
``flag`` note, and a block with no match is ``ok``. With no rules every block is ``ok``.
A substitution the pack already proposes (``blockpass.proposals``: same rule, its words
within the proposal's) is accepted by the proposal's number instead, as the request's
format says (``+N``, or ``accept`` in a full item whose schema has it).

For a schema that is not blockpass's result schema it returns the smallest instance that
satisfies the schema, and without blocks or schema a short plain-text reply, so that any
well-formed request gets a well-formed answer.

Offered a lookup tool (one named in ``ToolUse.lookup_tools``, or one whose description says
it returns rules), it first calls that tool, one call per block with the block's text as the
argument, as a model that checks the style guide before judging would; once the conversation
holds ``ToolUse.rounds`` assistant turns of such calls, it answers as it does without tools.
Each vendor's engine writes the calls in its own wire shape (``tool_use`` blocks,
``tool_calls``, ``function_call`` items); the tool results do not change the verdicts.

Output faults (``faults.py``) damage the answer here; truncation at ``max_tokens`` belongs to
the vendor adapter because it counts tokens in the vendor's way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from blockpass.errors import UserInputError
from blockpass.packformat import PackedBlock, parse_pack
from blockpass.proposals import ACCEPT_MARK, one_line
from blockpass.rules import Rule, check_text
from blockpass.rules.alerts import Alert
from blockpass.sandbox.errors import invalid_request
from blockpass.sandbox.faults import NO_FAULTS, RequestFaults
from blockpass.sandbox.presence import CarriedRules, RuleLinks
from blockpass.sandbox.quality import UNSURE_NOTE, Judgement, QualityModel, rule_difficulty
from blockpass.verdicts import (
    EDIT_MARK,
    NOTE_MARK,
    RuleCodes,
    grouped_findings,
    is_compact_schema,
)

PLAIN_REPLY = "This is the blockpass sandbox. It answers packs of blocks; none were found."
Verdict = dict[str, Any]
DEFAULT_LOOKUP_TOOLS = ("search_style_rules",)
# A model asks for a handful of lookups at once, not one per block of a long pack.
MAX_CALLS_PER_TURN = 4
# One existence finding (1.5) or a harder one moves a block up a tier; one word choice does not.
TIER_STEP = 1.5
_ABOUT_RULES = re.compile(r"\brules?\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferedTool:
    name: str
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class LookupCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolUse:
    """How the responder uses tools: which it looks rules up with, and for how many turns
    (a large number plays a model that never stops asking)."""

    lookup_tools: tuple[str, ...] = DEFAULT_LOOKUP_TOOLS
    rounds: int = 1

    def calls(
        self, tools: Sequence[OfferedTool], blocks: Sequence[PackedBlock], *, rounds_done: int
    ) -> list[LookupCall]:
        """The calls to make now: none once ``rounds`` turns of calls are in the conversation,
        or when no lookup tool is offered or there is nothing to look up."""
        # A tool named for lookups first, else one whose description is about rules.
        lookup = next((tool for tool in tools if tool.name in self.lookup_tools), None) or next(
            (tool for tool in tools if _ABOUT_RULES.search(tool.description)), None
        )
        if lookup is None or rounds_done >= self.rounds or not blocks:
            return []
        return [
            LookupCall(name=lookup.name, arguments=_arguments(lookup.schema, block.text))
            for block in blocks[:MAX_CALLS_PER_TURN]
        ]


def _arguments(schema: dict[str, Any], text: str) -> dict[str, Any]:
    """Arguments that fit the tool's schema: the text in its first string property (a
    required one first), the smallest valid value in every other required one."""
    properties = schema.get("properties") or {}
    required = [name for name in schema.get("required", []) if name in properties]
    strings = [name for name, spec in properties.items() if _is_string(spec)]
    target = next((name for name in required if name in strings), strings[0] if strings else None)
    arguments = {name: minimal_instance(properties[name]) for name in required}
    if target is not None:
        arguments[target] = text
    return arguments


def _is_string(spec: object) -> bool:
    if not isinstance(spec, dict):
        return False
    kind = spec.get("type")
    return kind == "string" or (isinstance(kind, list) and "string" in kind)


class Responder:
    """``links``: where each rule sits in the guide, for requests that carry only some of
    it (``presence.py``): a rule is applied only when the request carries it. ``tool_use``:
    how it looks rules up when offered a tool."""

    def __init__(
        self,
        rules: Sequence[Rule] = (),
        links: RuleLinks | None = None,
        tool_use: ToolUse | None = None,
        quality: QualityModel | None = None,
    ) -> None:
        self.tool_use = tool_use or ToolUse()
        self._quality = quality or QualityModel()
        self._rule_types = {rule.id: rule.extends for rule in rules}
        # Heading-scoped rules judge headings only, and the rest judge everything else.
        self._heading_rules = tuple(rule for rule in rules if _heading_scoped(rule))
        self._body_rules = tuple(rule for rule in rules if not _heading_scoped(rule))
        self._links = links or RuleLinks()
        # Real runs send the same blocks again (retries, re-packs); the alerts are pure.
        self._alerts = lru_cache(maxsize=65536)(self._compute_alerts)

    def blocks_in(self, user_text: str) -> list[PackedBlock]:
        return parse_pack(user_text)

    def reply(
        self,
        blocks: list[PackedBlock],
        schema: dict[str, Any] | None,
        faults: RequestFaults = NO_FAULTS,
        *,
        carried: CarriedRules | None = None,
        model: str = "",
        codes: RuleCodes | None = None,
    ) -> str:
        """The answer as JSON text (or plain text when nothing structured was asked);
        ``carried``: the rules the request carries, None for all; ``model``: the model
        asked, whose findings the quality model thins (``quality.py``); ``codes``: the rule
        codes the request defines, cited when the schema asks for compact verdicts."""
        if schema is not None and _is_tier_schema(schema):
            labels = list(schema["properties"])
            listed: dict[str, list[str]] = {name: [] for name in labels}
            for index, (block, tier) in enumerate(
                zip(blocks, self._tiers(blocks, model), strict=True)
            ):
                if index not in faults.dropped:
                    listed[labels[min(tier, len(labels) - 1)]].append(block.id)
            return _dumps(listed)
        if schema is not None and not _is_result_schema(schema):
            return _dumps(minimal_instance(schema))
        if not blocks:
            return _dumps(minimal_instance(schema)) if schema is not None else PLAIN_REPLY
        accepting = is_compact_schema(schema) or _accepts_proposals(schema)
        found = [
            (
                block.id,
                self._findings(
                    block.text, block.kind == "heading", carried, model, index
                ).answering(block.proposals if accepting else ()),
            )
            for index, block in enumerate(blocks)
            if index not in faults.dropped
        ]
        legend: dict[str, list[str]] = {}
        if is_compact_schema(schema):
            # Rules the request has no code for get a letter in the answer's legend.
            named = (codes or RuleCodes({}, {})).with_legend(
                [rule for _, findings in found for rule in findings.rules]
            )
            legend["rules"] = named.legend
            results: list[Any] = [[id_, *findings.compact(named)] for id_, findings in found]
        else:
            accept = _accepts_proposals(schema)
            results = [{"id": id_, **findings.full(accept=accept)} for id_, findings in found]
        if faults.duplicate_ids and results:
            results.append(results[0])
        if faults.invent_ids:
            invented = f"b{len(blocks) + 7}"
            results.append([invented] if legend else {"id": invented, "verdict": "ok"})
        if faults.reorder_ids:
            results.reverse()
        text = _dumps({**legend, "results": results})
        if faults.malformed_json:
            # Drop the comma between the first two results and the final brace.
            text = text.replace("},{", "}{", 1).replace("],[", "][", 1)[:-1]
        return text

    def _tiers(self, blocks: list[PackedBlock], model: str) -> list[int]:
        """A classify pass's answer, as a cheap model would give it: the findings it sees
        (thinned by the quality model as its answers are), weighted by how hard their rules
        are, move a block up a tier (0 the weakest) per ``TIER_STEP``."""
        answer = []
        for index, block in enumerate(blocks):
            weight = 0.0
            for alert in self._alerts(block.text, block.kind == "heading"):
                rule_type = self._rule_types.get(alert.rule_id, "")
                judgement = self._quality.judge(
                    model=model, rule_id=alert.rule_id, rule_type=rule_type,
                    match=alert.match, text=block.text, position=index,
                )  # fmt: skip
                if judgement is not Judgement.MISSED:
                    weight += rule_difficulty(rule_type)
            answer.append(int(weight // TIER_STEP))
        return answer

    def _compute_alerts(self, text: str, heading: bool) -> tuple[Alert, ...]:
        try:
            return tuple(check_text(text, self._heading_rules if heading else self._body_rules))
        except UserInputError as error:
            # A rule that cannot be run (a pattern that never ends) fails the request, as a
            # model refusing it would, never the server.
            raise invalid_request(str(error)) from None

    def _findings(
        self, text: str, heading: bool, carried: CarriedRules | None, model: str, position: int
    ) -> Findings:
        """What the block breaks, as the quality model lets ``model`` see it."""
        found = Findings()
        taken_until = -1
        alerts = [
            alert
            for alert in self._alerts(text, heading)
            if carried is None or carried.carries(alert.rule_id, alert.match, self._links)
        ]
        for alert in alerts:
            judgement = self._quality.judge(
                model=model,
                rule_id=alert.rule_id,
                rule_type=self._rule_types.get(alert.rule_id, ""),
                match=alert.match,
                text=text,
                position=position,
            )
            if judgement is Judgement.UNSURE:
                found.notes.append(f"{UNSURE_NOTE} {alert.rule_id}")
            if judgement is not Judgement.KEPT:
                continue
            if alert.replacements and alert.start >= taken_until:
                found.edits.append(alert)
                taken_until = alert.end
            elif not alert.replacements:
                found.notes.append(alert)
        return found


@dataclass(frozen=True, slots=True)
class Findings:
    """One block's findings, in the order a model writes them: edits, and notes (an alert,
    or an ``unsure:`` note in words)."""

    edits: list[Alert] = field(default_factory=list)
    notes: list[Alert | str] = field(default_factory=list)
    # Numbers of the pack's proposals for the block that its edits agree with.
    accepted: list[int] = field(default_factory=list)

    def answering(self, proposals: Sequence[str]) -> Findings:
        """These findings with every edit the block's proposals (``N find => replace
        (Rule)`` lines) already make accepted by number instead: a proposal of the same
        rule whose words hold the edit's match, each proposal for one edit."""
        offered = [_PROPOSAL.fullmatch(line) for line in proposals]
        edits: list[Alert] = []
        accepted: list[int] = []
        for alert in self.edits:
            match = next(
                (
                    line
                    for line in offered
                    if line is not None
                    and int(line["number"]) not in accepted
                    and line["rule"] == alert.rule_id
                    and one_line(alert.match.strip()) in line["find"]
                ),
                None,
            )
            if match is None:
                edits.append(alert)
            else:
                accepted.append(int(match["number"]))
        return Findings(edits=edits, notes=self.notes, accepted=accepted)

    @property
    def flagged(self) -> list[Alert]:
        return [note for note in self.notes if isinstance(note, Alert)]

    @property
    def rules(self) -> list[str]:
        return [alert.rule_id for alert in (*self.edits, *self.flagged)]

    def full(self, *, accept: bool = False) -> Verdict:
        """The verdict with edits and notes written out (``packformat.result_schema``;
        ``accept``: its edit items list the proposals they accept)."""
        notes = [
            note if isinstance(note, str) else f"{note.rule_id}: {note.message}"
            for note in self.notes
        ]
        if self.edits or self.accepted:
            edits = [
                {"find": alert.match, "replace": alert.replacements[0], "rule": alert.rule_id}
                for alert in self.edits
            ]
            accepted = {"accept": self.accepted} if accept else {}
            return {"verdict": "edit", "edits": edits, "notes": notes, **accepted}
        if notes:
            return {"verdict": "flag", "notes": notes}
        return {"verdict": "ok"}

    def compact(self, codes: RuleCodes) -> list[str]:
        """The findings citing ``codes`` (``verdicts.COMPACT_SCHEMA``)."""
        findings = [f"{ACCEPT_MARK}{number}" for number in self.accepted]
        findings += [
            f"{codes.code_for(alert.rule_id)} {alert.match}{EDIT_MARK}{alert.replacements[0]}"
            for alert in self.edits
        ]
        findings += grouped_findings(
            [(codes.code_for(alert.rule_id), alert.match) for alert in self.flagged]
        )
        return findings + [f"{NOTE_MARK} {note}" for note in self.notes if isinstance(note, str)]


def _heading_scoped(rule: Rule) -> bool:
    return all(scope.startswith("heading") for scope in rule.scope)


_PROPOSAL = re.compile(r"(?P<number>[0-9]+) (?P<find>.*?) => .* \((?P<rule>[^()]*)\)")


def _accepts_proposals(schema: dict[str, Any] | None) -> bool:
    """Whether a full-format schema's edit items list accepted proposals."""
    try:
        variants = schema["properties"]["results"]["items"]["anyOf"]  # type: ignore[index]
    except (KeyError, TypeError):
        return False
    return any("accept" in variant.get("properties", {}) for variant in variants)


def _is_tier_schema(schema: dict[str, Any]) -> bool:
    """The classify pass's schema (``routing/classify.py``): a list of block ids under each
    tier label (``t1``, ``t2``, ...)."""
    properties = schema.get("properties")
    return (
        isinstance(properties, dict)
        and bool(properties)
        and all(
            re.fullmatch(r"t\d+", name) and isinstance(value, dict) and value.get("type") == "array"
            for name, value in properties.items()
        )
    )


def _is_result_schema(schema: dict[str, Any]) -> bool:
    """blockpass's result schema, in either verdict format."""
    properties = schema.get("properties")
    return isinstance(properties, dict) and "results" in properties


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def minimal_instance(schema: object) -> object:
    """The smallest value that satisfies a structured-output schema."""
    if not isinstance(schema, dict):
        return None
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for union in ("anyOf", "oneOf"):
        if union in schema:
            return minimal_instance(schema[union][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: minimal_instance(properties.get(name)) for name in schema.get("required", [])}
    if kind == "array":
        return [minimal_instance(schema.get("items"))] if schema.get("minItems") == 1 else []
    return {"string": "", "integer": 0, "number": 0, "boolean": False}.get(str(kind))
