"""`blockpass.lint`: documents in, alerts at source positions out, rendered three ways."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blockpass.documents import read_document
from blockpass.documents.jsonl import read_jsonl
from blockpass.documents.markdown import read_markdown
from blockpass.errors import UserInputError
from blockpass.lint import (
    LintAlert,
    lint_command,
    lint_documents,
    load_styles,
    read_vale_ini,
    render_alerts,
)
from blockpass.rules import load_vale_package

STYLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "styles"
GOOGLE = load_vale_package(STYLES / "Google" / "Google")
MICROSOFT = load_vale_package(STYLES / "Microsoft" / "Microsoft")


def _markdown(text: str, name: str = "doc.md") -> list:  # type: ignore[type-arg]
    return [read_markdown(text.encode(), document_id=name, path=Path(name))]


def _where(alerts: list[LintAlert], rule_id: str) -> list[tuple[int, int, str]]:
    return [(a.line, a.column, a.match) for a in alerts if a.rule_id == rule_id]


def test_alerts_carry_the_source_line_and_column_inside_containers() -> None:
    markdown = (
        "# Title\n\n> A quote that\n> will be read.\n\n- An item\n  that will wrap.\n\n"
        "Text with `will` in code and — an em dash — will count.\n"
    )
    alerts = lint_documents(_markdown(markdown), GOOGLE)
    assert _where(alerts, "Google.Will") == [(4, 3, "will"), (7, 8, "will"), (9, 45, "will")]
    # Columns count characters: the em dashes before column 45 are one column each.
    assert _where(alerts, "Google.EmDash") == [(9, 29, " — "), (9, 42, " — ")]


def test_sentence_rules_read_one_sentence_and_heading_rules_only_headings() -> None:
    markdown = "# A heading.\n\nFirst part, second part. Apples, pears or plums.\n"
    alerts = lint_documents(_markdown(markdown), GOOGLE)
    assert _where(alerts, "Google.OxfordComma") == [(3, 26, "Apples, pears or")]
    assert _where(alerts, "Google.HeadingPunctuation") == [(1, 11, "g.")]


def test_a_definition_in_one_paragraph_serves_the_later_ones() -> None:
    markdown = "Use DAFB.\n\nThe Defense Acquisition Board (DAFB) is here.\n\nNow DAFB again.\n"
    # Microsoft.Acronyms is a suggestion, below Vale's default minimum.
    alerts = lint_documents(_markdown(markdown), MICROSOFT, min_level="suggestion")
    assert _where(alerts, "Microsoft.Acronyms") == [(1, 5, "DAFB")]


def test_messages_collapse_spaces_as_vale_prints_them() -> None:
    alerts = lint_documents(_markdown("This is okay.  This one is not.\n"), GOOGLE)
    [spacing] = [a for a in alerts if a.rule_id == "Google.Spacing"]
    assert (spacing.match, spacing.message) == ("y.  T", "'y. T' should have one space.")


def test_min_level_drops_lower_alerts_and_defaults_to_warning_as_in_vale() -> None:
    markdown = "We will see. It is done.\n"
    levels = {a.level for a in lint_documents(_markdown(markdown), GOOGLE, min_level="suggestion")}
    assert levels == {"warning", "suggestion"}
    assert {a.level for a in lint_documents(_markdown(markdown), GOOGLE)} == {"warning"}
    with pytest.raises(UserInputError, match="minimum level"):
        lint_documents(_markdown(markdown), GOOGLE, min_level="fatal")


def test_blocks_without_source_positions_are_placed_within_their_block() -> None:
    raw = b'{"id": "a", "text": "Fine."}\n{"id": "b", "text": "It\\nwill work."}\n'
    document = read_jsonl(raw, document_id="blocks.jsonl")
    alerts = lint_documents([document], GOOGLE)
    assert [(a.block_id, a.line, a.column) for a in alerts if a.rule_id == "Google.Will"] == [
        ("blocks.jsonl#b", 2, 1)
    ]


def _alert(path: str, line: int, level: str, rule: str = "Google.Will") -> LintAlert:
    return LintAlert(
        document_id=path,
        path=path,
        line=line,
        column=3,
        rule_id=rule,
        level=level,
        message="Avoid using 'will'.",
        match="will",
    )


def test_the_three_output_formats() -> None:
    alerts = [_alert("a.md", 1, "warning"), _alert("a.md", 4, "error"), _alert("b.md", 2, "error")]
    assert render_alerts(alerts, "vale") == (
        "a.md:1:3:Google.Will:Avoid using 'will'.\n"
        "a.md:4:3:Google.Will:Avoid using 'will'.\n"
        "b.md:2:3:Google.Will:Avoid using 'will'.\n"
    )
    rows = json.loads(render_alerts(alerts, "json"))
    assert rows[0] == {
        "document_id": "a.md",
        "path": "a.md",
        "line": 1,
        "column": 3,
        "rule_id": "Google.Will",
        "level": "warning",
        "message": "Avoid using 'will'.",
        "match": "will",
        "replacements": [],
        "link": "",
        "block_id": "",
    }
    text = render_alerts(alerts, "text", files=3)
    assert text.splitlines()[:3] == [
        "a.md",
        "  1:3       warning     Avoid using 'will'.  Google.Will",
        "  4:3       error       Avoid using 'will'.  Google.Will",
    ]
    assert text.splitlines()[-1] == "2 errors, 1 warning and 0 suggestions in 3 files."
    assert render_alerts([], "vale") == ""
    with pytest.raises(UserInputError, match="unknown lint format"):
        render_alerts(alerts, "xml")


def test_lint_command_exits_1_only_for_error_level_alerts(tmp_path: Path) -> None:
    _write(tmp_path / "warn.md", "It will work.\n")
    _write(tmp_path / "error.md", "Meet at 10PM.\n")
    google = STYLES / "Google" / "Google"
    output, code = lint_command([tmp_path / "warn.md"], [google], "vale", "suggestion")
    # A file given by name is shown as given; files found in a folder, relative to it.
    assert (output, code) == (
        f"{tmp_path.as_posix()}/warn.md:1:4:Google.Will:Avoid using 'will'.\n",
        0,
    )
    output, code = lint_command([tmp_path], [google], "vale", "suggestion")
    assert code == 1
    assert (
        output.splitlines()[0] == "error.md:1:9:Google.AMPM:Use 'AM' or 'PM' (preceded by a space)."
    )
    output, code = lint_command([tmp_path], [google], "vale", "error")
    assert (output.count("\n"), code) == (1, 1)


def test_styles_may_be_style_folders_or_a_styles_path() -> None:
    assert [p.name for p in load_styles([STYLES / "Google"])] == ["Google"]
    assert [p.name for p in load_styles([STYLES / "write-good" / "write-good"])] == ["write-good"]
    with pytest.raises(UserInputError, match="no Vale rules"):
        load_styles([STYLES / "Google" / "features"])


def test_a_vale_ini_chooses_rules_levels_and_the_minimum_per_file(tmp_path: Path) -> None:
    ini = tmp_path / ".vale.ini"
    ini.write_text(
        f"StylesPath = {STYLES / 'Google'}\nMinAlertLevel = warning\n\n"
        "[*.{md,txt}]\nBasedOnStyles = Google\nGoogle.We = NO\nGoogle.Passive = error\n"
        "Google.NoSuchRule = YES\n\n[notes/*.md]\nGoogle.Will = NO\n",
        encoding="utf-8",
    )
    config = read_vale_ini(ini)
    assert config.min_level == "warning"
    assert [p.name for p in config.load_packages()] == ["Google"]
    chosen = {r.id: r.level for r in config.rules_for("doc.md", GOOGLE.rules)}
    assert "Google.We" not in chosen
    assert chosen["Google.Passive"] == "error"  # a suggestion raised to an error
    assert "Google.Contractions" not in chosen  # a suggestion, below MinAlertLevel
    assert "Google.Will" in chosen
    assert "Google.Will" not in {r.id for r in config.rules_for("notes/a.md", GOOGLE.rules)}
    assert config.rules_for("doc.rst", GOOGLE.rules) == []
    _write(tmp_path / "docs" / "doc.md", "We saw it was broken.\n")
    output, code = lint_command([tmp_path / "docs"], [], "vale", "suggestion", config=ini)
    assert output == (
        "doc.md:1:11:Google.Passive:In general, use active voice instead of passive voice "
        "('was broken').\n"
    )
    assert code == 1


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_bad_vale_ini_is_a_user_error_naming_the_line(tmp_path: Path) -> None:
    ini = _write(tmp_path / ".vale.ini", "[*.md]\nGoogle.Will = maybe\n")
    with pytest.raises(UserInputError, match=r"\.vale\.ini:2: 'Google\.Will' must be YES"):
        read_vale_ini(ini)
    with pytest.raises(UserInputError, match="MinAlertLevel"):
        read_vale_ini(_write(tmp_path / "b.ini", "MinAlertLevel = loud\n"))


def test_a_fixture_lints_exactly_as_its_feature_file_says() -> None:
    folder = STYLES / "Google" / "fixtures" / "Headings"
    config = read_vale_ini(folder / ".vale.ini")
    document = read_document(folder / "test.md", document_id="test.md")
    alerts = lint_documents([document], config.load_packages(), config=config)
    assert render_alerts(alerts, "vale") == (
        "test.md:5:3:Google.Headings:'This is a Heading' should use sentence-style "
        "capitalization.\n"
        "test.md:7:13:Google.HeadingPunctuation:Don't put a period at the end of a heading.\n"
    )


def test_raw_and_summary_scopes_and_rules_left_unchecked_are_named(tmp_path: Path) -> None:
    style = tmp_path / "styles" / "Mine"
    _write(style / "Fence.yml", "extends: existence\nmessage: fence\nscope: raw\nraw: ['```']\n")
    _write(
        style / "Long.yml",
        "extends: occurrence\nmessage: too long\nscope: summary\nmax: 2\ntoken: '\\b\\w+\\b'\n",
    )
    _write(style / "Seq.yml", "extends: sequence\nmessage: '%s'\n")
    _write(
        tmp_path / "docs" / "a.md", "# Head words here\n\nOne two.\n\n```\ncode\n```\n\nThree.\n"
    )
    output, code = lint_command([tmp_path / "docs"], [style], "text", "suggestion")
    assert output.splitlines() == [
        "a.md",
        "  3:1       warning     too long  Mine.Long",
        "  5:1       warning     fence  Mine.Fence",
        "  7:1       warning     fence  Mine.Fence",
        "",
        "0 errors, 3 warnings and 0 suggestions in 1 file.",
        "Not checked here (no engine for them): 1 rule: Mine.Seq",
    ]
    assert code == 0


def test_a_vale_comment_written_as_code_is_text_and_switches_nothing_off() -> None:
    markdown = (
        "Write `<!-- vale off -->` to pause Vale.\n\n```html\n<!-- vale off -->\n```\n\n"
        "Send an e-mail.\n"
    )
    alerts = lint_documents(_markdown(markdown), GOOGLE)
    assert _where(alerts, "Google.WordList") == [(7, 9, "e-mail")]


def test_vale_comments_switch_off_a_whole_style_or_single_matches_until_switched_back_on() -> None:
    markdown = (
        "<!-- vale Google = NO -->\n\nSend an e-mail.\n\n<!-- vale Google = YES -->\n\n"
        '<!-- vale Google.WordList["e-mail"] = NO -->\n\nSend an e-mail by WiFi.\n\n'
        '<!-- vale Google.WordList["e-mail"] = YES -->\n\nSend an e-mail.\n'
    )
    alerts = lint_documents(_markdown(markdown), GOOGLE)
    assert _where(alerts, "Google.WordList") == [(9, 19, "WiFi"), (13, 9, "e-mail")]


def test_a_vale_comment_inside_a_paragraph_takes_effect_where_it_stands() -> None:
    markdown = "Send an e-mail <!-- vale off -->or an e-mail <!-- vale on -->or an e-mail.\n"
    alerts = lint_documents(_markdown(markdown), GOOGLE)
    assert _where(alerts, "Google.WordList") == [(1, 9, "e-mail"), (1, 68, "e-mail")]
