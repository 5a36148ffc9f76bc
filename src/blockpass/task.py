"""The task run over every block: instructions, a style guide, and the result schema.

Everything that can change a block's result goes into the fingerprint (instructions, guide,
schema, the pack format and the model), so stored results are reused only for the task that
produced them.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from blockpass.documents.markdown import split_front_matter
from blockpass.errors import UserInputError
from blockpass.files import read_text
from blockpass.packformat import PACK_PREAMBLE, result_schema
from blockpass.proposals import COMPACT_PROPOSALS, FULL_PROPOSALS
from blockpass.verdicts import COMPACT_INSTRUCTIONS, COMPACT_SCHEMA, RuleCodes, VerdictFormat

PACK_FORMAT_VERSION = "3"

DEFAULT_INSTRUCTIONS = (
    PACK_PREAMBLE
    + """\
Judge every block against the style guide below and answer with exactly one result per
block id, in the order given, never skipping a block:
- {"id": "b1", "verdict": "ok"} when the block follows the guide;
- {"id": "b1", "verdict": "edit", "edits": [{"find": ..., "replace": ..., "rule": ...}],
  "notes": [...]} when wording should change: `find` is an exact, short substring of the
  block (copied character for character), `replace` is its replacement, and `rule` names the
  guide section or rule; keep edits minimal and never rewrite a whole block;
- {"id": "b1", "verdict": "flag", "notes": [...]} when something breaks the guide but needs
  a human to fix it.
Do not touch code, commands, URLs, file names, or quoted interface text.
"""
)


RETRIEVAL_NOTE = """
Only the core of the style guide is given below. After it, each request carries the guide's
sections and rules chosen for its blocks, inside <retrieved_rules>, one <rule id="...">
element each (or, where the choice was unsure, the whole guide): judge the blocks by the
core and by what the request carries for them.
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    """What the model is asked, plus what the rule engine does without it.

    ``model_rules`` are style rules the engine cannot run, written out for the model;
    ``engine_digest`` names the rules the engine applies itself (they change results, so
    they are part of the fingerprint, but they never reach the model).
    """

    instructions: str
    guide: str
    guide_name: str
    schema: dict[str, Any]
    model_rules: str = ""
    engine_digest: str = ""
    # How each pack's rules are retrieved (the index's corpus and the settings), when the
    # prefix holds only the guide's core; "" when it holds the whole guide.
    retrieval: str = ""
    # The compact format cites rules by codes defined once in the prefix (``verdicts.py``).
    verdicts: VerdictFormat = VerdictFormat.FULL
    # The messages of the style packages' rules, by id, for compact notes on rules the
    # prompt does not write out (the engine's own); never sent.
    rule_messages: tuple[tuple[str, str], ...] = ()

    @property
    def needs_model(self) -> bool:
        return bool(self.guide or self.model_rules or self.retrieval)

    @property
    def guide_part(self) -> str:
        """The guide as a prompt carries it ("" without one); in retrieve mode its core,
        marked so (even when empty)."""
        if self.retrieval:
            return (
                f'<style_guide name="{self.guide_name}" part="core">\n{self.guide}\n</style_guide>'
            )
        if not self.guide:
            return ""
        return f'<style_guide name="{self.guide_name}">\n{self.guide}\n</style_guide>'

    @property
    def system_prefix(self) -> str:
        """The stable text every request of a run starts with, byte for byte."""
        codes = self.rule_codes
        return (
            self._guidance
            if codes is None or not codes.table
            else f"{self._guidance}\n{codes.table}"
        )

    @property
    def rule_codes(self) -> RuleCodes | None:
        """The codes answers cite rules by (compact verdicts); None in the full format."""
        if self.verdicts is not VerdictFormat.COMPACT:
            return None
        guidance = self._guidance
        return RuleCodes.for_prompt(prompt_references(guidance), guidance, self.rule_messages)

    @property
    def _guidance(self) -> str:
        parts = [self.instructions]
        if self.guide_part:
            parts.append(self.guide_part)
        if self.model_rules:
            parts.append(f"<style_rules>\n{self.model_rules}\n</style_rules>")
        return "\n".join(parts)

    def with_core(self, core: str, retrieval: str) -> Task:
        """This task for retrieve mode: the prefix holds ``core`` (rendered rule units) in
        place of the guide, and the instructions say where the rest comes from."""
        return replace(
            self, instructions=self.instructions + RETRIEVAL_NOTE, guide=core, retrieval=retrieval
        )

    def fingerprint(self, model: str) -> str:
        digest = hashlib.sha256()
        for part in (
            PACK_FORMAT_VERSION,
            self.instructions,
            self.guide,
            json.dumps(self.schema, sort_keys=True),
            self.model_rules,
            self.engine_digest,
            model,
            # Left out when empty, so a whole-guide task keeps its fingerprint.
            *((self.retrieval,) if self.retrieval else ()),
        ):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part.encode())
        return digest.hexdigest()[:32]


