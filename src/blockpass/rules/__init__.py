"""Rule corpora and the deterministic rule engine.

``load_vale_package`` reads a Vale style folder into ``Rule`` values, compiling the ones this
engine can run; ``check_text`` runs them over a piece of text and returns ``Alert``s.
``blockpass.lint`` lints whole documents, scope by scope, as Vale does.
"""

from blockpass.rules.alerts import Alert, LintState, Matcher
from blockpass.rules.engine import RegexError, check_text
from blockpass.rules.vale import (
    EXTENSION_POINTS,
    IMPLEMENTED_EXTENSION_POINTS,
    LEVELS,
    Action,
    Rule,
    RulePackage,
    load_styles,
    load_vale_package,
    load_vale_rule,
)

__all__ = [
    "EXTENSION_POINTS",
    "IMPLEMENTED_EXTENSION_POINTS",
    "LEVELS",
    "Action",
    "Alert",
    "LintState",
    "Matcher",
    "RegexError",
    "Rule",
    "RulePackage",
    "check_text",
    "load_styles",
    "load_vale_package",
    "load_vale_rule",
]
