"""Read-ahead: pull the next pages of a source in a background thread while the caller works on this one.

Reading a Graph page is mostly waiting on a socket, which releases the GIL, so the engine can assess
and write one page while the next are on their way. At most ``depth`` pages wait in between; an error of
the reader is raised in the caller, at the page where it happened; closing the read-ahead stops the
reader and waits for it, so the source is never used by two threads at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

__all__ = ["READ_AHEAD_PAGES", "ReadAhead"]

T = TypeVar("T")
_POLL_S = 0.05  # how soon a reader blocked on a full queue notices that it should stop

# Pages the reader may hold ahead of the caller (a Graph page of 999 users is about 1 MB as dicts).
# The engine works in bursts: it assesses pages quickly, then commits a batch for a few seconds. With
# two pages ahead the reader stopped for the length of every commit and the engine then waited for
# pages; 1,000,000 accounts from the emulator waited 13-14 s for pages and took 58.6-60.8 s, against
# 4.7 s / 53.2 s with 32 ahead and 0.9 s / 48.7 s with 96 (peak RSS 676 and 745 MiB). 64 keeps the
# reader going through a commit for about 64 MB at most.
READ_AHEAD_PAGES = 64


class _End:
    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class ReadAhead(Generic[T]):
    """Iterate ``pages`` through a background reader; use it as a context manager so the reader ends.

    ``with ReadAhead(source.iter_users(...)) as pages: for page in pages: ...`` — leaving the block
    (normally, by an exception or a cancel) stops the reader after the page it is reading and closes
    the underlying iterator in the reader's own thread.
    """

    def __init__(self, pages: Iterable[T], depth: int = READ_AHEAD_PAGES, name: str = "idmctl-read-ahead") -> None:
        if depth < 1:
            raise ValueError(f"read-ahead depth must be at least 1, not {depth}")
        self._pages = pages
        self._queue: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._read, name=name, daemon=True)
        self._thread.start()

    def _offer(self, item: T | _End) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        it = iter(self._pages)
        error: BaseException | None = None
        try:
            for page in it:
                if not self._offer(page):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            error = exc
        finally:
            close = getattr(it, "close", None)
            if callable(close):
                close()
        self._offer(_End(error))

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if isinstance(item, _End):
            self._done = True
            self._thread.join()
            if item.error is not None:
                raise item.error
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the reader (after the page it is reading) and wait for it to end."""
        self._done = True
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