_GUIDE = re.compile(r"<style_guide[^>]*>\n(.*?)\n</style_guide>", re.DOTALL)
_RULES = re.compile(r"<style_rules>\n(.*?)\n</style_rules>", re.DOTALL)
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_RULE_LINE = re.compile(r"^- (\S+) \(", re.MULTILINE)
GUIDE_REFERENCE = "guide: "
RULE_REFERENCE = "rule: "


def prompt_references(system_prefix: str) -> tuple[str, ...]:
    """What a note can point to in a prompt: its guide's section headings and its rule names.

    Read back from the text of ``Task.system_prefix`` (a provider sees only the request), as
    ``guide: Plain language`` and ``rule: Style.Rule``, in prompt order, each once.
    """
    references: dict[str, None] = {}
    for guide in _GUIDE.findall(system_prefix):
        for heading in _HEADING.findall(guide):
            references[GUIDE_REFERENCE + heading.strip()] = None
    for rules in _RULES.findall(system_prefix):
        for rule in _RULE_LINE.findall(rules):
            references[RULE_REFERENCE + rule] = None
    return tuple(references)


def load_task(
    guide_path: Path | None,
    *,
    model_rules: str = "",
    engine_digest: str = "",
    instructions: str | None = None,
    verdicts: VerdictFormat = VerdictFormat.FULL,
    rule_messages: tuple[tuple[str, str], ...] = (),
    proposals: bool = False,
) -> Task:
    """``proposals``: packs carry the rule engine's proposals (``proposals.py``), and the
    instructions and schema say how to accept them."""
    if guide_path is None and not engine_digest:
        raise UserInputError(
            "give a style guide (--guide), style packages (--styles or --config), or both"
        )
    compact = verdicts is VerdictFormat.COMPACT
    default_instructions = COMPACT_INSTRUCTIONS if compact else DEFAULT_INSTRUCTIONS
    chosen = default_instructions if instructions is None else instructions
    if proposals:
        chosen += COMPACT_PROPOSALS if compact else FULL_PROPOSALS
    return Task(
        instructions=chosen,
        guide=load_guide(guide_path) if guide_path is not None else "",
        guide_name=guide_path.name if guide_path is not None else "",
        schema=COMPACT_SCHEMA if compact else result_schema(proposals=proposals),
        model_rules=model_rules,
        engine_digest=engine_digest,
        verdicts=verdicts,
        rule_messages=rule_messages,
    )


def load_guide(path: Path) -> str:
    """A Markdown file, or a folder of them joined in path order under their own names; an
    AsciiDoc guide (a file, or a folder with a main document) as its sections, in reading
    order, each a ``<rule>`` named by its anchor (``unit_framing.render_units``).

    YAML front matter (a Jekyll page's title, permalink, navigation) is site metadata, not
    guidance: it is left out, and a page's ``title`` names the page instead.
    """
    from blockpass.rag.asciidoc_guide import main_document

    asciidoc = main_document(path) if path.is_dir() else path.suffix.lower() in _ASCIIDOC
    if asciidoc:
        from blockpass.rag.units import guide_units
        from blockpass.unit_framing import UnitLabels, render_units

        units = guide_units(path)
        return render_units(units, UnitLabels.of(units))
    if path.is_dir():
        pages = guide_pages(path)
        if not pages:
            raise UserInputError(f"guide folder has no Markdown pages: {path}")
        return "\n".join(_page(page, page.relative_to(path).as_posix()) for page in pages)
    return _read(path)[1]


_ASCIIDOC = (".adoc", ".asciidoc", ".asc")


def guide_pages(folder: Path) -> list[Path]:
    """A guide folder's Markdown pages in path order, its licence left out."""
    return sorted(page for page in folder.rglob("*.md") if page.name.upper() != "LICENSE.MD")


def _page(path: Path, name: str) -> str:
    title, body = _read(path)
    titled = f' title="{html.escape(title)}"' if title else ""
    return f'<page path="{name}"{titled}>\n{body}\n</page>'


def read_guide_page(path: Path) -> tuple[str, str]:
    """A guide page's title (from its front matter, "" without one) and its text without the
    front matter."""
    front, body = split_front_matter(read_text(path, what="a guide"))
    title = ""
    if front:
        try:
            meta = yaml.safe_load(front)
        except yaml.YAMLError:
            meta = None
        if isinstance(meta, dict) and isinstance(meta.get("title"), str | int | float):
            title = str(meta["title"]).strip()
    return title, body


def _read(path: Path) -> tuple[str, str]:
    title, body = read_guide_page(path)
    if not body.strip():
        raise UserInputError(f"guide is empty: {path}")
    return title, body
