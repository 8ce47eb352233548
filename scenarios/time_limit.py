"""A time limit on a network file's own code, and no way for it to end the process quietly.

A network file's top level and each call of its ``forward()`` (or ``story()``) run inside
:func:`user_code`. Past the limit the code is interrupted where it is and the load fails with a
message naming the line it was running, so an endless loop or a ``time.sleep(3600)`` is an error,
not a frozen terminal. A watchdog thread interrupts the code: on the main thread (the CLI) with
``SIGALRM``, which ends even a sleep; on another thread (the TUI loads and trains in workers) by
raising the timeout in it, which stops Python code (a call blocked inside C code ends only when
that call returns).

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

from .errors import LoadError, fail, innermost_line

__all__ = ["DEFAULT_TIMEOUT", "TimeLimitExceeded", "set_timeout", "timeout", "user_code",
           "watch_ctrl_c"]

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
    """One daemon thread that interrupts a thread running the file's code past its deadline:
    the main thread with ``SIGALRM`` (which also ends a sleep), another thread by raising
    :class:`TimeLimitExceeded` in it.

    Starting and stopping a deadline is a dictionary update under a lock, cheap enough for
    every call of ``forward()`` in a long training run; the thread wakes only when the earliest
    deadline it knows of comes.
    """

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.deadlines: dict[int, tuple[float, str]] = {}
        self.fired: dict[int, int | None] = {}  # thread id -> the line it was interrupted at
        self.wake_at = float("inf")
        self.thread: threading.Thread | None = None
        self.main = threading.main_thread().ident

    def start(self, path: str, seconds: float) -> None:
        ident = threading.get_ident()
        deadline = time.monotonic() + seconds
        with self.lock:
            self.deadlines[ident] = (deadline, path)
            self.fired.pop(ident, None)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="gradstep-watchdog",
                                               daemon=True)
                self.thread.start()
            if deadline < self.wake_at:
                self.lock.notify()

    def stop(self, finished: bool) -> int | None:
        """End this thread's deadline; return the line it was interrupted at, if it was.

        ``finished``: the block ended on its own, so a timeout raised just too late (still
        pending in this thread) is taken back.
        """
        ident = threading.get_ident()
        with self.lock:
            self.deadlines.pop(ident, None)
            if ident in self.fired and finished and ident != self.main:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), None)
            return self.fired.pop(ident, None)

    def fired_here(self) -> bool:
        """Whether this thread is running the file's code and past its deadline."""
        with self.lock:
            return threading.get_ident() in self.fired

    def _run(self) -> None:
        with self.lock:
            while True:
                now = time.monotonic()
                for ident, (deadline, path) in list(self.deadlines.items()):
                    if deadline <= now:
                        del self.deadlines[ident]
                        self.fired[ident] = _line_in(sys._current_frames().get(ident), path)
                        if ident == self.main:
                            signal.pthread_kill(ident, signal.SIGALRM)
                        else:
                            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                                ctypes.c_ulong(ident), ctypes.py_object(TimeLimitExceeded))
                self.wake_at = min((d for d, _ in self.deadlines.values()), default=now + 3600)
                self.lock.wait(max(self.wake_at - now, 0.01))


_watchdog = _Watchdog()
_active = threading.local()
_alarm_installed = False  # the main thread's SIGALRM handler, installed on first use


def _alarm(signum: int, frame: FrameType | None) -> None:
    # Only while the main thread runs the file's code past its deadline; a late signal is
    # ignored.
    if getattr(_active, "depth", 0) and _watchdog.fired_here():
        raise TimeLimitExceeded


_REAL_EXIT: Callable[[int], NoReturn] = os._exit
_ctrl_c = threading.Event()  # set by a real Ctrl+C, once watch_ctrl_c() is on
_watching_ctrl_c = False


def watch_ctrl_c() -> None:
    """Tell a real Ctrl+C (SIGINT) from a ``KeyboardInterrupt`` the file raises itself: the
    first stops gradstep quietly (exit 130), the second is the file's error (exit 2). Call it
    on the main thread (the CLI does)."""
    global _watching_ctrl_c

    def interrupted(signum: int, frame: FrameType | None) -> NoReturn:
        _ctrl_c.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    _watching_ctrl_c = True


def _exit_unless_in_user_code(status: int = 0) -> NoReturn:
    """``os._exit``, once a file has run: refused (raised) in the file's code, on any thread."""
    if getattr(_active, "depth", 0):
        raise OsExitCalled(status)
    _REAL_EXIT(status)


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
    global _alarm_installed
    if not _alarm_installed and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGALRM, _alarm)
        _alarm_installed = True
    seconds = _timeout
    _active.depth = 1
    os._exit = _exit_unless_in_user_code  # stays: it only refuses inside a file's code
    _watchdog.start(path, seconds)
    finished = False
    try:
        yield
        finished = True
    except TimeLimitExceeded:
        pass
    except KeyboardInterrupt as exc:
        if _ctrl_c.is_set() or not _watching_ctrl_c:
            raise
        raise fail(path, f"the file raised KeyboardInterrupt {when} (nobody pressed Ctrl+C); a "
                         f"network file must not raise it.",
                   innermost_line(exc.__traceback__, path)) from None
    except OsExitCalled as exc:
        raise fail(path, f"the file called os._exit({exc.args[0] if exc.args else ''}) {when}; a "
                         f"network file must not end the process.") from None
    finally:
        line = _watchdog.stop(finished)
        _active.depth = 0
    if not finished:
        raise _too_slow(path, when, seconds, line)


def _too_slow(path: str, when: str, seconds: float, line: int | None) -> LoadError:
    return fail(path, f"gradstep stopped it after {seconds:g} seconds {when}, its time limit "
                      f"(an endless loop, a long sleep, or a network too big to step through?). "
                      f"Make it finish sooner, or allow more time with --timeout SECONDS.", line)
