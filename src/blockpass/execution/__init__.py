"""Running packs against providers: realtime now, provider batches later."""
