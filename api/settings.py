"""Server settings, from the environment (JIYU_*) or from `create_app(Settings(...))`.

API keys come from JIYU_API_KEYS (comma-separated) or JIYU_API_KEYS_FILE (one per line);
admin keys (lexicon reload) from JIYU_ADMIN_KEYS / JIYU_ADMIN_KEYS_FILE. With no API key the
API is open, which `jiyu serve` allows only on loopback unless told otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _keys(env: str) -> tuple[str, ...]:
    """Keys from VAR (comma-separated) and VAR_FILE (one per line; `#` starts a comment line there
    only: in the variable, `#secret` is a key)."""
    keys = [k.strip() for k in os.environ.get(env, "").split(",")]
    path = os.environ.get(env + "_FILE")
    if path:
        keys += [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if not line.strip().startswith("#")]
    return tuple(k for k in keys if k)


def keys_configured_but_empty(env: str) -> bool:
    """VAR or VAR_FILE is set, yet yields no key: the operator meant to lock the API and did not."""
    return bool(os.environ.get(env, "").strip() or os.environ.get(env + "_FILE")) and not _keys(env)


@dataclass(frozen=True)
class Settings:
    api_keys: tuple[str, ...] = ()
    admin_keys: tuple[str, ...] = ()
    lexicons: tuple[str, ...] = ()  # organisation packs layered over the default
    mode: str = "realtime"  # default decision preset of the API
    classifier: bool = True
    max_text_chars: int = 10_000
    max_batch: int = 256
    max_turns: int = 2_000
    log_text: bool = False  # transcripts carry personal data: never logged unless asked
    model_dir: str | None = None
    cache_size: int = 10_000  # verdicts of repeated short replies (0: off); kept in memory only
    # Admission control (api/admission.py). In flight per worker: capacity (~1,200 checks/s on
    # one core of this machine) × the queueing delay we accept (0.1 s) ≈ 128.
    max_in_flight: int = 128
    max_body_bytes: int = 2 * 1024 * 1024
    max_request_chars: int = 200_000  # all texts or turns of one request: about a second of work
    request_timeout: float = 5.0  # seconds; a client's X-Request-Timeout may shorten it
    body_timeout: float = 10.0  # seconds to receive a body (slow uploads get 408)
    threads: int = 2  # detection threads for large requests (the GIL makes more pointless)
    public_paths: tuple[str, ...] = ("/healthz", "/readyz")  # need no key when keys are set
    reload_timeout: float = 10.0  # seconds a reload waits for every worker to switch

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ.get
        return cls(
            api_keys=_keys("JIYU_API_KEYS"),
            admin_keys=_keys("JIYU_ADMIN_KEYS"),
            lexicons=tuple(p for p in env("JIYU_LEXICONS", "").split(os.pathsep) if p),
            mode=env("JIYU_MODE", "realtime"),
            classifier=env("JIYU_CLASSIFIER", "1") not in ("0", "false", "no"),
            max_text_chars=int(env("JIYU_MAX_TEXT_CHARS", "10000")),
            max_batch=int(env("JIYU_MAX_BATCH", "256")),
            max_turns=int(env("JIYU_MAX_TURNS", "2000")),
            log_text=env("JIYU_LOG_TEXT", "0") in ("1", "true", "yes"),
            model_dir=env("JIYU_MODEL_DIR") or None,
            cache_size=int(env("JIYU_CACHE_SIZE", "10000")),
            max_in_flight=int(env("JIYU_MAX_IN_FLIGHT", "128")),
            max_body_bytes=int(env("JIYU_MAX_BODY_BYTES", str(2 * 1024 * 1024))),
            max_request_chars=int(env("JIYU_MAX_REQUEST_CHARS", "200000")),
            request_timeout=float(env("JIYU_REQUEST_TIMEOUT", "5")),
            body_timeout=float(env("JIYU_BODY_TIMEOUT", "10")),
            threads=int(env("JIYU_THREADS", "2")),
            public_paths=tuple(p.strip() for p in env("JIYU_PUBLIC_PATHS", "/healthz,/readyz").split(",") if p.strip()),
        )
