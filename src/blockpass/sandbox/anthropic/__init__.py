"""The Anthropic Messages API, as the sandbox speaks it."""
