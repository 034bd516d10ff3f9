"""Load generation for the HTTP benches: a real `jiyu serve`, raw HTTP/1.1 on asyncio + uvloop.

Raw HTTP over asyncio protocol callbacks (no task, stream or timeout context per request) and
precomputed request bytes, not httpx: an open-loop schedule of ~5,000 requests/s is beyond an
HTTP client library on this 2-core machine, where the generator shares the cores with the
server. A generator that falls behind its schedule silently turns open-loop load into
closed-loop load (the server then looks better than it is), so every send records how late it
was against its schedule, and the caller prints that.

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
import gc
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
    file the caller can search (for "Traceback") before leaving the block; it is removed after."""
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
        Path(log.name).unlink(missing_ok=True)


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


@dataclass(repr=False)  # a repr of 300,000 samples is not something to print by accident
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


class Client(asyncio.Protocol):
    """One keep-alive connection, driven by callbacks: no task, stream or timeout context per
    request (each of those costs the generator CPU that it shares with the server)."""

    __slots__ = ("gen", "transport", "buf", "pending", "timer", "closed")

    def __init__(self, gen: Generator):
        self.gen, self.transport, self.buf, self.pending, self.timer, self.closed = gen, None, b"", None, None, False

    def connection_made(self, transport) -> None:  # noqa: ANN001
        self.transport = transport

    def send(self, data: bytes, sched: float, lag: float, connect: float) -> None:
        self.pending = (sched, lag, connect)
        self.timer = self.gen.at(sched + self.gen.timeout, self.give_up)
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        if self.pending is None:
            return  # an answer after we gave up: the connection is already being reset
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        try:
            status, headers = _parse_head(self.buf[:end])
            size = int(headers.get(b"content-length", b"0"))
        except (ValueError, IndexError):
            return self.fail("bad answer")
        if len(self.buf) < end + 4 + size:
            return
        body, self.buf = self.buf[end + 4 : end + 4 + size], self.buf[end + 4 + size :]
        sched, lag, connect = self.pending
        self.pending = None
        self.timer.cancel()
        self.gen.answered(self, sched, lag, connect, status, headers, body)

    def give_up(self) -> None:
        """The deadline passed: record it, reset the connection (the answer may still come, to
        nobody, as it does for a client that gave up)."""
        sched, lag, connect = self.pending
        self.pending = None
        self.gen.record(Sample(sched, lag, time.perf_counter(), 0, TIMEOUT, connect=connect))
        self.gen.discard(self, reset=True)

    def fail(self, why: str) -> None:
        sched, lag, connect = self.pending
        self.pending = None
        self.timer.cancel()
        self.gen.record(Sample(sched, lag, time.perf_counter(), 0, CONNERR, connect=connect, error=why))
        self.gen.discard(self, reset=True)

    def connection_lost(self, exc) -> None:  # noqa: ANN001
        if self.closed:
            return
        if self.pending is not None:
            self.fail(f"{type(exc).__name__ if exc else 'closed'} (reply)")
        else:
            self.gen.discard(self, reset=False)


