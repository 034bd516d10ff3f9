"""Admission control: the API keeps answering when offered more than it can judge.

A pure ASGI middleware in front of the work endpoints (`/v1/check`, `/v1/conversations`). Before
a byte of the body is read it refuses, cheaply and at once:

- a declared `Content-Length` over the body limit (413), and a chunked body once it passes it;
- more work than the worker may hold in flight (503 + Retry-After): beyond that, every request
  accepted would only wait longer, and clients give up on answers that come too late; so the
  queue is bounded and the overflow told to come back, instead of all of it answered late
  (congestion collapse);
- a client key holding more than its share of the in-flight slots while the worker is busy
  (429 + Retry-After), so one noisy client cannot take every slot.

It also gives each request a deadline (`JIYU_REQUEST_TIMEOUT`, or the client's
`X-Request-Timeout` when shorter) that the handlers check before detection starts, times out
slow uploads (408), and turns a client that leaves mid-request into an INFO log line (status 499
in the metrics), not a 500 with a traceback. Probes and everything else pass straight through.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter

from detector import jsonout

log = logging.getLogger("jiyu.api")
WORK_PATHS = frozenset({"/v1/check", "/v1/conversations"})
CLIENT_LEFT = 499  # nginx's code for "client closed request": logged and counted, never sent


class BodyTooLarge(Exception):
    """The body passed the limit while being read (the app answers 413)."""


class BodyTimeout(Exception):
    """The body was not received in time (the app answers 408)."""


class ClientLeft(Exception):
    """The client closed the connection (the app logs it; nobody is left to answer)."""


def _header(scope: dict, name: bytes) -> bytes | None:
    for k, v in scope["headers"]:
        if k == name:
            return v
    return None


def _client_key(scope: dict) -> str:
    auth = _header(scope, b"authorization") or b""
    return hashlib.blake2b(auth, digest_size=8).hexdigest() if auth else "-"


async def _reply(send, status: int, message: str, field: str | None, rid: str, retry_after: int | None = None) -> None:  # noqa: ANN001
    body = jsonout.dumps({"error": message, "field": field, "request_id": rid})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Admission:
    def __init__(self, app, max_in_flight: int, max_body: int, request_timeout: float, body_timeout: float,  # noqa: ANN001
                 key_share: float = 0.5) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.max_body = max_body
        self.request_timeout = request_timeout
        self.body_timeout = body_timeout
        self.key_share = key_share
        self.in_flight = 0
        self.per_key: Counter = Counter()
        self.shed = Counter()  # by status, for /metrics and tests

    def _deadline(self, scope: dict, now: float) -> float:
        timeout = self.request_timeout
        given = _header(scope, b"x-request-timeout")
        if given:
            try:
                asked = float(given)
                if asked > 0:
                    timeout = min(timeout, asked)
            except ValueError:
                pass  # a malformed hint is ignored, not an error: the server's own deadline applies
        return now + timeout

    async def __call__(self, scope, receive, send):  # noqa: ANN001, ANN204
        if scope["type"] != "http" or scope["path"] not in WORK_PATHS or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        state = scope.setdefault("state", {})
        rid = state.get("request_id", "")
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return await _reply(send, 413, f"body: {int(declared)} bytes, over the limit of {self.max_body}", "body", rid)
        key = _client_key(scope)
        if self.in_flight >= self.max_in_flight:
            self.shed[503] += 1
            return await _reply(send, 503, f"overloaded: {self.in_flight} requests in progress; retry shortly", None, rid, 1)
        active_keys = len(self.per_key) + (key not in self.per_key)
        if (active_keys > 1 and self.in_flight >= self.max_in_flight // 2
                and self.per_key[key] >= max(1, int(self.max_in_flight * self.key_share))):
            self.shed[429] += 1
            return await _reply(send, 429, "this API key has more than its share of requests in progress; retry shortly",
                                "Authorization", rid, 1)
        started = time.monotonic()
        state["deadline"] = self._deadline(scope, started)
        body_by = started + self.body_timeout
        read = 0
        body_done = False

        async def guarded_receive():  # noqa: ANN202
            nonlocal read, body_done
            if body_done:  # after the body, receive() only ever reports the client leaving
                return await receive()
            try:
                async with asyncio.timeout_at(asyncio.get_running_loop().time() + max(0.0, body_by - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout() from None
            if message["type"] == "http.disconnect":
                raise ClientLeft()
            read += len(message.get("body", b""))
            if read > self.max_body:
                raise BodyTooLarge()
            body_done = not message.get("more_body", False)
            return message

        self.in_flight += 1
        self.per_key[key] += 1
        responded = False

        async def tracking_send(message):  # noqa: ANN001, ANN202
            nonlocal responded
            if message["type"] == "http.response.start":
                responded = True
            await send(message)

        try:  # the app turns these into answers (api/app.py); here only if raised outside its handlers
            await self.app(scope, guarded_receive, tracking_send)
        except BodyTooLarge:
            if not responded:
                await _reply(send, 413, f"body: over the limit of {self.max_body} bytes", "body", rid)
        except BodyTimeout:
            if not responded:
                await _reply(send, 408, f"body: not received within {self.body_timeout:g} s", "body", rid)
        except ClientLeft:
            log.info("%s client closed the connection before the answer", rid)
        finally:
            self.in_flight -= 1
            self.per_key[key] -= 1
            if not self.per_key[key]:
                del self.per_key[key]
