"""Partitioned full reads: disjoint ``$filter`` partitions of ``/users`` that cover every user, read at once.

One listing's pages are a chain (``@odata.nextLink`` carries an opaque ``$skiptoken``), so a tenant
read as one listing takes as many round trips in a row as it has pages. Several listings can run at
once. ``id`` supports only ``eq``/``ne``/``in``, but ``startsWith(userPrincipalName, …)`` is filterable
by default, and a UPN may only begin with ``A–Z a–z 0–9 ' . - _ ! # ^ ~`` (Graph refuses any other):

- one partition per allowed first character (``startswith`` ignores case, so a letter is one
  partition for both cases): two partitions never hold the same user, since a UPN has one first
  character;
- a catch-all, ``not(startswith(…, c1) or … or startswith(…, cn))``, holds whatever the others do not
  (no user, unless Graph's rule changes; a null UPN too). ``not`` needs Graph's advanced query
  (``ConsistencyLevel: eventual`` and ``$count=true``), which is eventually consistent: a user created
  during the read may be missing from it, as from any read that is not a snapshot.

So every user is in exactly one partition. A read of partitions is not a snapshot: a user whose UPN
changes during the read may move to a partition already read (not seen) or not yet read (seen twice:
the pages hand on each id once). The caller therefore never concludes absence from "not seen": the
engine confirms unseen linked sources by id, and the delta link taken before the read replays every
change made during it.

Throttling is per application and tenant, so all partitions share one budget: ``ThrottleGate`` holds
every partition's next request back while any of them was told to wait (``Retry-After``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from controller.connectors.msgraph._transport import RETRY_STATUSES, parse_retry_after

__all__ = [
    "LIKELY_LARGEST",
    "UPN_FIRST_CHARACTERS",
    "GatedSession",
    "Partition",
    "ThrottleGate",
    "read_partitions",
    "upn_partitions",
]

# The characters a userPrincipalName may hold (Graph's user resource: "Only the following characters
# are allowed A - Z, a - z, 0 - 9, ' . - _ ! # ^ ~"), letters once: startswith ignores case.
UPN_FIRST_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789'.-_!#^~"
# The order partitions are read in: the letters most given names (so most first.last UPNs) begin with
# first, then the rest. A read of K partitions at a time lasts at least as long as its largest partition;
# starting the largest ones first (longest-processing-time first) keeps the last round from waiting on
# one that started late. Only the order depends on it: every user is still in exactly one partition.
# (Measured at 200 ms per page, 100,000 users, 8 at a time: 6.7 s alphabetically; see README.)
LIKELY_LARGEST = "jmadcksrlbetgpnhvwfioyzuqx"
_POLL_S = 0.05


class Partition:
    """One partition: its ``$filter`` and whether it needs Graph's advanced query parameters."""

    __slots__ = ("advanced", "filter", "name")

    def __init__(self, name: str, filter_: str, advanced: bool) -> None:
        self.name = name
        self.filter = filter_
        self.advanced = advanced

    def __repr__(self) -> str:
        return f"Partition({self.name!r})"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def upn_partitions(pushdown: str | None = None,
                   characters: str = UPN_FIRST_CHARACTERS) -> list[Partition]:
    """The partitions of a full read: one per first character of a UPN (the likely largest first,
    ``LIKELY_LARGEST``), then the catch-all; each ``and``-ed with ``pushdown`` (the mapping's filter
    pushed down to Graph) when there is one."""
    rank = {c: i for i, c in enumerate(LIKELY_LARGEST)}
    characters = "".join(sorted(characters, key=lambda c: rank.get(c, len(rank))))  # stable: the rest in order
    clauses = [f"startswith(userPrincipalName,{_literal(c)})" for c in characters]
    parts = [Partition(c, clause, False) for c, clause in zip(characters, clauses, strict=True)]
    parts.append(Partition("other", f"not({' or '.join(clauses)})", True))
    if pushdown:
        for part in parts:
            part.filter = f"({pushdown}) and {part.filter}"
    return parts


class ThrottleGate:
    """One back-off for every partition: after a throttled answer, nobody sends before it ends."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._sleep = sleep
        self._clock = clock
        self._until = 0.0
        self._lock = threading.Lock()

    def hold(self, seconds: float) -> None:
        """Nobody sends for ``seconds`` from now (a longer hold already set stays)."""
        with self._lock:
            self._until = max(self._until, self._clock() + seconds)

    def wait(self) -> None:
        """Wait out the hold in force now, if any."""
        with self._lock:
            left = self._until - self._clock()
        if left > 0:
            self._sleep(left)


class GatedSession(requests.Session):
    """A ``requests.Session`` whose every request waits on the shared ``ThrottleGate`` first, and sets
    it from a throttled answer's ``Retry-After``; its pool keeps a connection per reader."""

    def __init__(self, gate: ThrottleGate, connections: int) -> None:
        super().__init__()
        self.gate = gate
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(10, connections + 2))
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        self.gate.wait()
        response = super().request(method, url, *args, **kwargs)
        if response.status_code in RETRY_STATUSES:
            after = parse_retry_after(response.headers.get("Retry-After"))
            if after is not None:
                self.gate.hold(after)
        return response


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def read_partitions(partitions: list[Partition], read: Callable[[Partition], Iterator[list[dict[str, Any]]]],
                    concurrency: int) -> Iterator[list[dict[str, Any]]]:
    """Pages of every partition, read ``concurrency`` partitions at a time, each user id handed on once.

    ``read(partition)`` yields one partition's pages. The first error of any reader stops the others
    and is raised here: a read that does not complete every partition does not complete. Closing
    the iterator stops the readers and waits for them.
    """
    todo: queue.Queue[Partition] = queue.Queue()
    for part in partitions:
        todo.put(part)
    out: queue.Queue[Any] = queue.Queue(maxsize=2 * concurrency)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def reader() -> None:
        try:
            while not stop.is_set():
                try:
                    part = todo.get_nowait()
                except queue.Empty:
                    return
                pages = read(part)
                try:
                    for page in pages:
                        if not offer(page):
                            return
                finally:
                    close = getattr(pages, "close", None)
                    if callable(close):
                        close()
        except BaseException as exc:  # handed to the consumer, which raises it
            offer(_Failed(exc))
        finally:
            offer(_DONE)

    threads = [threading.Thread(target=reader, name=f"idmctl-partition-{i}", daemon=True)
               for i in range(max(1, min(concurrency, len(partitions))))]
    for thread in threads:
        thread.start()
    seen: set[str] = set()
    running = len(threads)
    try:
        while running:
            item = out.get()
            if item is _DONE:
                running -= 1
                continue
            if isinstance(item, _Failed):
                raise item.error
            page = [u for u in item if u["id"] not in seen]
            seen.update(u["id"] for u in page)
            if page:
                yield page
    finally:
        stop.set()
        for thread in threads:
            thread.join()