class Generator:
    """Requests over keep-alive connections to one port, at most `cap` open (or opening) at
    once. A connection idle for longer than `max_idle` is closed rather than reused: uvicorn
    closes idle ones after 5 s, and a request written into that close would be a failure of the
    client's making."""

    def __init__(self, port: int, cap: int, timeout: float, want_body: bool = False, max_idle: float = 3.0):
        self.loop = asyncio.get_running_loop()
        self.port, self.cap, self.timeout, self.want_body, self.max_idle = port, cap, timeout, want_body, max_idle
        self.idle: list[tuple[Client, float]] = []  # most recently used last
        self.open = self.peak = self.opened = 0
        self.in_flight = 0
        self.run = Run()
        self.on_answer = None  # closed loop: called with the connection that is free again

    def at(self, when: float, fn) -> asyncio.TimerHandle:  # noqa: ANN001 — `when` on the perf_counter clock
        return self.loop.call_later(max(0.0, when - time.perf_counter()), fn)

    def record(self, s: Sample) -> None:
        self.run.samples.append(s)
        self.in_flight -= 1

    def submit(self, data: bytes, sched: float) -> None:
        """Send now on an idle connection, or on a new one, or record that the cap was hit."""
        now = time.perf_counter()
        lag = now - sched
        while self.idle and now - self.idle[0][1] > self.max_idle:
            self.discard(self.idle.pop(0)[0], reset=False)
        while self.idle:
            client, _ = self.idle.pop()
            if not client.closed:
                self.in_flight += 1
                client.send(data, sched, lag, -1.0)
                return
        if self.open >= self.cap:
            self.run.samples.append(Sample(sched, lag, now, 0, CAPPED))
            return
        self.open += 1
        self.opened += 1
        self.peak = max(self.peak, self.open)
        self.in_flight += 1
        fut = asyncio.ensure_future(self.loop.create_connection(lambda: Client(self), LOOPBACK, self.port))
        timer = self.at(sched + self.timeout, fut.cancel)
        fut.add_done_callback(lambda f: self._connected(f, timer, data, sched, lag, now))

    def _connected(self, fut: asyncio.Future, timer, data: bytes, sched: float, lag: float, started: float) -> None:  # noqa: ANN001
        timer.cancel()
        now = time.perf_counter()
        if fut.cancelled():
            self.open -= 1
            return self.record(Sample(sched, lag, now, 0, TIMEOUT, connect=now - started))
        if fut.exception() is not None:
            self.open -= 1
            return self.record(Sample(sched, lag, now, 0, CONNERR, connect=now - started,
                                      error=f"{type(fut.exception()).__name__} (connect)"))
        transport, client = fut.result()
        transport.set_write_buffer_limits(high=1 << 20)
        client.send(data, sched, lag, now - started)

    def answered(self, client: Client, sched: float, lag: float, connect: float, status: int,
                 headers: dict[bytes, bytes], body: bytes) -> None:
        s = Sample(sched, lag, time.perf_counter(), status, classify(status), retry_after=b"retry-after" in headers,
                   connect=connect)
        if self.want_body:
            w = headers.get(b"x-jiyu-worker")
            s.worker = w.decode() if w else None
            m = _VERSION.search(body)
            s.version = m.group(1).decode() if m else None
        self.record(s)
        if headers.get(b"connection", b"").lower() == b"close":
            self.discard(client, reset=False)
        elif self.on_answer is not None:
            self.on_answer(client)
        else:
            self.idle.append((client, time.perf_counter()))

    def discard(self, client: Client, reset: bool) -> None:
        if client.closed:
            return
        client.closed = True
        self.open -= 1
        if reset:
            sock = client.transport.get_extra_info("socket")
            try:
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            except OSError:
                pass
            client.transport.abort()
        else:
            client.transport.close()

    def close(self) -> None:
        for c, _ in self.idle:
            self.discard(c, reset=False)
        self.idle.clear()
        self.run.peak_conns, self.run.opened = self.peak, self.opened

    async def drain(self, limit: float) -> None:
        """Wait for the requests still out (each ends by its own deadline)."""
        end = time.perf_counter() + limit
        while self.in_flight > 0 and time.perf_counter() < end:
            await asyncio.sleep(0.01)


async def open_loop(port: int, requests: list[bytes], rate: float, seconds: float, timeout: float,
                    max_conns: int, seed: int = 0, want_body: bool = False,
                    events: list[tuple[float, object]] = ()) -> Run:
    """Poisson arrivals at `rate`/s for `seconds`; each request gives up `timeout` s after it
    was due. `events`: (offset s, coroutine function) run at that offset of the schedule."""
    rng = random.Random(seed)
    gen = Generator(port, max_conns, timeout, want_body)
    run = gen.run
    now = time.perf_counter
    t0 = now() + 0.05
    end = t0 + seconds
    run.started, run.ended = t0, end

    async def at(offset: float, fn) -> None:  # noqa: ANN001
        await asyncio.sleep(max(0.0, t0 + offset - now()))
        await fn()

    side = [asyncio.ensure_future(at(offset, fn)) for offset, fn in events]
    due, i, n = t0, 0, len(requests)
    gc.freeze()  # the samples pile up: a full collection over them is a pause in the schedule
    try:
        while due < end:
            t = now()
            if due > t + 0.001:
                await asyncio.sleep(due - t)
                continue
            # uvloop's timers have millisecond resolution: a shorter sleep would spin, so
            # what is due within the next millisecond goes now
            while due <= t + 0.001 and due < end:
                gen.submit(requests[i % n], due)
                i += 1
                due += rng.expovariate(rate)
        await gen.drain(timeout + 5)
        if side:
            await asyncio.wait(side, timeout=120)
    finally:
        gen.close()
        gc.unfreeze()
    return run


async def closed_loop(port: int, requests: list[bytes], conns: int, seconds: float, timeout: float = 10) -> Run:
    """`conns` connections, each sending its next request when its last one answered."""
    gen = Generator(port, conns, timeout)
    run = gen.run
    now = time.perf_counter
    run.started = now()
    run.ended = run.started + seconds
    sent = 0

    def next_on(client: Client) -> None:
        nonlocal sent
        if now() >= run.ended:
            gen.idle.append((client, now()))
            return
        sent += 1
        gen.in_flight += 1
        client.send(requests[sent % len(requests)], now(), 0.0, -1.0)

    for _ in range(conns):
        sent += 1
        gen.submit(requests[sent % len(requests)], now())
    gen.on_answer = next_on
    # a connection that failed or timed out is replaced, so that `conns` stay busy
    while now() < run.ended:
        await asyncio.sleep(0.05)
        for _ in range(conns - gen.open):
            sent += 1
            gen.submit(requests[sent % len(requests)], now())
    await gen.drain(timeout)
    run.ended = now()
    gen.close()
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
