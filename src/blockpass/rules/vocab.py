"""Vale's vocabularies (``Vocab = Name, ...`` in ``.vale.ini``).

A vocabulary is a folder ``<StylesPath>/config/vocabularies/<Name>/`` (or, in Vale before
3.0, ``<StylesPath>/Vocab/<Name>/``) with ``accept.txt`` and ``reject.txt``: one term or
regular expression a line, ``#`` lines are comments. As Vale does (vale.sh/docs/keys/vocab):

- accepted terms are added to the exceptions of every rule of the styles a file is based
  on (``BasedOnStyles``);
- accepted terms make the built-in substitution rule ``Vale.Terms`` (error): an occurrence
  of the term in any case must be written as listed; a term that starts with ``(?i)``
  accepts every case, so it gives no ``Vale.Terms`` entry;
- rejected terms make the built-in existence rule ``Vale.Avoid`` (error).

Both rules belong to the built-in ``Vale`` style, so they run where ``Vale`` is among the
``BasedOnStyles`` (or where a section switches them on), as in Vale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from blockpass.errors import UserInputError
from blockpass.files import read_text
from blockpass.rules.vale import Rule, RulePackage, rule_from_mapping

__all__ = ["Vocabulary", "read_vocabularies"]

_FOLDERS = ("config/vocabularies", "Vocab")


@dataclass(frozen=True, slots=True, kw_only=True)
class Vocabulary:
    accept: tuple[str, ...] = ()
    reject: tuple[str, ...] = ()
    # Where the terms came from, for the built-in rules' paths.
    folders: tuple[Path, ...] = ()

    def package(self) -> RulePackage | None:
        """The built-in ``Vale`` style's ``Terms`` and ``Avoid`` rules, as far as there are
        terms for them."""
        if not self.folders:
            return None
        where = self.folders[0]
        rules: list[Rule] = []
        swap = {term.lower(): term for term in self.accept if not term.startswith("(?i)")}
        if swap:
            definition = {
                "extends": "substitution",
                "message": "Use '%s' instead of '%s'.",
                "level": "error",
                "ignorecase": True,
                "swap": swap,
            }
            rules.append(rule_from_mapping(definition, path=where, style="Vale", name="Terms"))
        if self.reject:
            definition = {
                "extends": "existence",
                "message": "Avoid using '%s'.",
                "level": "error",
                "tokens": list(self.reject),
            }
            rules.append(rule_from_mapping(definition, path=where, style="Vale", name="Avoid"))
        return RulePackage(name="Vale", path=where, rules=tuple(rules))


def _terms(path: Path) -> list[str]:
    if not path.is_file():
        return []
    lines = (line.strip() for line in read_text(path, what="a Vale vocabulary").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def read_vocabularies(styles_path: Path | None, names: Sequence[str], where: str) -> Vocabulary:
    """The named vocabularies under ``styles_path``, merged in order; ``where`` names the
    config for errors. A name with no folder is a user error, as in Vale."""
    accept: dict[str, None] = {}
    reject: dict[str, None] = {}
    folders: list[Path] = []
    for name in names:
        candidates = [styles_path / sub / name for sub in _FOLDERS] if styles_path else []
        folder = next((c for c in candidates if c.is_dir()), None)
        if folder is None:
            raise UserInputError(
                f"{where}: Vocab '{name}' not found (looked for config/vocabularies/{name} "
                f"and Vocab/{name} under StylesPath)"
            )
        folders.append(folder)
        accept.update(dict.fromkeys(_terms(folder / "accept.txt")))
        reject.update(dict.fromkeys(_terms(folder / "reject.txt")))
    return Vocabulary(accept=tuple(accept), reject=tuple(reject), folders=tuple(folders))
