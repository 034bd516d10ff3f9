"""Checks that arrive together are judged together: one `check_many` per event-loop turn.

Under load a request's detection used to run between two other requests' HTTP parsing and
serialising, so the detector's tables (automatons, vocabulary, jieba's dictionary) were cold
every time; measured, the same texts took 1.7× longer inside the server than in a tight loop.
Here a small check does not run at once: it waits two loop turns (`call_soon` twice, no timer:
a lone request waits a few microseconds), so that the requests read from the sockets in the
next I/O poll join it too, and then all of them run back to back. Requests judged by the same
detector in the same mode go through one `check_many` call, which shares the classifier's array
work between them. At 16 concurrent clients a batch holds about 14 requests; waiting one turn
instead of two gave about 6, and a fifth fewer requests per second (bench/api.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from detector import Detector
from detector.verdict import Verdict


class DeadlinePassed(Exception):
    """The request's deadline passed before its detection started: dropped, never judged late."""


class CheckBatcher:
    """Event-loop-only (not thread-safe): `check` is awaited from request handlers.

    One turn judges at most `max_chars` characters (about a millisecond per thousand): the
    rest waits for the next turn, so a burst of large requests cannot stall the loop for long.
    """

    def __init__(self, max_chars: int = 8_000) -> None:
        self.max_chars = max_chars
        self._pending: list[tuple[Detector, Sequence[str], str, asyncio.Future, float | None]] = []

    def check(self, detector: Detector, texts: Sequence[str], mode: str, deadline: float | None = None) -> asyncio.Future:
        """A future of `detector.check_many(texts, mode)`, judged two loop turns from now, or
        DeadlinePassed if `deadline` (time.monotonic) has passed by then."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._pending:
            loop.call_soon(loop.call_soon, self._run)  # after the next I/O poll
        self._pending.append((detector, texts, mode, future, deadline))
        return future

    def _run(self) -> None:
        size, take = 0, 0
        while take < len(self._pending) and size < self.max_chars:
            size += sum(map(len, self._pending[take][1]))
            take += 1
        batch, self._pending = self._pending[:take], self._pending[take:]
        if self._pending:
            asyncio.get_running_loop().call_soon(self._run)
        groups: dict[tuple[int, str], list] = {}
        now = time.monotonic()
        for item in batch:
            if item[3].cancelled():  # the client went away: nothing to judge
                continue
            if item[4] is not None and now > item[4]:
                item[3].set_exception(DeadlinePassed("waited past the request's deadline"))
                continue
            groups.setdefault((id(item[0]), item[2]), []).append(item)
        for items in groups.values():
            detector, mode = items[0][0], items[0][2]
            try:
                verdicts = detector.check_many([t for item in items for t in item[1]], mode)
            except Exception:  # noqa: BLE001 — judge them one by one so the error stays with its request
                for item in items:
                    _settle(item[3], detector.check_many, item[1], mode)
                continue
            start = 0
            for item in items:
                n = len(item[1])
                _set(item[3], verdicts[start : start + n])
                start += n


def _settle(future: asyncio.Future, fn, *args) -> None:  # noqa: ANN001
    try:
        result: list[Verdict] = fn(*args)
    except Exception as e:  # noqa: BLE001 — handed to the awaiting request, which reports it
        if not future.done():
            future.set_exception(e)
        return
    _set(future, result)


def _set(future: asyncio.Future, result: list[Verdict]) -> None:
    if not future.done():
        future.set_result(result)
