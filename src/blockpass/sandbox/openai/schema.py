"""The rules of OpenAI strict mode for a JSON schema (``response_format`` and function tools).

Strict mode needs every object closed (``additionalProperties: false``) and every property
listed in ``required`` (``PROVIDERS.md``); a response format's root must be an object. The
error text follows the API's ``In context=(...)`` form, the path of keys to the offending node.
"""

from __future__ import annotations

from typing import Any

from blockpass.sandbox.openai.errors import invalid

_CHILD_MAPS = ("properties", "$defs", "definitions")
_CHILD_LISTS = ("anyOf", "allOf", "prefixItems")


def check_strict_schema(schema: dict[str, Any], subject: str, param: str) -> None:
    if schema.get("type") != "object":
        raise invalid(
            f"Invalid schema for {subject}: schema must be a JSON Schema of 'type: \"object\"', "
            f"got 'type: \"{schema.get('type')}\"'.",
            param,
        )
    _visit(schema, (), subject, param)


def _visit(node: object, context: tuple[str, ...], subject: str, param: str) -> None:
    if not isinstance(node, dict):
        return
    if node.get("type") == "object" or "properties" in node:
        where = f"Invalid schema for {subject}: In context={context!r}"
        if node.get("additionalProperties") is not False:
            raise invalid(
                f"{where}, 'additionalProperties' is required to be supplied and to be false.",
                param,
            )
        properties = node.get("properties", {})
        required = node.get("required", [])
        missing = [name for name in properties if name not in required]
        if missing or not isinstance(required, list):
            raise invalid(
                f"{where}, 'required' is required to be supplied and to be an array including "
                f"every key in properties. Missing '{missing[0] if missing else ''}'.",
                param,
            )
    for key in _CHILD_MAPS:
        children = node.get(key)
        if isinstance(children, dict):
            for name, child in children.items():
                _visit(child, (*context, key, name), subject, param)
    for key in _CHILD_LISTS:
        children = node.get(key)
        if isinstance(children, list):
            for index, child in enumerate(children):
                _visit(child, (*context, key, str(index)), subject, param)
    if isinstance(node.get("items"), dict):
        _visit(node["items"], (*context, "items"), subject, param)
