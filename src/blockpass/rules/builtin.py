"""Vale's built-in ``Vale`` style: ``Vale.Spelling``, ``Vale.Repetition``, and the Vocab
rules ``Vale.Terms`` and ``Vale.Avoid`` (``rules/vocab.py``).

Vale loads the built-in rules only when a config names the style (``BasedOnStyles = Vale``
or a switch such as ``Vale.Spelling = YES``); then they run where a section enables them,
as any style's rules do. Their definitions are Vale's own (``defaultRules`` in
``internal/check/definition.go``): both are errors on the ``text`` scope.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from blockpass.rules.vale import Rule, RulePackage, rule_from_mapping
from blockpass.rules.vocab import Vocabulary

__all__ = ["BUILT_IN_STYLE", "built_in_package"]

BUILT_IN_STYLE = "Vale"

_DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "Repetition": {
        "extends": "repetition",
        "message": "'%s' is repeated!",
        "level": "error",
        "scope": "text",
        "alpha": True,
        "action": {"name": "edit", "params": ["truncate", " "]},
        "tokens": [r"[^\s]+"],
    },
    "Spelling": {
        "extends": "spelling",
        "message": "Did you really mean '%s'?",
        "level": "error",
        "scope": "text",
        "action": {"name": "suggest", "params": ["spellings"]},
    },
}


def built_in_package(
    vocabulary: Vocabulary, styles_path: Path, *, defaults: bool
) -> RulePackage | None:
    """The ``Vale`` style: the Vocab rules there are terms for, and with ``defaults`` (the
    config names the style) ``Vale.Repetition`` and ``Vale.Spelling``. Their files are
    taken to sit in ``StylesPath/Vale``, where a spelling rule finds its project files."""
    vocab = vocabulary.package()
    rules: list[Rule] = list(vocab.rules) if vocab is not None else []
    folder = styles_path / BUILT_IN_STYLE
    if defaults:
        rules += [
            rule_from_mapping(definition, path=folder / f"{name}.yml", style=BUILT_IN_STYLE)
            for name, definition in _DEFAULT_RULES.items()
        ]
    if not rules:
        return None
    return RulePackage(name=BUILT_IN_STYLE, path=folder, rules=tuple(rules))
