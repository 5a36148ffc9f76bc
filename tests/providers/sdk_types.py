"""Checks a request body against an official SDK's request type (its ``TypedDict``s).

Stricter than validating with pydantic, which drops unknown keys: a key the SDK's type does
not name, a missing required key, a value of the wrong type or outside a ``Literal`` all
fail, with the path to the offending value.
"""

from __future__ import annotations

import collections.abc
import types
import typing
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin

import typing_extensions

_SEQUENCES = {list, tuple, collections.abc.Iterable, collections.abc.Sequence}
_MAPPINGS = {dict, collections.abc.Mapping}


def mismatch(value: Any, annotation: Any, path: str = "body") -> str | None:
    """Why ``value`` does not fit ``annotation``, or None when it does."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (typing.Annotated, typing_extensions.Annotated, Required, NotRequired):
        return mismatch(value, args[0], path)
    if annotation in (Any, object):
        return None
    if origin in (Union, types.UnionType):
        reasons = [mismatch(value, member, path) for member in args]
        return None if None in reasons else " / ".join(str(reason) for reason in reasons)
    if origin in (Literal, typing_extensions.Literal):
        return None if value in args else f"{path}: {value!r} is not one of {args}"
    if typing_extensions.is_typeddict(annotation):
        return _typeddict_mismatch(value, annotation, path)
    if origin in _SEQUENCES or _is_sequence_protocol(annotation):
        if not isinstance(value, list):
            return f"{path}: a list was expected, not {value!r}"
        element = args[0] if args else Any
        return next(
            (
                reason
                for index, item in enumerate(value)
                if (reason := mismatch(item, element, f"{path}[{index}]"))
            ),
            None,
        )
    if origin in _MAPPINGS:
        if not isinstance(value, dict):
            return f"{path}: an object was expected, not {value!r}"
        element = args[1] if args else Any
        return next(
            (
                reason
                for key, item in value.items()
                if (reason := mismatch(item, element, f"{path}.{key}"))
            ),
            None,
        )
    if annotation is None or annotation is type(None):
        return None if value is None else f"{path}: null was expected, not {value!r}"
    if annotation is float:
        annotation = (int, float)
    if isinstance(annotation, type | tuple) and isinstance(value, annotation):
        return None
    return f"{path}: {value!r} is not a {annotation}"


def _typeddict_mismatch(value: Any, annotation: Any, path: str) -> str | None:
    if not isinstance(value, dict):
        return f"{path}: an object ({annotation.__name__}) was expected, not {value!r}"
    hints = typing_extensions.get_type_hints(annotation, include_extras=True)
    unknown = set(value) - set(hints)
    if unknown:
        return f"{path}: {annotation.__name__} has no keys {sorted(unknown)}"
    missing = set(annotation.__required_keys__) - set(value)
    if missing:
        return f"{path}: {annotation.__name__} needs keys {sorted(missing)}"
    return next(
        (
            reason
            for key, item in value.items()
            if (reason := mismatch(item, hints[key], f"{path}.{key}"))
        ),
        None,
    )


def _is_sequence_protocol(annotation: Any) -> bool:
    """The SDKs' ``SequenceNotStr[...]``, a sequence of anything but a string."""
    return getattr(get_origin(annotation), "__name__", "") == "SequenceNotStr"
