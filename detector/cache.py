"""A bounded LRU of verdicts, shared by the threads of one Detector."""

from __future__ import annotations

import threading
from collections import OrderedDict, namedtuple

from .verdict import Verdict

CacheInfo = namedtuple("CacheInfo", "hits misses maxsize currsize")  # the fields of functools' cache_info()


class VerdictCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = self.misses = 0
        self._entries: OrderedDict[tuple[str, str], Verdict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> Verdict | None:
        with self._lock:
            verdict = self._entries.get(key)
            if verdict is None:
                self.misses += 1
            else:
                self.hits += 1
                self._entries.move_to_end(key)
            return verdict

    def put(self, key: tuple[str, str], verdict: Verdict) -> None:
        with self._lock:
            self._entries[key] = verdict
            self._entries.move_to_end(key)
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def info(self) -> CacheInfo:
        return CacheInfo(self.hits, self.misses, self.size, len(self._entries))
