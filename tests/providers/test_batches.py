"""What each batch adapter shows of a batch's requests: the proof a run needs that a batch it
finds at the provider is its own (``execution/ownership.py``)."""

from __future__ import annotations

import pytest

from blockpass.packformat import RESULT_SCHEMA
from blockpass.providers import batch_api, model_profile, open_adapter
from blockpass.providers.batches import BatchItem
from blockpass.sandbox import DEFAULT_API_KEY
from tests.providers.requests import prefix_and_pack
from tests.sandbox.support import StartSandbox

pytestmark = pytest.mark.anyio
BATCH_TIME = 120.0
CUSTOM_IDS = frozenset({"p-1-token", "p-2-token"})


@pytest.mark.parametrize(
    ("model", "shown_while_running"),
    [("claude-sonnet-4-5", None), ("gpt-5-mini", CUSTOM_IDS)],
)
async def test_a_batch_shows_its_custom_ids_once_the_provider_returns_them(
    start_sandbox: StartSandbox, model: str, shown_while_running: frozenset[str] | None
) -> None:
    """Anthropic names the requests only in the results, once a batch has ended; OpenAI keeps
    the input file, so from the start. A batch the provider does not know shows none."""
    running = start_sandbox()
    profile = model_profile(model)
    base_url = running.server.base_url + ("/v1" if profile.provider == "openai" else "")
    provider = open_adapter(profile, api_key=DEFAULT_API_KEY, base_url=base_url, name="sandbox")
    api = batch_api(provider)
    assert api is not None
    request = prefix_and_pack(
        model=model,
        system="Check the text.",
        cache_ttl=None,
        user="Hello.",
        max_tokens=100,
        schema=RESULT_SCHEMA,
    )
    items = [BatchItem(custom_id=custom_id, request=request) for custom_id in sorted(CUSTOM_IDS)]
    batch_id = await api.submit(items, label="blockpass-test")
    assert await api.custom_ids(batch_id) == shown_while_running
    running.clock.advance(BATCH_TIME)
    assert await api.custom_ids(batch_id) == CUSTOM_IDS
    missing = "msgbatch_missing" if profile.provider == "anthropic" else "batch_missing"
    assert await api.custom_ids(missing) == frozenset()
    await provider.aclose()
