"""A run stays stoppable: signal dispositions the process inherited and its helpers would inherit too."""

from __future__ import annotations

import signal


def restore_default_sigterm() -> None:
    """Give SIGTERM its default action when the launcher left it ignored (``SIG_IGN`` survives ``exec``).

    Dagster stops the ``tail`` processes that mirror compute logs with SIGTERM; started under an ignored SIGTERM
    they outlive the run and hold its stdout open, so whoever reads that output waits forever.
    """
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
