"""The HTTP API under overload and under reloads: open-loop load at multiples of its capacity.

    PYTHONPATH=. .venv/bin/python bench/overload.py [--seconds 60] [--levels 0.5,1,2,4] [--timeout 1]
        [--reloads 5] [--capacity-seconds 10] [--max-conns 4000]

1. A real `jiyu serve --workers 1` on loopback (API keys set, verdict cache off so every request
   is judged afresh; `--cache` for the server default). Capacity: a closed-loop run at c=16
   for --capacity-seconds with the bundled example replies (examples/utterances.jsonl), 2xx/s.
2. Open loop at each level × capacity for --seconds: Poisson arrivals over keep-alive
   connections (a new one when all are busy, at most --max-conns), each request sent whatever
   the answers do and given up --timeout s after it was due (also sent as X-Request-Timeout).
   A separate process probes /healthz and /readyz every 50 ms on new connections.
3. `--workers 2` at --reload-level × its own capacity (closed loop at c=32), with --reloads `POST /v1/admin/reload`
   spread over the run, alternating an organisation pack (a temp dir) between two contents.

Latencies count from when a request was due, not when it was written (no coordinated
omission). The generator checks itself: it prints the rate it actually sent and the share of
sends more than 10 ms behind schedule, and says so when it fell behind.
Figures of the interface still to come (X-Jiyu-Worker, the reload's per-worker report) print
"n/a" against a server that does not have them yet.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import (  # noqa: E402
    CAPPED, CONNERR, ERR5XX, OK, OTHER, ROOT, SHED, TIMEOUT, Conn, Prober, Run, closed_loop, http, open_loop, pct,
    raise_fd_limit, request_bytes, run_async, serve,
)

KEYS = [f"k-overload-{i}" for i in range(4)]
ADMIN = "k-overload-admin"
LATE = 0.010  # a send this far behind its schedule counts as late
PACK = """entries:
  - id: impo-bench01
    phrase: {phrase}
    category: impolite
    severity: 2
    suggestion: 我帮您查一下。
    source: jiyu
    note: bench/overload.py reload pack {name}
