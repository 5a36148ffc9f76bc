"""The compact verdict format: findings as short strings that cite rules by code.

Output costs five times input, and in the full format (``packformat.RESULT_SCHEMA``) most of
an answer is JSON keys, verdict words, rule names and messages the prompt already holds. The
compact format keeps one item per block id (never "list the ids that need changes") and says
the same findings in a fraction of the tokens::

    {"rules": ["a Google.We"],
     "results": [["b1"],
                 ["b2", "a we | our", "7 utilize => use"],
                 ["b3", "- unsure: Google.Passive"]]}

- Each item is a list of strings: the block's id, then its findings. An item with only its
  id is ``ok``.
- A finding is a rule's code from the prompt's ``<rule_codes>`` table, then the exact words
  of the block it is about; ``FIND => REPLACE`` in place of the words makes it an edit. A
  rule the table lacks gets a letter in the answer's ``rules`` legend, written before the
  results (so a truncated answer keeps it), once per answer instead of its name in every
  finding.
- Findings of one rule in a block share one string, their words separated by `` | ``
  (``QUOTE_SEPARATOR``): the code is written once, as the table writes a rule's name once.
  Expanding reads the separated words back as one note each; words that hold the separator
  themselves are kept whole where they occur in the block as written (``_quotes``). Edits
  are one per string (their ``FIND => REPLACE`` is split on its own).
- A finding whose code is ``-`` is a note in words, for what a code and a quote cannot say
  (the instructions bound them: at most two short ones).
- ``+N`` accepts the rule engine's proposal N for the block (``proposals.py``).

The table is written once in the cached prefix (``RuleCodes.table``): codes are numbers,
one or two tokens each, for the guide's section headings and the style rules the prompt
carries (``task.prompt_references``). Blockpass expands every finding back into the full
format's edit or note (``expand_item``), so results, ``results.jsonl`` and everything after
parsing see the same shape in both formats: a note on a rule whose message the prompt holds
reads exactly as the rule engine writes it (``Rule.ID: message``); a note on any other rule
reads ``Rule: "quoted words"``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

from blockpass.blocks import BlockResult, Verdict
from blockpass.packformat import PACK_PREAMBLE, closed_object
from blockpass.proposals import ACCEPT_MARK, RULE_SOURCE
from blockpass.rules.alerts import format_message

__all__ = [
    "COMPACT_INSTRUCTIONS",
    "COMPACT_SCHEMA",
    "EDIT_MARK",
    "NOTE_MARK",
    "OUTPUT_SCALE",
    "QUOTE_SEPARATOR",
    "RuleCodes",
    "VerdictFormat",
    "compact_id",
    "compact_item",
    "expand_item",
    "full_item",
    "grouped_findings",
    "is_compact_schema",
]

EDIT_MARK = " => "
# Output per block against the full format, before any answer is seen (a third on the
# rust-book with the sandbox; a real model's notes in words make it more).
OUTPUT_SCALE = {"full": 1.0, "compact": 0.5}
NOTE_MARK = "-"
# Between the words of several findings of one rule in one string: one token, and a space
# on each side, so that the words on either side read as they are in the block.
QUOTE_SEPARATOR = " | "
# The most separated parts one quote is tried as (words that hold the separator themselves
# are rare, and an answer is bounded only by max_tokens).
_MOST_PARTS_PER_QUOTE = 4
_GUIDE_REFERENCE = "guide: "
_RULE_REFERENCE = "rule: "


class VerdictFormat(StrEnum):
    """``full``: verdict words, ``{find, replace, rule}`` edits, notes in words (the format
    the local model's grammars are built for). ``compact``: this module's format."""

    FULL = "full"
    COMPACT = "compact"


COMPACT_INSTRUCTIONS = (
    PACK_PREAMBLE
    + """\
Judge every block against the style guide below and answer with exactly one item per block
id, in the order given, never skipping a block:
- ["b1"] when the block follows the guide;
- ["b1", finding, ...] when it does not, a string per finding: the rule's number from
  <rule_codes>, a space, then the exact words of the block the finding is about, copied
  character for character; a rule that has no number gets a letter in "rules", before the
  results, as "a Rule.Name", and findings cite that letter; where one rule finds several
  words in a block, write its number once and the words separated by " | ", for example
  "5 we | our | we";
  to change wording, a string per edit: the words, " => ", and their replacement, for
  example "12 utilize => use": keep edits minimal and never rewrite a whole block;
- only for what a rule and the quoted words cannot say, a note in words: "- " and at most
  twenty words; at most two notes per block.
Do not touch code, commands, URLs, file names, or quoted interface text.
"""
)


_STRING: dict[str, Any] = {"type": "string"}
_STRINGS: dict[str, Any] = {"type": "array", "items": _STRING}

# Lists rather than objects: a key costs tokens in every item, and an ``ok`` block is its id.
COMPACT_SCHEMA: dict[str, Any] = closed_object(
    {
        "rules": _STRINGS,
        "results": {"type": "array", "items": {**_STRINGS, "minItems": 1}},
    }
)


def is_compact_schema(schema: object) -> bool:
    """Whether a request's schema asks for compact items (lists of strings)."""
    try:
        return schema["properties"]["results"]["items"]["type"] == "array"  # type: ignore[index,no-any-return]
    except (KeyError, TypeError):
        return False


_RULE_LINE = re.compile(r"^- (\S+) \([^)\n]*\): (.*)$", re.MULTILINE)
_STYLE_RULES = re.compile(r"<style_rules>\n(.*?)\n</style_rules>", re.DOTALL)
_TABLE = re.compile(r"<rule_codes>\n(.*?)\n</rule_codes>", re.DOTALL)


@dataclass(frozen=True, slots=True)
class RuleCodes:
    """Code to rule name (a Vale rule's id, or ``guide: Heading``), and the messages of the
    rules written out in the prompt, by rule id."""

    names: dict[str, str]
    messages: dict[str, str]
    # Codes an answer gave rules the table lacks, as ``CODE Rule.Name`` lines.
    legend: list[str] = field(default_factory=list)

    @classmethod
    def for_prompt(
        cls,
        references: tuple[str, ...],
        system_prefix: str,
        known_messages: Sequence[tuple[str, str]] = (),
    ) -> RuleCodes:
        """Codes 1, 2, ... for ``references`` in prompt order (``task.prompt_references``);
        the messages of the rules the prompt writes out, and of ``known_messages``."""
        names = {
            str(number): reference.removeprefix(_RULE_REFERENCE)
            for number, reference in enumerate(references, start=1)
        }
        messages = dict(known_messages)
        for rules in _STYLE_RULES.findall(system_prefix):
            messages.update(_RULE_LINE.findall(rules))
        return cls(names, messages)

    @classmethod
    def read(cls, system_prefix: str) -> RuleCodes:
        """The codes a prompt defines, read back from its ``<rule_codes>`` table (as a
        responder sees them); none when it has no table."""
        table = _TABLE.search(system_prefix)
        lines = table[1].splitlines() if table else []
        names = dict(line.split(" ", 1) for line in lines if " " in line)
        return cls(names, {})

    @property
    def table(self) -> str:
        """The prompt's code table ("" when there is nothing to cite)."""
        if not self.names:
            return ""
        rows = "\n".join(f"{code} {name}" for code, name in self.names.items())
        return f"<rule_codes>\n{rows}\n</rule_codes>"

    def with_legend(self, rules: Sequence[str]) -> RuleCodes:
        """These codes and a letter for each of ``rules`` the table lacks (as a responder
        writes its answer's legend)."""
        missing = dict.fromkeys(rule for rule in rules if self.code_for(rule) == rule)
        legend = [f"{_letters(number)} {rule}" for number, rule in enumerate(missing)]
        return self.reading(legend)

    def reading(self, legend: object) -> RuleCodes:
        """These codes and an answer's legend; codes of the table win, and a legend that is
        not a list of ``CODE Name`` strings adds nothing."""
        if not _is_strings(legend):
            return self
        entries = [entry.strip().split(" ", 1) for entry in cast(list[str], legend)]
        added = {entry[0]: entry[1] for entry in entries if len(entry) == 2}
        return RuleCodes(
            {**added, **self.names},
            self.messages,
            [f"{code} {name}" for code, name in added.items()],
        )

    def code_for(self, rule: str) -> str:
        """How a finding cites ``rule``: its code, or its name when the table lacks it."""
        for code, name in self.names.items():
            if name == rule:
                return code
        return rule

    def split_note(self, note: str) -> tuple[str, str]:
        """A note's rule and message: the name of the table it starts with (a guide
        section's name holds ``: `` itself), else what comes before its first ``: ``."""
        for name in self.names.values():
            if note.startswith(f"{name}: "):
                return name, note[len(name) + 2 :]
        rule, _, message = note.partition(": ")
        return rule, message

    def note(self, rule: str, quote: str) -> str:
        message = self.messages.get(rule)
        if message is not None:
            return f"{rule}: {format_message(message, quote)}"
        return f'{rule}: "{quote}"' if quote else rule


def compact_id(item: object) -> object:
    """The block id a compact item answers for (its first string); None for any other shape."""
    return item[0] if isinstance(item, list) and item else None


def expand_item(item: object, codes: RuleCodes, block_text: str) -> dict[str, Any]:
    """A compact answer item as the full format's item (``results._result`` reads it); an
    item that is not a list of strings has no verdict, so it counts as invalid."""
    if not _is_strings(item) or not item:
        return {}
    short_id, *findings = cast(list[str], item)
    edits: list[dict[str, str]] = []
    notes: list[str] = []
    accept: list[int] = []
    for finding in findings:
        # Only the end of the whole finding is left as written: the separated words read
        # it (``_quotes``), where a quote that is only spaces still counts.
        cited, _, written = finding.lstrip().partition(" ")
        words = written.rstrip()
        if _ACCEPTED.fullmatch(finding.strip()):
            accept.append(int(finding.strip()[len(ACCEPT_MARK) :]))
            continue
        if cited == NOTE_MARK:
            notes.append(words)
            continue
        rule = codes.names.get(cited, cited)
        edit = _edit(words, block_text)
        if edit is None:
            notes += [codes.note(rule, quote) for quote in _quotes(written, block_text)]
        else:
            edits.append({"find": edit[0], "replace": edit[1], "rule": rule})
    verdict = Verdict.EDIT if edits or accept else Verdict.FLAG if findings else Verdict.OK
    return {
        "id": short_id,
        "verdict": verdict.value,
        "edits": edits,
        "notes": notes,
        "accept": accept,
    }


def _letters(number: int) -> str:
    """a, b, ... z, aa, ab, ...: codes that never look like the table's numbers."""
    letters = ""
    number += 1
    while number:
        number, digit = divmod(number - 1, 26)
        letters = chr(ord("a") + digit) + letters
    return letters


def _is_strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(entry, str) for entry in value)


