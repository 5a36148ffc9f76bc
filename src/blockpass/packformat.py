"""How a pack of blocks is shown to a model, and the compact shape its answer must take.

A pack is rendered as tagged blocks with short ids, so ids cost almost nothing::

    <block id="b1" kind="paragraph">
    The text of the block.
    </block>

The model answers with one verdict per id (never "list the ids that need changes"):
``ok``; ``edit`` with ``{find, replace, rule}`` edits (and any notes); or ``flag`` with notes.
An unchanged block costs a few output tokens instead of its full text.

The schema obeys the structured-output limits of both Anthropic and OpenAI strict mode:
every object closes with ``additionalProperties: false`` and lists every property as required.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "RESULT_SCHEMA",
    "RESULT_TOOL_NAME",
    "PackedBlock",
    "parse_pack",
    "render_pack",
]

RESULT_TOOL_NAME = "record_results"


@dataclass(frozen=True, slots=True, kw_only=True)
class PackedBlock:
    id: str
    kind: str
    text: str


def render_pack(blocks: Iterable[PackedBlock]) -> str:
    return "\n".join(
        f'<block id="{block.id}" kind="{block.kind}">\n{block.text}\n</block>' for block in blocks
    )


_BLOCK = re.compile(r'<block id="([^"]+)" kind="([^"]*)">\n(.*?)\n</block>', re.DOTALL)


def parse_pack(text: str) -> list[PackedBlock]:
    return [
        PackedBlock(id=match[1], kind=match[2], text=match[3]) for match in _BLOCK.finditer(text)
    ]


def _closed_object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


_STRING: dict[str, Any] = {"type": "string"}
_NOTES: dict[str, Any] = {"type": "array", "items": _STRING}
_EDIT = _closed_object({"find": _STRING, "replace": _STRING, "rule": _STRING})

RESULT_SCHEMA: dict[str, Any] = _closed_object(
    {
        "results": {
            "type": "array",
            "items": {
                "anyOf": [
                    _closed_object({"id": _STRING, "verdict": {"type": "string", "enum": ["ok"]}}),
                    _closed_object(
                        {
                            "id": _STRING,
                            "verdict": {"type": "string", "enum": ["edit"]},
                            "edits": {"type": "array", "items": _EDIT},
                            "notes": _NOTES,
                        }
                    ),
                    _closed_object(
                        {
                            "id": _STRING,
                            "verdict": {"type": "string", "enum": ["flag"]},
                            "notes": _NOTES,
                        }
                    ),
                ]
            },
        }
    }
)
