"""JSON out, for the scan's lines and the API's bodies: orjson for speed, the json module for
what orjson refuses (an integer beyond 64 bits copied through from the input; a lone surrogate,
which JSON can carry as an escape but UTF-8 cannot encode)."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:  # orjson.JSONEncodeError is one
        text = json.dumps(obj, ensure_ascii=False)
        try:
            return text.encode()
        except UnicodeEncodeError:  # a lone surrogate echoed from the input: \udXXX escapes are valid JSON
            return json.dumps(obj).encode()


def loads(data: bytes | str) -> Any:
    """JSON in: orjson, else the json module for what orjson refuses (integers beyond 64 bits, a
    lone surrogate escape). ValueError (JSONDecodeError, UnicodeDecodeError) when it is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
