"""The spelling extension point, through Hunspell, as Vale's ``internal/check/spelling.go``.

Library: ``chunspell`` (PyPI, 2.0.5), a Cython wrapper of the real Hunspell 1.7.2 whose
wheels bundle ``libhunspell`` (manylinux x86_64 for CPython 3.11 and others): it installs
without system headers, and was released in 2026. ``spylls`` (a pure-Python port) was last
released in 2022 and is far slower; ``hunspell2`` drives the ``hunspell`` program through a
subprocess; ``cyhunspell`` and ``hunspell`` (pyhunspell) are unmaintained or need headers.
The wheel's own ``en_US`` files carry no licence of their own, so they are not used.

Dictionaries, as Vale reads a rule's keys:

- ``aff`` and ``dic`` (absolute, or relative to ``StylesPath``; one folder and one name):
  that dictionary alone;
- else each of ``dictionaries`` (names, ``NAME.dic`` + ``NAME.aff``) from ``dicpath``
  (absolute or relative to ``StylesPath``; one that is not a folder is an error, as in
  Vale), or from the folders where the default is looked for; with ``append: true`` the
  default dictionary is loaded as well;
- else the default, ``en_US``: from ``StylesPath/config/dictionaries`` (where Vale 3 keeps
  a project's dictionaries), then the system's Hunspell folders (Debian's
  ``hunspell-en-us`` puts it in ``/usr/share/hunspell``). Vale's default is its own copy of
  ``en_US-web``; Debian's ``en_US`` differs from it in a few rare words. A dictionary that
  cannot be found is a one-line user error naming what to install.

``ignore`` lists files of words to accept, one a line (absolute, relative to ``StylesPath``
or to ``StylesPath/config/ignore``); the built-in ``Vale.Spelling`` reads every file of
``StylesPath/config/ignore`` instead, as Vale 3 does. A word is accepted when a dictionary
or a word list knows it as written or in lower case (Vale's ``goSpell.spell``). Accepted
Vocab terms and the rule's ``exceptions`` are searched in each word, case-insensitively
(Vale's ``exceptRe``).

Words are cut as Vale's ``nlp.WordTokenizer`` cuts them: runs of non-space, typographic
quotes read as straight ones, leading ``$ ( " [ '`` and trailing ``, ) " ] ! ; . ? : '``
stripped one at a time (``e.g.``-like abbreviations and ``Abc.`` kept whole), tokens without
a letter dropped. Then a word matching one of ``filters`` or (unless ``custom: true``)
Vale's defaults is skipped: camelCase (``[A-Z][a-z]+[A-Z]+\\w+``), ending in a capital (all-caps
acronyms), or holding anything but ASCII letters, ``_`` and ``'`` (digits, hyphens, dots,
slashes, accented and non-Latin letters). Filters are Go regular expressions, so ``\\w`` and
``\\b`` are ASCII here too. Vale's emoticon list is left out: every emoticon holds a character
that the default filters skip.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hunspell import Hunspell, HunspellFilePathError  # type: ignore[import-untyped]

from blockpass.errors import UserInputError
from blockpass.files import read_text
from blockpass.rules.alerts import Alert, LintState, format_message
from blockpass.rules.patterns import Pattern, RegexError, compile_pattern

if TYPE_CHECKING:
    from blockpass.rules.literals import PreparedText
    from blockpass.rules.vale import Rule

__all__ = [
    "DEFAULT_DICTIONARY",
    "SYSTEM_DICTIONARY_FOLDERS",
    "SpellingMatcher",
    "compile_spelling",
    "vale_words",
]

DEFAULT_DICTIONARY = "en_US"
SYSTEM_DICTIONARY_FOLDERS = (
    Path("/usr/share/hunspell"),
    Path("/usr/share/myspell/dicts"),
    Path("/usr/share/myspell"),
    Path("/usr/local/share/hunspell"),
)
BUILT_IN_SPELLING = "Vale.Spelling"
_PROJECT_DICTIONARIES = Path("config", "dictionaries")
_PROJECT_IGNORES = Path("config", "ignore")
_INSTALL_HINT = "install Debian's hunspell-en-us (apt-get install hunspell-en-us)"

_DEFAULT_FILTERS = (
    re.compile(r"[A-Z][a-z]+[A-Z]+\w+", re.ASCII),
    re.compile(r"[A-Z]+$"),
    re.compile(r"[^a-zA-Z_']"),
)
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
_PREFIXES = frozenset("$(\"['")
_SUFFIXES = frozenset(",)\"]!;.?:'")
_ABBREVIATION = re.compile(r"(?:[A-Za-z]\.){2,}|[A-Z][a-z]{1,2}\.")
_WORD_RUN = re.compile(r"\S+")
# Words seen per rule, remembered up to this many: prose repeats its words, hostile input
# must not grow the memory without end.
_REMEMBERED = 50_000


def vale_words(text: str) -> Iterator[tuple[int, str]]:
    """Each word of ``text`` as Vale's tokenizer cuts it: its offset in ``text`` and the word
    with typographic quotes straightened (the same length as the text it came from)."""
    clean = text.translate(_QUOTES)
    for run in _WORD_RUN.finditer(clean):
        start, end = run.start(), run.end()
        while end - start > 1 and not _ABBREVIATION.fullmatch(clean, start, end):
            if clean[start] in _PREFIXES:
                start += 1
            elif clean[end - 1] in _SUFFIXES:
                end -= 1
            else:
                break
        word = clean[start:end]
        if any(c.isalpha() for c in word):
            yield start, word


class _Speller:
    """Hunspell dictionaries and word lists; a word is known as written or in lower case."""

    def __init__(self, dictionaries: Sequence[Any], words: frozenset[str]) -> None:
        self._dictionaries = tuple(dictionaries)
        self._words = words

    def _spells(self, word: str) -> bool:
        for dictionary in self._dictionaries:
            try:
                if dictionary.spell(word):
                    return True
            except UnicodeError:
                continue  # a character the dictionary's encoding cannot hold
        return False

    def knows(self, word: str) -> bool:
        lower = word.lower()
        if word in self._words or lower in self._words:
            return True
        return self._spells(word) or (lower != word and self._spells(lower))


@dataclass(frozen=True, slots=True)
class SpellingMatcher:
    speller: _Speller
    filters: tuple[Pattern | re.Pattern[str], ...]
    exceptions: Pattern | None
    # A digest of the dictionaries and word lists read: part of a task's fingerprint, so that
    # results made with other words are not reused.
    sources: str = ""
    # word → whether it is an alert; filled as text is read
    seen: dict[str, bool] = field(default_factory=dict, compare=False)

    def _misspelt(self, word: str) -> bool:
        found = self.seen.get(word)
        if found is None:
            found = not (
                any(f.search(word) for f in self.filters)
                or self.speller.knows(word)
                or (self.exceptions is not None and self.exceptions.search(word) is not None)
            )
            if len(self.seen) >= _REMEMBERED:
                self.seen.clear()
            self.seen[word] = found
        return found

    def run(
        self,
        text: str,
        rule: Rule,
        prepared: PreparedText | None = None,
        state: LintState | None = None,
    ) -> list[Alert]:
        return [
            Alert(
                rule_id=rule.id,
                level=rule.level,
                message=format_message(rule.message, word),
                start=start,
                end=start + len(word),
                match=text[start : start + len(word)],
            )
            for start, word in vale_words(text)
            if self._misspelt(word)
        ]


@lru_cache(maxsize=32)
def _hunspell(folder: Path, name: str) -> Any:
    return Hunspell(name, hunspell_data_dir=str(folder))


def _sources(dictionaries: Sequence[Path], words: frozenset[str]) -> str:
    digest = hashlib.sha256()
    for path in dictionaries:
        for suffix in (".aff", ".dic"):
            digest.update(path.with_suffix(suffix).read_bytes())
    digest.update("\n".join(sorted(words)).encode())
    return digest.hexdigest()[:32]


def _names(definition: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = definition.get(key)
    if value is None or value == "":
        return ()
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str | int | float) for item in items):
        raise RegexError(f"'{key}' must be a string or a list of strings")
    return tuple(str(item) for item in items)


def _flag(definition: Mapping[str, Any], key: str) -> bool:
    return definition.get(key) in (True, "true", "True", 1)


def _beside(styles_path: Path, name: str) -> Path:
    """``name`` as written when absolute, else relative to ``StylesPath``."""
    path = Path(name)
    return path if path.is_absolute() else styles_path / path


def _load(folders: Sequence[Path], name: str, rule_id: str) -> tuple[Any, Path]:
    """The dictionary ``name`` from the first folder holding it, and its path sans suffix."""
    for folder in folders:
        if (folder / f"{name}.dic").is_file() and (folder / f"{name}.aff").is_file():
            try:
                return _hunspell(folder, name), folder / name
            except (HunspellFilePathError, OSError, UnicodeError) as exc:
                raise UserInputError(f"{rule_id}: cannot read {folder / name}: {exc}") from exc
    where = ", ".join(str(folder) for folder in folders)
    hint = _INSTALL_HINT if name == DEFAULT_DICTIONARY else "check the rule's dicpath"
    raise UserInputError(
        f"{rule_id}: no Hunspell dictionary '{name}' ({name}.dic and {name}.aff) in {where}; {hint}"
    )


def _dictionaries(
    definition: Mapping[str, Any], styles_path: Path, rule_id: str
) -> list[tuple[Any, Path]]:
    aff, dic = (_names(definition, key) for key in ("aff", "dic"))
    if aff and dic:
        aff_path, dic_path = _beside(styles_path, aff[0]), _beside(styles_path, dic[0])
        if aff_path.is_file() and dic_path.is_file():
            if aff_path.parent != dic_path.parent or aff_path.stem != dic_path.stem:
                raise UserInputError(
                    f"{rule_id}: 'aff' and 'dic' must name one dictionary (same folder, same "
                    f"name): {aff_path}, {dic_path}"
                )
            return [_load([dic_path.parent], dic_path.stem, rule_id)]
    defaults = [styles_path / _PROJECT_DICTIONARIES, *SYSTEM_DICTIONARY_FOLDERS]
    folders = defaults
    dicpath = _names(definition, "dicpath")
    if dicpath:
        folder = _beside(styles_path, dicpath[0])
        if not folder.is_dir():
            raise UserInputError(f"{rule_id}: unable to resolve dicpath {dicpath[0]!r}")
        folders = [folder]
    loaded = [_load(folders, name, rule_id) for name in _names(definition, "dictionaries")]
    if not loaded or _flag(definition, "append"):
        loaded.append(_load(defaults, DEFAULT_DICTIONARY, rule_id))
    return loaded


def _word_list(path: Path) -> list[str]:
    # Vale's addWordList: each line trimmed; empty lines and a lone `#` are skipped.
    lines = (line.strip() for line in read_text(path, what="a word list").splitlines())
    return [line for line in lines if line and line != "#"]


def _ignored_words(
    definition: Mapping[str, Any], styles_path: Path, rule_id: str
) -> frozenset[str]:
    if rule_id == BUILT_IN_SPELLING:
        folder = styles_path / _PROJECT_IGNORES
        files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    else:
        files = []
        for name in _names(definition, "ignore"):
            places = (_beside(styles_path, name), styles_path / _PROJECT_IGNORES / name)
            files.extend(place for place in places if place.is_file())
    return frozenset(word for path in files for word in _word_list(path))


def _exception_pattern(exceptions: Sequence[str]) -> Pattern | None:
    if not exceptions:
        return None
    # Vale joins the terms after one `(?i)`; a term's own leading `(?i)` adds nothing.
    terms = [term.removeprefix("(?i)") for term in exceptions]
    return compile_pattern("(?i)" + "|".join(f"(?:{term})" for term in terms))


def compile_spelling(
    definition: Mapping[str, Any], *, rule_id: str, path: Path, exceptions: Sequence[str]
) -> SpellingMatcher:
    """``path`` is the rule file's (its style folder's parent is ``StylesPath``);
    ``exceptions`` are the rule's own and the accepted Vocab terms."""
    styles_path = path.parent.parent
    filters: list[Pattern | re.Pattern[str]] = [
        compile_pattern("(?a)" + pattern) for pattern in _names(definition, "filters")
    ]
    if not _flag(definition, "custom"):
        filters.extend(_DEFAULT_FILTERS)
    dictionaries = _dictionaries(definition, styles_path, rule_id)
    words = _ignored_words(definition, styles_path, rule_id)
    speller = _Speller([dictionary for dictionary, _ in dictionaries], words)
    sources = _sources([path for _, path in dictionaries], words)
    return SpellingMatcher(speller, tuple(filters), _exception_pattern(exceptions), sources)
