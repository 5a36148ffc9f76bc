"""A run directory the system refuses, or a store that is damaged: one line, nothing lost."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from blockpass.store import RUN_FILE_NAME

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
RUN = [
    sys.executable,
    "-m",
    "blockpass.cli",
    "run",
    str(EXAMPLES / "sample.md"),
    "--guide",
    str(EXAMPLES / "guide.md"),
    "--provider",
    "sandbox",
    "--model",
    "claude-sonnet-4-5",
    "--mode",
    "realtime",
]


def run(out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RUN, "--out", str(out)], capture_output=True, text=True, timeout=120, check=False
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("blockpass: error: ")
    return lines[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "out"
    result = run(out)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture
def copy_of_finished_run(finished_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(finished_run, tmp_path / "out"))


def test_an_out_path_naming_a_file_is_one_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "notes.txt"
    out.write_text("mine\n")
    line = one_error_line(run(out))
    assert str(out) in line
    assert "run directory" in line
    assert out.read_text() == "mine\n"


def test_an_out_path_under_a_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    out = tmp_path / "notes.txt" / "out"
    line = one_error_line(run(out))
    assert str(out) in line
    assert "Not a directory" in line


@pytest.mark.parametrize("system_folder", ["/proc", "/sys"])
def test_an_out_path_the_system_refuses_is_one_clear_error(system_folder: str) -> None:
    out = Path(system_folder) / "blockpass-run"
    line = one_error_line(run(out))
    assert f"cannot use the run directory {out}" in line


def test_a_store_damaged_in_the_middle_is_reported_and_left_untouched(
    copy_of_finished_run: Path,
) -> None:
    store = copy_of_finished_run / RUN_FILE_NAME
    data = bytearray(store.read_bytes())
    # Every page but the header page: whatever the run reads next is damaged.
    page = 4096
    data[page:] = b"\xa5" * (len(data) - page)
    store.write_bytes(bytes(data))
    line = one_error_line(run(copy_of_finished_run))
    assert f"the run store {store} is damaged" in line
    assert "move it aside" in line
    assert store.read_bytes() == bytes(data)


def test_a_store_with_a_damaged_header_is_reported_as_damaged(copy_of_finished_run: Path) -> None:
    store = copy_of_finished_run / RUN_FILE_NAME
    data = bytearray(store.read_bytes())
    data[:16] = b"not a database!!"
    store.write_bytes(bytes(data))
    line = one_error_line(run(copy_of_finished_run))
    assert f"the run store {store} is damaged" in line
    assert store.read_bytes() == bytes(data)


@pytest.mark.parametrize("output", ["results.jsonl", "report.json"])
def test_an_output_file_replaced_by_a_folder_is_one_clear_error_and_loses_nothing(
    copy_of_finished_run: Path, output: str
) -> None:
    target = copy_of_finished_run / output
    target.unlink()
    target.mkdir()
    line = one_error_line(run(copy_of_finished_run))
    assert f"cannot write {target}: Is a directory" in line
    assert "run the same command again" in line
    target.rmdir()
    again = run(copy_of_finished_run)
    assert again.returncode == 0, again.stderr
    assert "this run sent 0 calls" in again.stdout
    assert target.is_file()


def test_a_revised_folder_replaced_by_a_file_is_one_clear_error(copy_of_finished_run: Path) -> None:
    revised = copy_of_finished_run / "revised"
    shutil.rmtree(revised)
    revised.write_text("not a folder\n")
    line = one_error_line(run(copy_of_finished_run))
    assert f"cannot write {revised}" in line
