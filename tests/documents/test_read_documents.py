from __future__ import annotations

import socket
from pathlib import Path

import pytest

from blockpass.blocks import BlockKind
from blockpass.documents import MAX_DOCUMENT_BYTES, read_document, read_documents
from blockpass.errors import UserInputError


def _tree(root: Path) -> None:
    (root / "guide" / "deep").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "guide" / "b.md").write_text("# B\n")
    (root / "guide" / "deep" / "c.markdown").write_text("C para\n")
    (root / "a.txt").write_text("plain\n")
    (root / "blocks.jsonl").write_text('{"id": "x", "text": "from jsonl"}\n')
    (root / "notes.rst").write_text("not supported\n")
    (root / ".git" / "HEAD.md").write_text("hidden\n")
    (root / ".hidden.md").write_text("a hidden file is read, a hidden folder is not\n")


def test_directories_are_expanded_recursively_in_sorted_order(tmp_path: Path) -> None:
    _tree(tmp_path)
    documents = read_documents([tmp_path])
    assert [(d.id, d.format) for d in documents] == [
        (".hidden.md", "markdown"),
        ("blocks.jsonl", "jsonl"),
        ("guide/b.md", "markdown"),
        ("guide/deep/c.markdown", "markdown"),
    ]
    assert documents[2].blocks[0].id == "guide/b.md#0"
    assert documents[1].blocks[0].id == "blocks.jsonl#x"


def test_a_file_given_directly_keeps_the_name_it_was_given(tmp_path: Path) -> None:
    _tree(tmp_path)
    path = tmp_path / "guide" / "b.md"
    [document] = read_documents([path])
    assert document.id == path.as_posix()
    assert document.path == path
    assert document.blocks[0].kind is BlockKind.HEADING


def test_the_same_document_id_twice_is_refused(tmp_path: Path) -> None:
    _tree(tmp_path)
    with pytest.raises(UserInputError, match="already taken"):
        read_documents([tmp_path / "guide", tmp_path / "guide"])


def test_unreadable_or_unsupported_paths_are_user_errors(tmp_path: Path) -> None:
    _tree(tmp_path)
    with pytest.raises(UserInputError, match=r"missing\.md: no such file or directory$"):
        read_documents([tmp_path / "missing.md"])
    with pytest.raises(UserInputError, match=r"notes\.rst: unsupported file type"):
        read_documents([tmp_path / "notes.rst"])
    with pytest.raises(UserInputError, match=r"no such file$"):
        read_document(tmp_path / "gone.md", document_id="gone.md")
    with pytest.raises(
        UserInputError,
        match=r"empty: no documents to read in this folder; skipped 1 file: 1 \.rst$",
    ):
        read_documents([_empty_dir(tmp_path)])
    with pytest.raises(UserInputError, match="no input paths"):
        read_documents([])


def test_errors_name_the_file_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "latin1.md"
    path.write_bytes(b"caf\xe9\n")
    with pytest.raises(
        UserInputError, match=rf"^{path}: not valid UTF-8 \(byte 0xe9 at offset 3\)$"
    ):
        read_documents([tmp_path])


def _empty_dir(root: Path) -> Path:
    empty = root / "empty"
    empty.mkdir()
    (empty / "ignored.rst").write_text("x\n")
    return empty


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.md", b"", r"empty\.md: is empty$"),
        ("blank.txt", b"\n \n", r"blank\.txt: is empty$"),
        (
            "logo.md",
            b"\x89PNG\r\n\x1a\n\x00\x00",
            r"logo\.md: looks binary \(NUL byte at offset 8\)",
        ),
        ("bad.jsonl", b'{"id": "a", "text": "x"}\nnot json\n', r"bad\.jsonl: line 2: invalid JSON"),
    ],
)
def test_bad_files_on_disk_are_refused_with_one_line_naming_them(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserInputError, match=message) as caught:
        read_document(path, document_id=name)
    assert str(caught.value).startswith(str(path))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "raw",
    [
        "\ufeffUTF-16 with a byte order mark.\n".encode("utf-16-le"),
        "\ufeffBig-endian, with a byte order mark.\n".encode("utf-16-be"),
        "No byte order mark, but plainly UTF-16.\n".encode("utf-16-le"),
    ],
)
def test_a_utf16_file_is_called_utf16_and_unsupported_rather_than_binary(
    tmp_path: Path, raw: bytes
) -> None:
    path = tmp_path / "wide.md"
    path.write_bytes(raw)
    with pytest.raises(
        UserInputError,
        match=rf"^{path}: looks like UTF-16 text, which is not supported; convert it to UTF-8$",
    ):
        read_documents([path])


def test_a_file_over_the_size_limit_is_refused_naming_it_and_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.md"
    with path.open("wb") as handle:
        handle.truncate(MAX_DOCUMENT_BYTES + 1)  # sparse: no disk space used
    with pytest.raises(
        UserInputError, match=rf"^{path}: larger than 64 MiB, the limit for a \.md input file$"
    ):
        read_documents([tmp_path])


def test_a_link_to_a_regular_file_is_read_like_the_file(tmp_path: Path) -> None:
    (tmp_path / "real.md").write_text("Real text.\n")
    (tmp_path / "link.md").symlink_to(tmp_path / "real.md")
    documents = read_documents([tmp_path])
    assert [(d.id, d.blocks[0].text) for d in documents] == [
        ("link.md", "Real text."),
        ("real.md", "Real text."),
    ]


def test_a_socket_in_a_folder_is_skipped_and_reported(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("Text.\n")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "s.md"))
        skipped: list[tuple[Path, str]] = []
        documents = read_documents(
            [tmp_path], on_skip=lambda path, why: skipped.append((path, why))
        )
        assert [d.id for d in documents] == ["a.md"]
        assert skipped == [(tmp_path / "s.md", "it is a socket, not a regular file")]
        with pytest.raises(UserInputError, match=r"s\.md: is a socket, not a regular file; only"):
            read_documents([tmp_path / "s.md"])


def test_block_ids_that_would_meet_across_documents_are_refused(tmp_path: Path) -> None:
    # Only contrived names can meet: a '#' in a file name, and a user id spelling the rest.
    (tmp_path / "a.jsonl").write_text('{"id": "b.md#0", "text": "From JSONL."}\n')
    (tmp_path / "a.jsonl#b.md").write_text("From Markdown.\n")
    with pytest.raises(
        UserInputError,
        match=r"^a\.jsonl#b\.md: block id 'a\.jsonl#b\.md#0' is also a block id of a\.jsonl; ",
    ):
        read_documents([tmp_path])
