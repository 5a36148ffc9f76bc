"""`blockpass run .` and `blockpass lint .` where users run them: at a repository's root.

The rule engine alone (`--styles`, no guide) decides every block, so no model is called.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.documents.samples import write_tree
from tests.test_cli_inputs import RULES, RUN, results, run_cli

pytestmark = pytest.mark.slow

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "corpora"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
# What a documentation repository holds beside its pages.
REPOSITORY_EXTRAS: dict[str, str | bytes] = {
    "package.json": '{"name": "docs", "scripts": {"lint": "markdownlint ."}}\n',
    "package-lock.json": '{"name": "docs", "lockfileVersion": 3, "packages": {}}\n',
    ".github/workflows/ci.yml": "on: [push]\njobs:\n  build:\n    runs-on: ubuntu-latest\n",
    ".github/workflows/deploy.yml": "on:\n  release:\n    types: [published]\n",
    "node_modules/.package-lock.json": '{"lockfileVersion": 3}\n',
    "node_modules/markdownlint/README.md": "# markdownlint\n\nSomeone else's page.\n",
    "rust-book/img/ferris.png": PNG,
    "rust-book/img/trpl04-01.png": PNG,
    "tldr/images/banner.svg": '<svg xmlns="http://www.w3.org/2000/svg"/>\n',
}
SKIPPED = {
    "total": 7,
    "by_reason": {".json not in block shape": 2, ".png": 2, ".svg": 1, "without suffix": 2},
    "folders": {".github": 1, "node_modules": 1},
}
NOTE = (
    "blockpass: note: skipped in folders: 7 files: 2 .json not in block shape, 2 .png, "
    "2 without suffix, 1 .svg; 2 folders: .github, node_modules"
)
# rust-book: 101 chapters (its two licence files have no suffix); tldr: 1,000 pages and LICENSE.md.
DOCUMENTS = 101 + 1000 + 1


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for corpus in ("rust-book", "tldr"):
        shutil.copytree(CORPORA / corpus, root / corpus)
    write_tree(root, REPOSITORY_EXTRAS)
    return root


def notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("blockpass: note:")]


def test_run_at_the_root_of_a_documentation_repository_reads_its_pages_and_counts_the_rest(
    repository: Path,
) -> None:
    result = run_cli([*RUN, ".", "--styles", str(RULES)], repository, timeout=300)
    assert result.returncode == 0, result.stderr
    assert notes(result.stderr) == [NOTE]
    out = repository / "blockpass-run"
    documents = {line["document"] for line in results(out)}
    assert len(documents) == DOCUMENTS
    assert {"rust-book/ch01-01-installation.md", "tldr/LICENSE.md", "tldr/7z.md"} <= documents
    assert json.loads((out / "report.json").read_text())["skipped_files"] == SKIPPED
    revised = out / "revised" / "rust-book" / "ch01-01-installation.md"
    assert (
        revised.read_bytes() == (repository / "rust-book" / "ch01-01-installation.md").read_bytes()
    )


def test_lint_at_the_root_of_a_documentation_repository_checks_its_pages_and_counts_the_rest(
    repository: Path,
) -> None:
    result = run_cli(["lint", ".", "--styles", str(RULES)], repository, timeout=300)
    assert result.returncode == 0, result.stderr
    assert notes(result.stderr) == [NOTE]
    assert f"in {DOCUMENTS} files." in result.stdout
    assert "rust-book/ch01-01-installation.md\n" in result.stdout


def test_running_again_at_a_folder_root_does_not_read_the_first_runs_outputs(
    tmp_path: Path,
) -> None:
    write_tree(tmp_path, {"a.md": "It is very good.\n", "docs/b.md": "Please wait.\n"})
    first = run_cli([*RUN, ".", "--styles", str(RULES)], tmp_path)
    assert first.returncode == 0, first.stderr
    assert notes(first.stderr) == []
    again = run_cli([*RUN, ".", "--styles", str(RULES)], tmp_path)
    assert again.returncode == 0, again.stderr
    assert notes(again.stderr) == ["blockpass: note: skipped in folders: 1 folder: blockpass-run"]
    assert again.stdout.startswith("this run sent 0 calls: all 2 blocks were already done\n")
    documents = [line["document"] for line in results(tmp_path / "blockpass-run")]
    assert documents == ["a.md", "docs/b.md"]


def test_folders_that_share_file_names_are_read_together_under_stable_ids(
    tmp_path: Path,
) -> None:
    for folder in ("docs", "website"):
        write_tree(
            tmp_path / folder,
            {"README.md": f"Please read the {folder}.\n", "LICENSE.md": "It is very free.\n"},
        )
    arguments = ["--styles", str(RULES), "--out", "out"]
    first = run_cli([*RUN, "docs/", "website", *arguments], tmp_path)
    assert first.returncode == 0, first.stderr
    lines = results(tmp_path / "out")
    assert [line["document"] for line in lines] == [
        "docs/LICENSE.md",
        "docs/README.md",
        "website/LICENSE.md",
        "website/README.md",
    ]
    assert (tmp_path / "out" / "revised" / "website" / "README.md").read_text() == (
        "Please read the website.\n"
    )
    # The same folders in either order name the same documents: nothing is new to the run.
    again = run_cli([*RUN, "website", "docs/", *arguments], tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("this run sent 0 calls: all 4 blocks were already done\n")
