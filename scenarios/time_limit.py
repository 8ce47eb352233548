"""A time limit on a network file's own code, and no way for it to end the process quietly.

A network file's top level and each call of its ``forward()`` (or ``story()``) run inside
:func:`user_code`. Past the limit the code is interrupted where it is and the load fails with a
message naming the line it was running, so an endless loop or a ``time.sleep(3600)`` is an error,
not a frozen terminal. On the main thread (the CLI) a ``SIGALRM`` timer interrupts even a sleep;
on another thread (the TUI loads and trains in workers) a watchdog thread raises the timeout in
it, which stops Python code (a call blocked inside C code ends when that call returns).

``os._exit()`` called by the file is turned into an error too, so that a forward pass cannot end
the process with status 0 as if all went well.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn

from .errors import LoadError, fail

__all__ = ["DEFAULT_TIMEOUT", "TimeLimitExceeded", "set_timeout", "timeout", "user_code"]

# Seconds for the file's top level, and for each call of forward(): generous for a network one
# steps through by hand (a 20,000-node forward pass takes well under a second; importing torch a
# few seconds), short enough that a hang is reported before anyone gives up waiting.
DEFAULT_TIMEOUT = 15.0
_timeout = DEFAULT_TIMEOUT


class TimeLimitExceeded(BaseException):
    """Raised inside the file's code when it ran past its time limit (not an ``Exception``, so
    that the file's own ``except Exception`` cannot swallow it)."""


class OsExitCalled(BaseException):
    """Raised inside the file's code in place of ``os._exit(status)``."""


def set_timeout(seconds: float) -> None:
    """Set the limit for every later run of a network file's code (``--timeout``)."""
    global _timeout
    if not seconds > 0:
        raise ValueError(f"the time limit must be a positive number of seconds, not {seconds}")
    _timeout = float(seconds)


def timeout() -> float:
    """The current limit, in seconds."""
    return _timeout


def _line_in(frame: FrameType | None, path: str) -> int | None:
    """The line the innermost frame running ``path``'s code is at."""
    while frame is not None:
        if frame.f_code.co_filename == path:
            return frame.f_lineno
        frame = frame.f_back
    return None


class _Watchdog:
    """One daemon thread that interrupts other threads past their deadline."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.deadlines: dict[int, tuple[float, str]] = {}
        self.fired: dict[int, int | None] = {}  # thread id -> the line it was interrupted at
        self.thread: threading.Thread | None = None

    def start(self, path: str, seconds: float) -> None:
        with self.lock:
            self.deadlines[threading.get_ident()] = (time.monotonic() + seconds, path)
            self.fired.pop(threading.get_ident(), None)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="gradstep-watchdog",
                                               daemon=True)
                self.thread.start()
            self.lock.notify()

    def stop(self, finished: bool) -> int | None:
        """End this thread's deadline; return the line it was interrupted at, if it was.

        ``finished``: the block ended on its own, so a timeout raised just too late (still
        pending in this thread) is taken back.
        """
        ident = threading.get_ident()
        with self.lock:
            self.deadlines.pop(ident, None)
            if ident in self.fired and finished:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), None)
            return self.fired.pop(ident, None)

    def _run(self) -> None:
        with self.lock:
            while True:
                now = time.monotonic()
                for ident, (deadline, path) in list(self.deadlines.items()):
                    if deadline <= now:
                        del self.deadlines[ident]
                        self.fired[ident] = _line_in(sys._current_frames().get(ident), path)
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(
                            ctypes.c_ulong(ident), ctypes.py_object(TimeLimitExceeded))
                wait = min((d for d, _ in self.deadlines.values()), default=now + 3600) - now
                self.lock.wait(max(wait, 0.01))


_watchdog = _Watchdog()
_active = threading.local()


@contextmanager
def _main_thread_alarm(path: str, seconds: float) -> Iterator[list[int | None]]:
    where: list[int | None] = []

    def alarm(signum: int, frame: FrameType | None) -> NoReturn:
        where.append(_line_in(frame, path))
        raise TimeLimitExceeded

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield where
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _refuse_exit(status: int = 0) -> NoReturn:
    raise OsExitCalled(status)


@contextmanager
def user_code(path: str, when: str) -> Iterator[None]:
    """Run a block of the network file ``path``'s code under the time limit.

    Parameters
    ----------
    path
        The file, as its code objects name it (messages name it too).
    when
        ``"while running the file"``, ``"inside forward()"`` …, put into the messages.

    Raises
    ------
    LoadError
        When the block ran past the limit (naming the line it was at), or called ``os._exit``.
    """
    if getattr(_active, "depth", 0):  # nested (forward() called from the file's top level)
        yield
        return
    seconds = _timeout
    on_main = threading.current_thread() is threading.main_thread()
    _active.depth = 1
    real_exit: Callable[[int], NoReturn] = os._exit
    os._exit = _refuse_exit
    line: int | None = None
    try:
        if on_main:
            with _main_thread_alarm(path, seconds) as where:
                try:
                    yield
                except TimeLimitExceeded:
                    line = where[0] if where else None
                    raise
        else:
            _watchdog.start(path, seconds)
            try:
                yield
            except TimeLimitExceeded:
                line = _watchdog.stop(finished=False)
                raise
            except BaseException:
                _watchdog.stop(finished=True)
                raise
            _watchdog.stop(finished=True)
    except TimeLimitExceeded:
        raise _too_slow(path, when, seconds, line) from None
    except OsExitCalled as exc:
        raise fail(path, f"the file called os._exit({exc.args[0] if exc.args else ''}) {when}; a "
                         f"network file must not end the process.") from None
    finally:
        os._exit = real_exit
        _active.depth = 0


def _too_slow(path: str, when: str, seconds: float, line: int | None) -> LoadError:
    return fail(path, f"gradstep stopped it after {seconds:g} seconds {when}, its time limit "
                      f"(an endless loop, a long sleep, or a network too big to step through?). "
                      f"Make it finish sooner, or allow more time with --timeout SECONDS.", line)
