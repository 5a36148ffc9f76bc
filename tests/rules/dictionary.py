"""Whether the default spelling dictionary is on this machine: tests that lint with a
spelling rule (``Vale.Spelling`` comes with ``BasedOnStyles = Vale``) need it."""

from __future__ import annotations

import pytest

from blockpass.rules.spelling import DEFAULT_DICTIONARY, SYSTEM_DICTIONARY_FOLDERS

EN_US_INSTALLED = any(
    (folder / f"{DEFAULT_DICTIONARY}.dic").is_file() for folder in SYSTEM_DICTIONARY_FOLDERS
)
requires_en_us = pytest.mark.skipif(
    not EN_US_INSTALLED,
    reason="Debian's hunspell-en-us (the default en_US dictionary) is not installed; "
    ".ci/run installs it",
)
