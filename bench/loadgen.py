"""Load generation for the HTTP benches: a real `jiyu serve`, raw HTTP/1.1 on asyncio + uvloop.

Raw sockets and precomputed request bytes, not httpx: an open-loop schedule of ~5,000
requests/s is beyond an HTTP client library on this 2-core machine, and a generator that
falls behind its schedule silently turns open-loop load into closed-loop load (the server
then looks better than it is). So every send records how late it was against its schedule,
and the caller prints that.

- `serve()`: a `jiyu serve` subprocess on a free loopback port, ready when yielded.
- `http()`: one blocking request on a new connection (readiness, reloads, set-up).
- `closed_loop()`: N connections, each sending its next request when the last one answered.
- `open_loop()`: requests on a fixed schedule (Poisson arrivals) over a pool of keep-alive
  connections, whatever the answers do; a new connection when all are busy, up to a cap.
- `Prober`: a separate process GETting /healthz and /readyz on a fixed period, each on a new
  connection (as an orchestrator does), so the generator's own event loop does not colour
  the probe latencies.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import re
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
_VERSION = re.compile(rb'"lexicon_version":\s*"([^"]*)"')
_LINGER_RST = struct.pack("ii", 1, 0)  # close with RST: a given-up connection leaves no TIME_WAIT


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def request_bytes(method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {LOOPBACK}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Reply:
    status: int
    headers: dict[bytes, bytes]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def _parse_head(head: bytes) -> tuple[int, dict[bytes, bytes]]:
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if line:
            k, _, v = line.partition(b":")
            headers[k.strip().lower()] = v.strip()
    return status, headers


def http(port: int, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"",
         timeout: float = 10) -> Reply:
    """One request on a new connection, blocking; the answer must carry Content-Length or close."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
        s.sendall(request_bytes(method, path, {**(headers or {}), "Connection": "close"}, body))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status, hdrs = _parse_head(head)
    return Reply(status, hdrs, rest)


# -- the server ------------------------------------------------------------------------------


