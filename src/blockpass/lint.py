"""Linting documents with Vale style packages, without a model: ``blockpass lint``.

``lint_documents`` reads each document into Vale's scopes (``rules/markup.py``), runs the
rules the engine implements on the scopes they name (``rules/linter.py``) and reports each
alert at its line and column in the source. With a ``.vale.ini`` (``rules/config.py``) the
rules are chosen per file as Vale chooses them; without one every rule of the given
packages runs at or above ``min_level``. Either way the minimum level is Vale's: the one
asked for, else the config's ``MinAlertLevel``, else ``warning``. Rules the engine does not
run (``implemented`` is false: other extension points, ``$title`` capitalization) give no
alerts here; the text output of ``lint_command`` names them, so a clean run is never
mistaken for a full check.

``render_alerts`` writes ``vale`` (Vale's ``--output=line``: ``path:line:col:Rule:message``),
``json`` (a list of objects) or ``text`` (grouped by file, for people).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Literal

from blockpass.blocks import Document
from blockpass.documents import SkippedInputs, read_inputs
from blockpass.errors import UserInputError
from blockpass.rules.config import ValeConfig, read_vale_ini, select_rules
from blockpass.rules.ignores import NO_IGNORES
from blockpass.rules.linter import LintAlert, lint_document
from blockpass.rules.vale import LEVELS, RulePackage, load_styles

__all__ = [
    "FORMATS",
    "LintAlert",
    "ValeConfig",
    "lint_command",
    "lint_documents",
    "load_styles",
    "read_vale_ini",
    "render_alerts",
]

Format = Literal["text", "json", "vale"]
FORMATS: tuple[Format, ...] = ("text", "json", "vale")


def lint_documents(
    documents: Sequence[Document],
    package: RulePackage | Sequence[RulePackage],
    *,
    min_level: str | None = None,
    config: ValeConfig | None = None,
) -> list[LintAlert]:
    """Alerts of every document, in document order, each sorted by line and column."""
    if min_level is not None and min_level not in LEVELS:
        raise UserInputError(f"minimum level must be one of {', '.join(LEVELS)}")
    packages = [package] if isinstance(package, RulePackage) else list(package)
    alerts: list[LintAlert] = []
    for document in documents:
        rules = select_rules(packages, config, document.id, min_level)
        ignores = config.ignores_for(document.id) if config is not None else NO_IGNORES
        alerts.extend(lint_document(document, rules, ignores))
    return alerts


def _vale_lines(alerts: Sequence[LintAlert]) -> str:
    lines = [f"{a.path}:{a.line}:{a.column}:{a.rule_id}:{a.message}" for a in alerts]
    return "".join(line + "\n" for line in lines)


def _json(alerts: Sequence[LintAlert]) -> str:
    return json.dumps([asdict(a) for a in alerts], ensure_ascii=False, indent=2) + "\n"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _text(alerts: Sequence[LintAlert], files: int | None) -> str:
    out: list[str] = []
    current = None
    for alert in alerts:
        if alert.path != current:
            if current is not None:
                out.append("")
            out.append(alert.path)
            current = alert.path
        where = f"{alert.line}:{alert.column}"
        out.append(f"  {where:<9} {alert.level:<11} {alert.message}  {alert.rule_id}")
    counts = {level: sum(a.level == level for a in alerts) for level in LEVELS}
    checked = files if files is not None else len({a.path for a in alerts})
    if out:
        out.append("")
    out.append(
        f"{_plural(counts['error'], 'error')}, {_plural(counts['warning'], 'warning')} and "
        f"{_plural(counts['suggestion'], 'suggestion')} in {_plural(checked, 'file')}."
    )
    return "\n".join(out) + "\n"


def render_alerts(alerts: Sequence[LintAlert], format: str, *, files: int | None = None) -> str:
    """``files`` is how many documents were linted, for the text summary line."""
    if format == "vale":
        return _vale_lines(alerts)
    if format == "json":
        return _json(alerts)
    if format == "text":
        return _text(alerts, files)
    raise UserInputError(f"unknown lint format {format!r} (use {', '.join(FORMATS)})")


def lint_command(
    paths: list[Path],
    styles: list[Path],
    format: str,
    min_level: str | None,
    *,
    config: Path | None = None,
    on_skip: Callable[[Path, str], None] = lambda path, reason: None,
    on_folder_summary: Callable[[SkippedInputs], None] = lambda skipped: None,
) -> tuple[str, int]:
    """``blockpass lint``: the rendered alerts and the exit code (1 when any alert is at
    error level, as Vale exits). With ``config`` (a ``.vale.ini``) its styles and switches
    choose the rules; ``styles`` then adds packages found outside its ``StylesPath``.
    Folder entries that are not regular files go to ``on_skip``; what the folder walks
    passed over, counted, to ``on_folder_summary``."""
    if format not in FORMATS:
        raise UserInputError(f"unknown lint format {format!r} (use {', '.join(FORMATS)})")
    vale_config = read_vale_ini(config) if config is not None else None
    packages = load_styles(styles)
    if vale_config is not None:
        packages += vale_config.load_packages()
    if not packages:
        raise UserInputError("no styles to lint with: give --styles (or a .vale.ini)")
    inputs = read_inputs(paths, on_skip=on_skip)
    on_folder_summary(inputs.skipped)
    documents = inputs.documents
    alerts = lint_documents(documents, packages, min_level=min_level, config=vale_config)
    failed = any(alert.level == "error" for alert in alerts)
    output = render_alerts(alerts, format, files=len(documents))
    if format == "text":
        output += _not_run(packages)
    return output, int(failed)


def _not_run(packages: Sequence[RulePackage]) -> str:
    skipped = [rule for package in packages for rule in package.unimplemented]
    if not skipped:
        return ""
    named = ", ".join(rule.id for rule in skipped[:8]) + (", ..." if len(skipped) > 8 else "")
    return f"Not checked here (no engine for them): {_plural(len(skipped), 'rule')}: {named}\n"
