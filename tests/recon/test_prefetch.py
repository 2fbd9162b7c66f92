"""ReadAhead: pages in order from a background reader, errors where they happened, a clean stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from controller.errors import GraphError
from controller.recon._prefetch import ReadAhead


def pages_of(n: int, log: list[str], fail_at: int | None = None) -> Iterator[list[int]]:
    try:
        for i in range(n):
            if i == fail_at:
                raise GraphError("Graph answered 503 Service Unavailable after retries", status=503)
            log.append(f"read {i}")
            yield [i * 10 + k for k in range(3)]
    finally:
        log.append(f"closed in {threading.current_thread().name}")


def test_pages_arrive_in_order_and_the_reader_ends() -> None:
    log: list[str] = []
    with ReadAhead(pages_of(7, log), depth=2, name="reader") as pages:
        got = [page[0] for page in pages]
    assert got == [0, 10, 20, 30, 40, 50, 60]
    assert log[-1] == "closed in reader"
    assert not any(t.name == "reader" for t in threading.enumerate())


def test_a_reader_error_is_raised_after_the_pages_before_it() -> None:
    log: list[str] = []
    got: list[int] = []
    with pytest.raises(GraphError, match="503"), ReadAhead(pages_of(5, log, fail_at=3)) as pages:
        got.extend(page[0] for page in pages)
    assert got == [0, 10, 20]


def test_leaving_early_stops_the_reader_without_reading_everything() -> None:
    log: list[str] = []

    def slow() -> Iterator[int]:
        for page in pages_of(1000, log):
            yield page[0]

    with ReadAhead(slow(), depth=1, name="stopping") as pages:
        assert next(pages) == 0
    assert next(iter(pages), None) is None  # closed: no more pages
    reads = [line for line in log if line.startswith("read")]
    assert len(reads) < 10  # at most the queue's worth ahead of the consumer, not the whole source
    assert log[-1] == "closed in stopping"
    assert not any(t.name == "stopping" for t in threading.enumerate())


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ReadAhead(iter(()), depth=0)
