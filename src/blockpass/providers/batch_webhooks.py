"""Batch webhooks for one run directory: the vendor's signed events, recorded in the run's
store so that the run waiting on a batch collects its results at once.

Only OpenAI announces finished batches by webhook (``openai_webhooks.py`` verifies them);
the rest is a store and a Batch API, whatever the vendor.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette

from blockpass.errors import UserInputError
from blockpass.execution.batch_waiting import record_batch_event
from blockpass.providers.batches import BatchApi
from blockpass.providers.connections import DEFAULT_MODELS, connect, parse_connection
from blockpass.providers.openai_webhooks import DEFAULT_PATH, create_webhook_app
from blockpass.store import RUN_FILE_NAME, RunStore, open_sqlite_store

__all__ = ["DEFAULT_PATH", "WEBHOOK_VENDOR", "create_run_receiver", "open_run_receiver"]

WEBHOOK_VENDOR = "openai"


def create_run_receiver(
    store: RunStore, api: BatchApi, *, secret: str, path: str = DEFAULT_PATH
) -> Starlette:
    """The receiver for one run's store: replays checked against it, and each batch event
    recorded there for the run waiting on the batch (``record_batch_event``)."""

    async def on_batch_event(batch_id: str, event_type: str) -> bool:
        return await record_batch_event(store, api, batch_id)

    return create_webhook_app(
        secret=secret, on_batch_event=on_batch_event, deliveries=store, path=path
    )


async def open_run_receiver(
    run_dir: Path, *, secret: str, api_key: str, base_url: str | None, path: str = DEFAULT_PATH
) -> Starlette:
    """The receiver for the run in ``run_dir``, fetching batches from the API of the run's
    model at ``base_url`` (None: the vendor's own). The store stays open while it serves."""
    if not (run_dir / RUN_FILE_NAME).is_file():
        raise UserInputError(f"{run_dir} is not a run directory (no {RUN_FILE_NAME})")
    store = await open_sqlite_store(run_dir)
    model = (await store.settings()).get("model", DEFAULT_MODELS[WEBHOOK_VENDOR])
    provider = connect(
        parse_connection(f"{WEBHOOK_VENDOR}:{model}"), api_key=api_key, base_url=base_url
    )
    api = provider.batches
    if api is None:
        raise UserInputError(f"{model} has no batch API")
    return create_run_receiver(store, api, secret=secret, path=path)