@contextmanager
def serve(workers: int = 1, env: dict[str, str] | None = None, lexicons: list[str] = (), ready_timeout: float = 120):
    """`jiyu serve` on a free loopback port; yields (port, process, log path). Its log goes to a
    file the caller can search (for "Traceback")."""
    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="jiyu-serve-", suffix=".log", delete=False)
    cmd = [sys.executable, "-m", "detector.cli", "serve", "--port", str(port), "--log-level", "warning",
           "--workers", str(workers)]
    for lex in lexicons:
        cmd += ["--lexicon", str(lex)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jiyu serve exited ({proc.returncode}): {Path(log.name).read_text()[-2000:]}")
            try:
                if http(port, "GET", "/readyz", timeout=2).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("jiyu serve did not become ready")
            time.sleep(0.2)
        yield port, proc, Path(log.name)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def raise_fd_limit(want: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, max(soft, want)) if hard != resource.RLIM_INFINITY else max(soft, want)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


# -- async client ----------------------------------------------------------------------------


class Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        return cls(reader, writer)

    async def read_reply(self) -> tuple[Reply, bool]:
        """(reply, whether the connection may be reused)."""
        head = await self.reader.readuntil(b"\r\n\r\n")
        status, headers = _parse_head(head[:-4])
        if b"content-length" in headers:
            body = await self.reader.readexactly(int(headers[b"content-length"]))
        elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = b""
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                body += (await self.reader.readexactly(size + 2))[:-2]
            await self.reader.readuntil(b"\r\n")
        else:
            return Reply(status, headers, await self.reader.read()), False
        return Reply(status, headers, body), headers.get(b"connection", b"").lower() != b"close"

    def abort(self) -> None:
        sock = self.writer.get_extra_info("socket")
        try:
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        except OSError:
            pass
        self.writer.transport.abort()


# Outcome kinds of one scheduled request
OK, SHED, ERR5XX, OTHER, TIMEOUT, CONNERR, CAPPED = "ok", "shed", "5xx", "other", "timeout", "connerr", "capped"


@dataclass
class Sample:
    sched: float  # when it was due (perf_counter)
    lag: float  # how late it was written, against the schedule
    done: float  # when the answer (or the give-up) came
    status: int  # 0 when there was no answer
    kind: str
    worker: str | None = None
    version: str | None = None
    retry_after: bool = False
    connect: float = -1.0  # seconds to open a new connection (-1: a kept-alive one was reused)
    error: str | None = None  # the exception of a connection error

    @property
    def latency(self) -> float:
        return self.done - self.sched


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0  # end of the schedule (not of the stragglers)
    peak_conns: int = 0
    opened: int = 0


def classify(status: int) -> str:
    if 200 <= status < 300:
        return OK
    if status in (503, 429):
        return SHED
    if status >= 500:
        return ERR5XX
    return OTHER


class Pool:
    """Keep-alive connections to one port, at most `cap` open (or opening) at once. A connection
    idle for longer than `max_idle` is closed rather than reused: uvicorn closes idle ones after
    5 s, and a request written into that close would be a failure of the client's making."""

    def __init__(self, port: int, cap: int, max_idle: float = 3.0):
        self.port, self.cap, self.max_idle = port, cap, max_idle
        self.idle: list[tuple[Conn, float]] = []  # most recently used last
        self.open = 0
        self.peak = 0
        self.opened = 0

    def reserve(self) -> Conn | None | bool:
        """An idle connection, None (open a new one: counted already), or False (at the cap)."""
        if self.idle:
            now = time.perf_counter()
            while self.idle and now - self.idle[0][1] > self.max_idle:
                self.drop(self.idle.pop(0)[0])
            while self.idle:
                conn, _ = self.idle.pop()
                if not conn.reader.at_eof():
                    return conn
                self.drop(conn)
        if self.open >= self.cap:
            return False
        self.open += 1
        self.opened += 1
        self.peak = max(self.peak, self.open)
        return None

    def release(self, conn: Conn, reusable: bool) -> None:
        if reusable:
            self.idle.append((conn, time.perf_counter()))
        else:
            self.drop(conn)

    def drop(self, conn: Conn | None) -> None:
        self.open -= 1
        if conn is not None:
            conn.abort()

    def close(self) -> None:
        for c, _ in self.idle:
            c.abort()
        self.idle.clear()


async def _one(pool: Pool, conn: Conn | None, data: bytes, sched: float, timeout: float, run: Run,
               want_body: bool) -> None:
    now = time.perf_counter
    started = now()
    lag = started - sched  # the generator's own lateness; a slow connect is the server's (accept queue)
    connect = -1.0
    try:
        async with asyncio.timeout(sched + timeout - started):
            if conn is None:
                conn = await Conn.open(pool.port)
                connect = now() - started
            conn.writer.write(data)
            reply, reusable = await conn.read_reply()
    except TimeoutError:
        run.samples.append(Sample(sched, lag, now(), 0, TIMEOUT, connect=connect))
        pool.drop(conn)  # the answer may still come: a client that gave up does not wait for it
        return
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError) as e:
        where = "connect" if connect < 0 and conn is None else "reply"
        run.samples.append(Sample(sched, lag, now(), 0, CONNERR, connect=connect, error=f"{type(e).__name__} ({where})"))
        pool.drop(conn)
        return
    h = reply.headers
    s = Sample(sched, lag, now(), reply.status, classify(reply.status), retry_after=b"retry-after" in h, connect=connect)
    if want_body:
        w = h.get(b"x-jiyu-worker")
        s.worker = w.decode() if w else None
        m = _VERSION.search(reply.body)
        s.version = m.group(1).decode() if m else None
    run.samples.append(s)
    pool.release(conn, reusable)


