from __future__ import annotations

from pathlib import Path

import pytest

from blockpass.rules import load_vale_package
from blockpass.sandbox import SandboxConfig, ToolUse
from tests.sandbox.support import RunningSandbox, StartSandbox


@pytest.fixture
def rust_paragraphs(shared_data: Path) -> list[str]:
    """Real paragraphs that the Google rules and the test server's rules have things to say
    about (they use "we" and "will")."""
    text = (shared_data / "corpora" / "rust-book" / "ch01-01-installation.md").read_text()
    paragraphs = [part.strip() for part in text.split("\n\n") if part.strip()]
    chosen = [
        paragraph
        for paragraph in paragraphs
        if paragraph[0].isalpha() and {"we", "will"} & set(paragraph.lower().split())
    ]
    assert len(chosen) >= 2, "the rust-book chapter changed: pick other paragraphs"
    return chosen[:2]


@pytest.fixture
def start_rules_sandbox(start_sandbox: StartSandbox, google_rules: Path):
    def start(tool_use: ToolUse | None = None) -> RunningSandbox:
        load_vale_package(google_rules)  # fails here, clearly, if the rules are missing
        return start_sandbox(SandboxConfig(rules=google_rules, tool_use=tool_use or ToolUse()))

    return start
