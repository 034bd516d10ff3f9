"""JSON out, for the scan's lines and the API's bodies: orjson for speed, the json module for
what orjson refuses (an integer beyond 64 bits copied through from the input)."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(obj, ensure_ascii=False).encode()
