"""Distributed runs: a job submitted to a PostgreSQL store and sent by workers on any machine,
on Procrastinate (`submit.py`, `worker.py`, `jobs.py`), sharing the provider account's rate
limits (`account_limits.py`); `progress.py` tells how far a run is and writes its outputs.

Imported only by the commands that use it: it needs the `postgresql` extra.
"""
