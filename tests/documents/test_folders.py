"""Folders as users keep them: a repository root read for its documents, the rest counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockpass.documents import SkippedInputs, read_documents, read_inputs
from blockpass.errors import UserInputError
from tests.documents.samples import write_tree

REPOSITORY: dict[str, str | bytes] = {
    "README.md": "# Project\n\nWelcome.\n",
    "LICENSE": "MIT License\n",
    "package.json": '{"name": "site", "scripts": {"build": "docusaurus build"}}\n',
    "package-lock.json": '{"name": "site", "lockfileVersion": 3, "packages": {}}\n',
    "tsconfig.json": '{\n  // JSON with comments\n  "compilerOptions": {}\n}\n',
    "docs/guide.md": "Some guidance.\n",
    "docs/empty.md": "\n",
    "docs/requirements.txt": "mkdocs>=1.5\nmkdocs-material\n",
    "docs/img/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "docs/img/Banner.PNG": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "data/glossary.jsonl": '\n{"id": "g1", "text": "A glossary entry."}\n',
    "data/cards.json": ' [ {"id": "c1", "kind": "heading", "text": "A card"} ]\n',
    "data/events.jsonl": '{"event": "click", "at": 1}\n',
    "data/numbers.json": "[1, 2, 3]\n",
    ".github/workflows/ci.yml": "on: push\n",
    ".github/ISSUE_TEMPLATE/bug.md": "Describe the bug.\n",
    "node_modules/.package-lock.json": '{"lockfileVersion": 3}\n',
    "node_modules/left-pad/README.md": "# left-pad\n",
    "website/node_modules/react/README.md": "# React\n",
    "venv/pyvenv.cfg": "home = /usr/bin\n",
    "venv/lib/LICENSE.md": "Someone else's licence.\n",
    "blockpass-run/run.sqlite": b"SQLite format 3\x00",
    "blockpass-run/revised/README.md": "# Project\n\nWelcome.\n",
}


def test_a_repository_root_reads_its_documents_and_block_files_and_counts_everything_else(
    tmp_path: Path,
) -> None:
    write_tree(tmp_path, REPOSITORY)
    inputs = read_inputs([tmp_path])
    assert [(d.id, d.format) for d in inputs.documents] == [
        ("README.md", "markdown"),
        ("data/cards.json", "json"),
        ("data/glossary.jsonl", "jsonl"),
        ("docs/guide.md", "markdown"),
    ]
    assert inputs.skipped.to_json() == {
        "total": 10,
        "by_reason": {
            ".json not in block shape": 4,
            ".jsonl not in block shape": 1,
            ".png": 2,
            ".txt (read only when named)": 1,
            "empty": 1,
            "without suffix": 1,
        },
        "folders": {".github": 1, "blockpass-run": 1, "node_modules": 2, "venv": 1},
    }
    assert inputs.skipped.describe() == (
        "10 files: 4 .json not in block shape, 2 .png, 1 .jsonl not in block shape, "
        "1 .txt (read only when named), 1 empty, 1 without suffix; "
        "5 folders: .github, blockpass-run, node_modules (2), venv"
    )


def test_text_files_and_json_a_folder_walk_passes_over_are_read_when_named(
    tmp_path: Path,
) -> None:
    write_tree(tmp_path, REPOSITORY)
    inputs = read_inputs([tmp_path / "docs"])
    assert [d.id for d in inputs.documents] == ["guide.md"]
    assert inputs.skipped.files == {".png": 2, ".txt (read only when named)": 1, "empty": 1}
    [text] = read_documents([tmp_path / "docs" / "requirements.txt"])
    assert [block.text for block in text.blocks] == ["mkdocs>=1.5\nmkdocs-material"]
    with pytest.raises(UserInputError, match=r"package\.json: expected a JSON list of block"):
        read_documents([tmp_path / "package.json"])
    with pytest.raises(UserInputError, match=r"empty\.md: is empty$"):
        read_documents([tmp_path / "docs" / "empty.md"])


def test_in_a_folder_jsonl_that_starts_as_blocks_is_held_to_the_block_format(
    tmp_path: Path,
) -> None:
    write_tree(
        tmp_path,
        {
            "a-events.jsonl": '{"event": "click"}\n',
            "blocks.jsonl": '{"id": "a", "text": "One."}\n{"id": "a", "text": "Two."}\n',
        },
    )
    with pytest.raises(UserInputError, match=r"blocks\.jsonl: line 2: duplicate id 'a'"):
        read_inputs([tmp_path])


def test_a_folder_with_nothing_to_read_is_refused_saying_what_it_passed_over(
    tmp_path: Path,
) -> None:
    write_tree(tmp_path, {"notes/a.txt": "A note.\n", "notes/b.txt": "Another.\n"})
    with pytest.raises(
        UserInputError,
        match=r"notes: no documents to read in this folder; skipped 2 files: "
        r"2 \.txt \(read only when named\)$",
    ):
        read_inputs([tmp_path / "notes"])


def test_folders_named_together_give_ids_under_each_folder_as_given_whatever_their_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for folder in ("docs", "website"):
        write_tree(
            tmp_path / folder,
            {"README.md": f"The {folder} readme.\n", "LICENSE.md": "Licensed.\n"},
        )
    monkeypatch.chdir(tmp_path)
    forward = read_documents([Path("docs/"), Path("website")])
    assert [d.id for d in forward] == [
        "docs/LICENSE.md",
        "docs/README.md",
        "website/LICENSE.md",
        "website/README.md",
    ]
    assert forward[1].blocks[0].id == "docs/README.md#0"
    backward = read_documents([Path("website"), Path("docs")])
    assert sorted(d.id for d in backward) == [d.id for d in forward]
    # A folder named alone keeps ids relative to it, so they do not depend on the cwd.
    assert [d.id for d in read_documents([Path("docs")])] == ["LICENSE.md", "README.md"]


def test_the_summary_names_the_commonest_reasons_and_sums_up_the_rest() -> None:
    files = {f".x{number}": number for number in range(1, 9)}
    skipped = SkippedInputs(files=files, folders={"node_modules": 3})
    assert skipped.describe() == (
        "36 files: 8 .x8, 7 .x7, 6 .x6, 5 .x5, 4 .x4, 3 .x3, 3 more of 2 other kinds; "
        "3 folders: node_modules (3)"
    )
    assert SkippedInputs(files={}, folders={}).describe() == ""