def _edit(words: str, block_text: str) -> tuple[str, str] | None:
    """``FIND => REPLACE`` split where FIND is the longest that occurs in the block (a FIND
    may hold the mark itself); a replacement that deletes may end at the bare mark. None:
    not an edit. An edit whose FIND is nowhere in the block is still an edit (split at the
    first mark), and is rejected as one."""
    marked = words + " " if words.endswith(EDIT_MARK.rstrip()) else words
    splits = [
        (marked[:start], marked[start + len(EDIT_MARK) :])
        for start in range(len(marked))
        if marked.startswith(EDIT_MARK, start)
    ]
    found = [split for split in reversed(splits) if split[0] and split[0] in block_text]
    chosen = found or splits
    return chosen[0] if chosen else None


def _quotes(words: str, block_text: str) -> list[str]:
    """The quotes of a finding, split at ``QUOTE_SEPARATOR``: from the left, each takes the
    most separated parts that occur in the block together (a quote may hold the separator
    itself), else one part. Each ends where its words end, as a finding of its own would
    (trailing spaces are not words); one that is empty still counts, as a finding of only
    its code does."""
    parts = words.split(QUOTE_SEPARATOR)
    quotes: list[str] = []
    start = 0
    while start < len(parts):
        longest = min(len(parts), start + _MOST_PARTS_PER_QUOTE)
        end = next(
            (
                end
                for end in range(longest, start + 1, -1)
                if QUOTE_SEPARATOR.join(parts[start:end]) in block_text
            ),
            start + 1,
        )
        quotes.append(QUOTE_SEPARATOR.join(parts[start:end]))
        start = end
    return [quote.rstrip() for quote in quotes]


