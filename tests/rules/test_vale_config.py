"""Vale's configuration settings, checked against Vale's own acceptance suite.

Each test runs a scenario of ``vale-testdata/features`` through ``blockpass lint`` and must
print exactly the lines Vale prints. The suite's ``styles`` folder is not in the shared
data, so the rules a scenario's expected lines name are rebuilt here from those lines
(their level, message, and what they match in the scenario's text), as
``test_conformance`` does for comment controls.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from blockpass.cli import main

VALE_SUITE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "vale-testdata"
FEATURES = VALE_SUITE / "features"


def scenario_texts(feature: str, name: str) -> list[str]:
    """The doc strings (``\"\"\"`` blocks, dedented) of one scenario, in order; the scenario
    must exist, so that a renamed one fails here rather than passing on nothing."""
    texts: list[str] = []
    current: list[str] | None = None
    inside = False
    for raw in (FEATURES / feature).read_text("utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#"):
            continue
        if re.match(r"(Scenario|Background):", line):
            inside = line == f"Scenario: {name}"
        elif line == '"""':
            if current is None:
                current = []
            else:
                if inside:
                    texts.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    assert texts, f"no scenario {name!r} in {feature}"
    return texts


def background_text(feature: str, file_name: str) -> str:
    """A file the feature's background writes (its doc string, lines stripped)."""
    text = (FEATURES / feature).read_text("utf-8")
    found = re.search(
        rf'a file named "{re.escape(file_name)}" with:\s*"""\n(.*?)\n\s*"""', text, re.S
    )
    assert found is not None
    return "\n".join(line.strip() for line in found.group(1).splitlines()) + "\n"


def write_style(root: Path, rules: dict[str, str]) -> Path:
    for name, text in rules.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def lint_lines(
    capsys: pytest.CaptureFixture[str], cwd: Path, monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[set[str], int]:
    monkeypatch.chdir(cwd)
    code = main(["lint", *args, "--format", "vale"])
    return set(capsys.readouterr().out.splitlines()), code


# config.feature lints its background's test.md with the suite's write-good style; its
# expected lines name two rules: E-Prime (a suggestion) and Weasel (a warning).
WRITE_GOOD = {
    "write-good/E-Prime.yml": "extends: existence\nmessage: 'Avoid using \"%s\"'\n"
    "level: suggestion\ntokens:\n  - 'is(?= a very)'\n",
    "write-good/Weasel.yml": "extends: existence\nmessage: \"'%s' is a weasel word!\"\n"
    "level: warning\nignorecase: true\ntokens:\n  - very\n",
}


def _config_scenario(tmp_path: Path, name: str) -> tuple[str, set[str]]:
    """The scenario's config (StylesPath pointed at the rebuilt styles) and expected lines."""
    config, *_, expected = scenario_texts("config.feature", name)
    styles = write_style(tmp_path / "styles", WRITE_GOOD)
    config = re.sub(r"StylesPath = .*", f"StylesPath = {styles}", config)
    (tmp_path / "test.md").write_text(background_text("config.feature", "test.md"), "utf-8")
    return config, {line for line in expected.splitlines() if line}


@pytest.mark.parametrize(
    ("name", "flag"),
    [
        ("Don't overwrite MinAlertLevel", []),
        ("Overwrite MinAlertLevel (suggestion)", ["--min-level", "suggestion"]),
        ("Overwrite MinAlertLevel (error)", ["--min-level", "error"]),
    ],
)
def test_min_alert_level_and_the_flag_that_replaces_it_give_exactly_vales_alerts(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    flag: list[str],
) -> None:
    config, expected = _config_scenario(tmp_path, name)
    (tmp_path / "_vale").write_text(config, encoding="utf-8")
    lines, _ = lint_lines(capsys, tmp_path, monkeypatch, "test.md", "--config", "_vale", *flag)
    assert lines == expected


def test_without_min_alert_level_a_config_reports_warnings_and_up_as_vale_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Vale's core.NewConfig starts at level 1 (warning); its docs say suggestion, the
    # code wins. The same scenario without the key gives the same lines.
    config, expected = _config_scenario(tmp_path, "Don't overwrite MinAlertLevel")
    (tmp_path / "_vale").write_text(config.replace("MinAlertLevel = warning", ""), "utf-8")
    lines, _ = lint_lines(capsys, tmp_path, monkeypatch, "test.md", "--config", "_vale")
    assert lines == expected == {"test.md:1:11:write-good.Weasel:'very' is a weasel word!"}
    styles = str(tmp_path / "styles" / "write-good")
    lines, _ = lint_lines(capsys, tmp_path, monkeypatch, "test.md", "--styles", styles)
    assert lines == expected