"""
PACKS = [("A", "自己去官网查"), ("B", "别来烦我了")]


def check_requests(timeout: float) -> list[bytes]:
    texts = [json.loads(line)["text"] for line in (ROOT / "examples" / "utterances.jsonl").read_text(encoding="utf-8").splitlines()]
    return [request_bytes("POST", "/v1/check", {
        "Content-Type": "application/json", "Authorization": f"Bearer {KEYS[i % len(KEYS)]}",
        "X-Request-Timeout": f"{timeout:g}"}, json.dumps({"text": t}, ensure_ascii=False).encode())
        for i, t in enumerate(texts)]


def loadavg() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" ({os.cpu_count()} CPUs)"


def capacity(port: int, reqs: list[bytes], seconds: float, warm: bool = True, conns: int = 16) -> tuple[float, list[float]]:
    """2xx/s at c=`conns`, the fastest of three runs of seconds/3: the other engineers' jobs on
    these cores slow some runs, and a capacity measured in a slow moment makes every level look light."""
    if warm:
        run_async(closed_loop(port, reqs, conns, min(2.0, seconds / 5)))
    rates = []
    for _ in range(3):
        run = run_async(closed_loop(port, reqs, conns, seconds / 3))
        rates.append(sum(s.kind == OK for s in run.samples) / (run.ended - run.started))
    return max(rates), rates


def runs(rates: list[float]) -> str:
    return "fastest of " + ", ".join(f"{r:,.0f}" for r in rates)


def ms(x: float) -> str:
    return "-" if x != x else (f"{x * 1e3:.0f}" if x >= 0.1 else f"{x * 1e3:.1f}")


def level_row(run: Run, target: float, cap: float, timeout: float, probes: list, cpu: float) -> dict:
    seconds = run.ended - run.started
    s = run.samples
    sent = [x for x in s if x.kind != CAPPED]
    kinds = Counter(x.kind for x in s)
    ok_in = [x for x in s if x.kind == OK and x.latency <= timeout]
    shed = [x for x in s if x.kind == SHED]
    late = sum(x.lag > LATE for x in sent)
    p = [d for _, _, d, _ in probes]
    return {
        "target": target, "scheduled": len(s) / seconds, "sent": len(sent) / seconds,
        "late": late / max(1, len(sent)), "max_lag": max((x.lag for x in sent), default=0.0), "cpu": cpu,
        "goodput": len(ok_in) / seconds / cap, "shed": len(shed) / max(1, len(s)),
        "shed_503": sum(x.status == 503 for x in shed), "shed_429": sum(x.status == 429 for x in shed),
        "shed_no_retry": sum(not x.retry_after for x in shed),
        "shed_p50": pct([x.latency for x in shed], 50), "shed_p99": pct([x.latency for x in shed], 99),
        "ok_p50": pct([x.latency for x in s if x.kind == OK], 50), "ok_p99": pct([x.latency for x in s if x.kind == OK], 99),
        "timeouts": kinds[TIMEOUT], "5xx": kinds[ERR5XX], "other": kinds[OTHER], "connerr": kinds[CONNERR],
        "capped": kinds[CAPPED], "peak_conns": run.peak_conns, "opened": run.opened,
        "probe_n": len(p), "probe_p50": pct(p, 50), "probe_p99": pct(p, 99), "probe_max": max(p, default=float("nan")),
        "probe_fail": sum(not ok for *_, ok in probes),
        "new_conns": sum(x.connect >= 0 for x in s),
        "connect_p99": pct([x.connect for x in s if x.connect >= 0], 99),
        "connect_max": max((x.connect for x in s if x.connect >= 0), default=float("nan")),
        "other_statuses": Counter(x.status for x in s if x.kind in (ERR5XX, OTHER)),
        "errors": Counter(x.error for x in s if x.kind == CONNERR),
    }


def print_levels(rows: list[tuple[float, dict]], timeout: float) -> None:
    print(f"{'level':>5} {'offered/s':>9} {'sent/s':>7} {'late':>6} {'gen cpu':>7} | {'goodput':>7} {'shed':>6} "
          f"{'shed p50/p99 ms':>15} {'2xx p50/p99 ms':>15} {'timeouts':>8} {'5xx':>5} {'4xx':>5} {'connerr':>7} {'capped':>6} "
          f"{'conns':>5} | {'probe p50/p99/max ms':>20} {'fail':>5}")
    for level, r in rows:
        print(f"{level:>4g}× {r['target']:9.0f} {r['sent']:7.0f} {r['late']:6.1%} {r['cpu']:7.0%} | {r['goodput']:7.0%} {r['shed']:6.1%} "
              f"{ms(r['shed_p50']) + '/' + ms(r['shed_p99']):>15} {ms(r['ok_p50']) + '/' + ms(r['ok_p99']):>15} "
              f"{r['timeouts']:8d} {r['5xx']:5d} {r['other']:5d} {r['connerr']:7d} {r['capped']:6d} {r['peak_conns']:5d} | "
              f"{ms(r['probe_p50']) + '/' + ms(r['probe_p99']) + '/' + ms(r['probe_max']):>20} {r['probe_fail']:5d}")
    print(f"goodput: 2xx answered within the {timeout:g} s deadline, per second, over capacity; shed: 503/429 over all "
          "scheduled; timeouts: no answer by the deadline (the connection is then dropped); conns: peak open; "
          f"probe fail: not 200 within 1 s; late: sends > {LATE * 1e3:.0f} ms behind schedule; gen cpu: the generator's own CPU")
    for level, r in rows:
        notes = []
        if r["late"] > 0.01 or r["capped"]:
            notes.append(f"GENERATOR BEHIND: {r['late']:.1%} of sends late (max {r['max_lag'] * 1e3:.0f} ms), "
                         f"{r['capped']} not sent (connection cap): the offered load was lower than shown")
        if r["connect_p99"] > LATE:
            notes.append(f"slow connects (the server's accept queue): {r['new_conns']} new connections, "
                         f"connect p99 {ms(r['connect_p99'])} ms, max {ms(r['connect_max'])} ms")
        if r["shed"] and r["shed_no_retry"]:
            notes.append(f"{r['shed_no_retry']} shed answers without Retry-After")
        if r["shed_429"]:
            notes.append(f"{r['shed_429']} of the shed were 429")
        if r["errors"]:
            notes.append("connection errors: " + ", ".join(f"{k}×{v}" for k, v in r["errors"].most_common()))
        if r["other_statuses"]:
            notes.append("statuses: " + ", ".join(f"{k}×{v}" for k, v in sorted(r["other_statuses"].items())))
        if notes:
            print(f"  {level:g}×: " + "; ".join(notes))


def overload_levels(args: argparse.Namespace, env: dict) -> None:
    reqs = check_requests(args.timeout)
    with serve(1, env) as (port, proc, log):
        cap, rates = capacity(port, reqs, args.capacity_seconds)
        print(f"capacity (workers 1, closed loop c=16, {args.capacity_seconds:g} s): {cap:,.0f} 2xx/s ({runs(rates)})   [{loadavg()}]")
        rows = []
        for level in args.levels:
            cpu0, wall0 = time.process_time(), time.perf_counter()
            with Prober(port) as prober:
                run = run_async(open_loop(port, reqs, level * cap, args.seconds, args.timeout, args.max_conns, seed=int(level * 100)))
                probes = prober.results()
            cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
            rows.append((level, level_row(run, level * cap, cap, args.timeout, probes, cpu)))
            print(f"  {level:g}× done   [{loadavg()}]", flush=True)
            time.sleep(2)  # let the stragglers the server still holds drain before the next level
        after, after_rates = capacity(port, reqs, args.capacity_seconds, warm=False)
        alive = proc.poll() is None
        tracebacks = log.read_text(errors="replace").count("Traceback")
    drift = after / cap - 1
    print(f"capacity again after the levels: {after:,.0f} 2xx/s ({runs(after_rates)}): {drift:+.0%}"
          + ("   MACHINE SPEED DRIFTED: the levels' multiples and goodput ratios are approximate" if abs(drift) > 0.2 else ""))
    print(f"\nopen loop, workers 1, {args.seconds:g} s per level, deadline {args.timeout:g} s, "
          f"Poisson arrivals, ≤ {args.max_conns} connections")
    print_levels(rows, args.timeout)
    print(f"server: {'alive' if alive else 'DIED'} at the end; {tracebacks} tracebacks in its log")


# -- reloads under load ----------------------------------------------------------------------


def write_pack(pack_dir: Path, k: int) -> None:
    name, phrase = PACKS[k % 2]
    tmp = pack_dir / "org.yaml.tmp"
    tmp.write_text(PACK.format(phrase=phrase, name=name), encoding="utf-8")
    tmp.replace(pack_dir / "org.yaml")  # a reload never reads a half-written file


async def reload_once(port: int, pack_dir: Path, k: int, lock: asyncio.Lock, log: list, end: float) -> None:
    async with lock:  # one at a time: the pack file must not change under a reload still reading it
        if time.perf_counter() >= end:  # the previous one answered after the run's end
            log.append({"k": k, "sent": None, "done": None, "status": 0, "body": {}})
            return
        await _reload(port, pack_dir, k, log)


async def _reload(port: int, pack_dir: Path, k: int, log: list) -> None:
    write_pack(pack_dir, k)
    sent = time.perf_counter()
    entry = {"k": k, "sent": sent, "done": None, "status": 0, "body": {}}
    log.append(entry)
    try:
        conn = await Conn.open(port)
        conn.writer.write(request_bytes("POST", "/v1/admin/reload", {"Authorization": f"Bearer {ADMIN}"}, b""))
        async with asyncio.timeout(60):
            reply, _ = await conn.read_reply()
        conn.abort()
        entry["status"] = reply.status
        try:
            entry["body"] = reply.json()
        except ValueError:
            entry["body"] = {"raw": reply.body[:200].decode(errors="replace")}
    except (OSError, TimeoutError, asyncio.IncompleteReadError) as e:
        entry["body"] = {"error": f"{type(e).__name__}: {e}"}
    entry["done"] = time.perf_counter()


def reload_report(run: Run, reloads: list[dict], v0: str, timeout: float) -> None:
    t0 = run.started
    skipped = [e["k"] for e in reloads if e["sent"] is None]
    reloads = sorted((e for e in reloads if e["sent"] is not None), key=lambda e: e["sent"])
    versions = [v0]
    for e in reloads:
        versions.append(e["body"].get("lexicon_version", versions[-1]) if e["status"] == 200 else versions[-1])
    sends = [e["sent"] for e in reloads]
    answered = [s for s in run.samples if s.kind == OK]
    has_worker = any(s.worker for s in answered)

    def index(s) -> int:  # noqa: ANN001 — which reload's version this answer carries (-1: none known)
        k = bisect.bisect_left(sends, s.done)  # reloads sent before the answer came
        return next((j for j in range(k, -1, -1) if versions[j] == s.version), -1)

    # mixing: an answer older than one its worker had already given before this request was due
    mixing = 0
    by_worker = defaultdict(list)
    for s in sorted(answered, key=lambda s: s.done):
        by_worker[s.worker or "?"].append(s)
    for seq in by_worker.values():
        done = [s.done for s in seq]
        best, prefix = -1, []
        for s in seq:
            best = max(best, index(s))
            prefix.append(best)
        for s in seq:
            j = bisect.bisect_left(done, s.sched) - 1
            if j >= 0 and index(s) < prefix[j]:
                mixing += 1
    workers = sorted(by_worker)
    print(f"\nreloads: {len(reloads)} during the run; lexicon versions alternate {versions[0]} / "
          f"{versions[1] if len(versions) > 1 else '?'}; times in s from the start of the run")
    if not has_worker:
        print("  per-worker figures n/a: the answers carry no X-Jiyu-Worker header (all counted as worker '?')")
    for i, e in enumerate(reloads):
        k = i + 1
        nxt = reloads[i + 1]["sent"] if i + 1 < len(reloads) else run.ended
        new = versions[k]
        body = e["body"]
        done = e["done"] or e["sent"]
        print(f"  reload {k}: sent at {e['sent'] - t0:6.2f}, {e['status'] or 'no answer'} after {(done - e['sent']) * 1e3:.0f} ms; "
              f"{versions[k - 1]} -> {new}; generation {body.get('generation', 'n/a')}; "
              f"all_workers_switched {body.get('all_workers_switched', 'n/a')}; workers {body.get('workers', 'n/a')}"
              + (f"; {body}" if e["status"] != 200 else ""))
        seen = []
        for w in workers:
            before = [s for s in by_worker[w] if s.done < e["sent"]]
            if before and before[-1].version == new:  # it missed the previous reload
                seen.append(f"{w}: already on it")
                continue
            first = min((s.done for s in by_worker[w] if s.version == new and e["sent"] <= s.sched < nxt), default=None)
            seen.append(f"{w}: " + ("never" if first is None else f"{first - done:+.2f} s"))
        print(f"    first answer with {new} to a request due after the POST, from the 200: " + ", ".join(seen))
        counts = defaultdict(Counter)
        for s in answered:
            if done <= s.sched < nxt:
                counts[s.worker or "?"][s.version] += 1
        print("    versions answered after the 200 (by request due time, until the next reload): "
              + ("; ".join(f"{w}: " + " ".join(f"{v}×{n}" for v, n in c.most_common()) for w, c in sorted(counts.items()))
                 or "none (the run ended first)"))
        window = [s for s in run.samples if e["sent"] <= s.sched < done + 2.0]
        kinds = Counter(s.kind for s in window)
        stale = sum(1 for s in answered if done + 2.0 <= s.sched < nxt and s.version != new)
        print(f"    from the POST to 2 s after the 200: {len(window)} due, {kinds[OK]} 2xx, {kinds[SHED]} shed, "
              f"{kinds[TIMEOUT]} over the {timeout:g} s deadline, {kinds[ERR5XX]} 5xx, {kinds[CONNERR]} connection errors; "
              f"later than 2 s after the 200, {stale} answers still on another version")
    if skipped:
        print(f"  reloads {skipped} not sent: the one before answered after the end of the run")
    print(f"  answers mixing versions (older than one the same worker gave before the request was due): {mixing}"
          + ("" if has_worker else " (workers unknown: answers of different workers counted together, so this is an upper bound)"))


def reload_run(args: argparse.Namespace, env: dict) -> None:
    reqs = check_requests(args.timeout)
    pack_dir = Path(tempfile.mkdtemp(prefix="jiyu-bench-pack-"))
    try:
        write_pack(pack_dir, 0)
        with serve(2, {**env, "JIYU_ADMIN_KEYS": ADMIN}, lexicons=[str(pack_dir)]) as (port, proc, log):
            # 16 connections per worker: the kernel spreads them over the workers unevenly
            cap, rates = capacity(port, reqs, args.capacity_seconds, conns=32)
            info = http(port, "GET", "/v1/lexicon", {"Authorization": f"Bearer {KEYS[0]}"}).json()
            v0 = info["lexicon_version"]
            rate = args.reload_level * cap
            print(f"\ncapacity (workers 2, closed loop c=32, {args.capacity_seconds:g} s): {cap:,.0f} 2xx/s ({runs(rates)}); "
                  f"open loop at {args.reload_level:g}× = {rate:,.0f}/s for {args.seconds:g} s with {args.reloads} reloads   [{loadavg()}]")
            reloads: list[dict] = []
            lock = asyncio.Lock()
            end = time.perf_counter() + args.seconds  # close enough to the schedule's end (it starts 50 ms later)
            events = [(args.seconds * (k + 1) / (args.reloads + 1),
                       lambda k=k: reload_once(port, pack_dir, k + 1, lock, reloads, end)) for k in range(args.reloads)]
            cpu0, wall0 = time.process_time(), time.perf_counter()
            with Prober(port) as prober:
                run = run_async(open_loop(port, reqs, rate, args.seconds, args.timeout, args.max_conns, seed=7,
                                          want_body=True, events=events))
                probes = prober.results()
            cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
            alive = proc.poll() is None
            tracebacks = log.read_text(errors="replace").count("Traceback")
        print_levels([(args.reload_level, level_row(run, rate, cap, args.timeout, probes, cpu))], args.timeout)
        reload_report(run, reloads, v0, args.timeout)
        print(f"server: {'alive' if alive else 'DIED'} at the end; {tracebacks} tracebacks in its log   [{loadavg()}]")
    finally:
        shutil.rmtree(pack_dir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60, help="open-loop run per level (and the reload run)")
    ap.add_argument("--levels", default="0.5,1,2,4", help="offered load, in multiples of the measured capacity")
    ap.add_argument("--timeout", type=float, default=1.0, help="client deadline, s (also sent as X-Request-Timeout)")
    ap.add_argument("--capacity-seconds", type=float, default=10, help="the closed-loop capacity run")
    ap.add_argument("--max-conns", type=int, default=4000, help="cap on the generator's open connections")
    ap.add_argument("--reloads", type=int, default=5, help="reloads during the --workers 2 run (0: skip that run)")
    ap.add_argument("--reload-level", type=float, default=2.0, help="offered load of the reload run, × its capacity")
    ap.add_argument("--cache", action="store_true", help="leave the verdict cache on (the 40 replies repeat: cache hits)")
    args = ap.parse_args()
    args.levels = [float(x) for x in args.levels.split(",") if x]
    raise_fd_limit(args.max_conns + 256)
    env = {"JIYU_API_KEYS": ",".join(KEYS), "JIYU_CACHE_SIZE": "10000" if args.cache else "0"}
    print(f"bench/overload.py: {loadavg()}; verdict cache {'on' if args.cache else 'off'}")
    if args.levels:
        overload_levels(args, env)
    if args.reloads:
        reload_run(args, env)


if __name__ == "__main__":
    main()