def grouped_findings(findings: Sequence[tuple[str, str]]) -> list[str]:
    """``(code, words)`` findings as compact strings, those of one code in one string (at
    the place of its first), their words separated by ``QUOTE_SEPARATOR``."""
    by_code: dict[str, list[str]] = {}
    for code, words in findings:
        by_code.setdefault(code, []).append(words)
    return [f"{code} {QUOTE_SEPARATOR.join(quotes)}" for code, quotes in by_code.items()]


def full_item(result: BlockResult) -> str:
    """The full-format answer item a result came from, as the model would have written it
    (for output estimates): an edit of the engine's own was a proposal it accepted."""
    item: dict[str, object] = {"id": "b1", "verdict": result.verdict}
    own = [edit for edit in result.edits if edit.source != RULE_SOURCE]
    if result.edits or result.verdict == "edit":
        item["edits"] = [{"find": e.find, "replace": e.replace, "rule": e.rule} for e in own]
    if result.notes or result.verdict != "ok":
        item["notes"] = list(result.notes)
    if len(own) < len(result.edits):
        item["accept"] = list(range(1, len(result.edits) - len(own) + 1))
    return json.dumps(item, separators=(",", ":"))


def compact_item(result: BlockResult, codes: RuleCodes) -> str:
    """The compact answer item a result came from, as the model would have written it (for
    output estimates); notes that came from findings are written back as findings, and a
    rule the table lacks is cited by a letter, as the answer's legend would (the legend is
    written once per answer, not per item)."""
    noted = [codes.split_note(note)[0] for note in result.notes if ": " in note]
    # A note in words names no rule; rule names hold no spaces.
    legend_rules = [rule for rule in noted if rule and not any(c.isspace() for c in rule)]
    codes = codes.with_legend([edit.rule for edit in result.edits] + legend_rules)
    findings = [
        f"{ACCEPT_MARK}{number}"
        if edit.source == RULE_SOURCE
        else f"{codes.code_for(edit.rule)} {edit.find}{EDIT_MARK}{edit.replace}"
        for number, edit in enumerate(result.edits, start=1)
    ]
    findings += grouped_findings([_finding_of(note, codes) for note in result.notes])
    return json.dumps(["b1", *findings], separators=(",", ":"), ensure_ascii=False)


def _finding_of(note: str, codes: RuleCodes) -> tuple[str, str]:
    """A note as a finding, code and words: its rule's code and the words it quotes (a
    rule's message quotes the words it flags), or its own words when it names no rule."""
    rule, message = codes.split_note(note)
    quoted = _QUOTED.search(message)
    return codes.code_for(rule), quoted[1] if quoted else message


_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")
_ACCEPTED = re.compile(rf"{re.escape(ACCEPT_MARK)}[0-9]{{1,4}}")
