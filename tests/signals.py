"""Children that take Ctrl-C as a program started from a shell does."""

from __future__ import annotations

import signal


def interruptible() -> None:
    """`preexec_fn` for a child that a test interrupts: SIGINT at its default and unblocked.

    A child inherits an ignored or blocked SIGINT from the process that starts it, and Python
    installs no KeyboardInterrupt handler for a SIGINT it starts ignoring; a test process may
    have either from a library an earlier test in the same worker ran (seen in CI: the child
    never saw the signal). A shell starts programs with SIGINT at its default.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
