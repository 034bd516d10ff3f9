"""API keys: one gate in front of every path but the public ones.

Keys are compared as the bytes of their UTF-8 form against the raw header bytes (a key with
Chinese characters works; Starlette's latin-1 header strings would never match it), against
every key, in constant time per key. `/metrics`, `/docs` and `/openapi.json` need a key like
the rest unless listed in JIYU_PUBLIC_PATHS (default: the probes only).
"""

from __future__ import annotations

import hmac

from detector import jsonout


def bearer(scope: dict) -> bytes:
    """The token of `Authorization: Bearer <token>`, as bytes (empty if none)."""
    for k, v in scope["headers"]:
        if k == b"authorization":
            scheme, _, token = v.partition(b" ")
            return token.strip() if scheme.lower() == b"bearer" else b""
    return b""


def key_ok(token: bytes, keys: tuple[str, ...]) -> bool:
    if not token:
        return False
    return any([hmac.compare_digest(token, k.encode("utf-8")) for k in keys])  # every key, always


class KeyGate:
    """401 for any request without a valid API or admin key, except on public paths."""

    def __init__(self, app, api_keys: tuple[str, ...], admin_keys: tuple[str, ...], public: tuple[str, ...]) -> None:  # noqa: ANN001
        self.app, self.keys, self.public = app, api_keys + admin_keys, frozenset(public)
        self.on = bool(api_keys)

    def _public(self, path: str) -> bool:
        """A listed path, or below one: `/docs` also opens `/docs/assets/...`."""
        return path in self.public or any(path.startswith(p.rstrip("/") + "/") for p in self.public)

    async def __call__(self, scope, receive, send):  # noqa: ANN001, ANN204
        if not self.on or scope["type"] != "http" or self._public(scope["path"]) or key_ok(bearer(scope), self.keys):
            return await self.app(scope, receive, send)
        rid = scope.get("state", {}).get("request_id", "")
        body = jsonout.dumps({"error": "Authorization: a valid 'Bearer <API key>' is required", "field": "Authorization",
                              "request_id": rid})
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"www-authenticate", b"Bearer")]})
        await send({"type": "http.response.body", "body": body})