async def open_loop(port: int, requests: list[bytes], rate: float, seconds: float, timeout: float,
                    max_conns: int, seed: int = 0, want_body: bool = False,
                    events: list[tuple[float, object]] = ()) -> Run:
    """Poisson arrivals at `rate`/s for `seconds`; each request gives up `timeout` s after it
    was due. `events`: (offset s, coroutine function) run at that offset of the schedule."""
    rng = random.Random(seed)
    pool = Pool(port, max_conns)
    run = Run()
    tasks = set()
    now = time.perf_counter
    t0 = now() + 0.05
    end = t0 + seconds
    run.started, run.ended = t0, end

    async def at(offset: float, fn) -> None:  # noqa: ANN001
        await asyncio.sleep(max(0.0, t0 + offset - now()))
        await fn()

    side = [asyncio.ensure_future(at(offset, fn)) for offset, fn in events]
    due, i, n = t0, 0, len(requests)
    while due < end:
        t = now()
        if due > t:
            await asyncio.sleep(due - t)
            continue
        while due <= t and due < end:
            conn = pool.reserve()
            if conn is False:
                run.samples.append(Sample(due, t - due, t, 0, CAPPED))
            else:
                task = asyncio.ensure_future(_one(pool, conn, requests[i % n], due, timeout, run, want_body))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            i += 1
            due += rng.expovariate(rate)
    # the stragglers: each gives up at its own deadline
    if tasks:
        await asyncio.wait(tasks, timeout=timeout + 5)
    if side:
        await asyncio.wait(side, timeout=120)
    run.peak_conns, run.opened = pool.peak, pool.opened
    pool.close()
    return run


async def closed_loop(port: int, requests: list[bytes], conns: int, seconds: float, timeout: float = 10) -> Run:
    """`conns` connections, each sending its next request when its last one answered."""
    run = Run()
    pool = Pool(port, conns)
    now = time.perf_counter
    run.started = now()
    run.ended = run.started + seconds

    async def client(k: int) -> None:
        i = k
        conn = None
        while now() < run.ended:
            sched = now()
            if conn is None:
                pool.reserve()
            await _one(pool, conn, requests[i % len(requests)], sched, timeout, run, False)
            conn = pool.idle.pop()[0] if pool.idle else None
            i += conns

    await asyncio.gather(*(client(k) for k in range(conns)))
    run.ended = now()
    pool.close()
    return run


def run_async(coro):
    import uvloop

    return uvloop.run(coro)


# -- probes ----------------------------------------------------------------------------------


def _probe_loop(port: int, period: float, timeout: float, stop, out) -> None:  # noqa: ANN001
    rows = []
    due = time.perf_counter()
    paths = ("/healthz", "/readyz")
    while not stop.is_set():
        for path in paths:
            t = time.perf_counter()
            try:
                r = http(port, "GET", path, timeout=timeout)
                ok = r.status == 200
            except OSError:
                ok = False
            rows.append((path, t, time.perf_counter() - t, ok))
        due += period
        pause = due - time.perf_counter()
        if pause > 0:
            stop.wait(pause)
        else:
            due = time.perf_counter()  # a probe never overlaps the previous one
    out.send(rows)


class Prober:
    """GET /healthz and /readyz every `period` s from another process, each on a new connection;
    an answer later than `timeout` s (an orchestrator's default is 1 s) is a failure."""

    def __init__(self, port: int, period: float = 0.05, timeout: float = 1.0):
        ctx = multiprocessing.get_context("spawn")
        self.stop = ctx.Event()
        self.recv, send = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_probe_loop, args=(port, period, timeout, self.stop, send), daemon=True)

    def __enter__(self) -> Prober:
        self.proc.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()

    def results(self) -> list[tuple[str, float, float, bool]]:
        self.stop.set()
        rows = self.recv.recv() if self.recv.poll(30) else []
        self.proc.join(10)
        return rows


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q / 100 * len(values)))]
