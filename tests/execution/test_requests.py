from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from blockpass.execution.planning import PackPlanner
from blockpass.execution.requests import RequestLayout
from blockpass.layout import build_request
from blockpass.providers.base import model_profile
from blockpass.task import load_task
from blockpass.tokens import count_tokens
from tests.execution.test_answers import blocks

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RETRIEVED = "<rule id='Example.Utilize'>Use 'use', not 'utilize'.</rule>\n" * 20


def test_a_requests_counted_input_includes_the_context_part_after_the_prefix() -> None:
    profile = model_profile("claude-sonnet-4-5")
    task = load_task(EXAMPLES / "guide.md")

    def count(text: str) -> int:
        return count_tokens(text, profile.tokenizer)

    layout = RequestLayout(task=task, profile=profile, count=count)
    pack = PackPlanner(
        profile=profile, prefix_tokens=layout.prefix_tokens, min_blocks=1, max_blocks=4, count=count
    ).pack_of(blocks(3))
    plain = layout.request(pack, expected_gap_seconds=0)
    with_context = build_request(
        task, pack, profile, plain.cache_ttl, cache_key=plain.cache_key, context=RETRIEVED
    )

    assert layout.input_tokens(with_context) == layout.input_tokens(plain) + count(RETRIEVED)
    assert replace(with_context, parts=plain.parts) == plain
