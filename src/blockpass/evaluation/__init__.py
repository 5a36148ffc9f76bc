"""The quality harness (``blockpass eval``) and the routing replay.

``labelled`` (ground truth) → ``sweep`` (real jobs per model, mode and pack size) →
``scoring`` (per block, bootstrap intervals) → ``summary`` → ``report`` (plots, HTML, JSON)
and ``bounds`` (the pack-size bound per model); ``router_replay`` judges routers on a table
of every tier's answers.
"""
