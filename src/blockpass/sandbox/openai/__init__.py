"""The OpenAI-compatible endpoints of the sandbox: Chat Completions, Files and Batches."""
