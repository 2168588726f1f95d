"""Ctrl-C and SIGTERM end a command cleanly: the work stops where it is and unwinds.

The signal handler raises `Interrupted`, a `BaseException`, so that no `except
Exception` swallows it while every `finally` and `with` on the way out runs: the
open transaction is rolled back, an unfinished output file is removed, the
embedded server is stopped. The CLI's entry point catches it last and exits with
the shell's status for the signal (130 for SIGINT, 143 for SIGTERM).

The JVM must leave these signals to Python: it is started with `-Xrs` (see
`kdcvg.graph.server._start_jvm`); otherwise its own SIGTERM handler calls back
into Python from a Java thread and the process dies with SIGSEGV.
"""

from __future__ import annotations

import signal
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A stop signal arrived; raised in the main thread wherever it was working.

    Args:
        signum: the signal's number.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        """The shell's convention for a command ended by a signal: 128 + its number."""
        return 128 + self.signum


_unwinding = False


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    global _unwinding
    if _unwinding:  # a second Ctrl-C must not break the rollback and shutdown under way
        return
    _unwinding = True
    raise Interrupted(signum)


def install() -> None:
    """Make SIGINT and SIGTERM raise `Interrupted` in the main thread.

    A signal the parent set to be ignored stays ignored (a background job started
    by a shell ignores SIGINT; `nohup` ignores SIGHUP), as Python itself does for
    SIGINT.
    """
    global _unwinding
    _unwinding = False
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _raise_interrupted)


def ignore() -> None:
    """Ignore SIGINT and SIGTERM from now on (the command is over and is exiting)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def interrupt_of(error: BaseException | None) -> Interrupted | None:
    """The `Interrupted` behind `error`: itself, or what was being handled when it rose.

    An error raised while unwinding an interrupt (a rollback over a connection cut
    mid-message, say) still ends the command as that interrupt.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, Interrupted):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
