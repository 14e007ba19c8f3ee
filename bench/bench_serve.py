"""``quco serve`` under load: ``python bench/bench_serve.py [--index DIR] [--requests N] [--concurrency C]``.

Starts a real ``quco serve`` (a child process, uvicorn, ``--workers W``) on a free loopback port, then sends, in
one run, N requests at concurrency C to a trivial JSON endpoint of the same app (``GET /healthz``) and N to
``POST /v1/risk`` with distinct question/answer pairs (EntityQuestions dev rows, hint-free: question and answer
only). Reports for each: throughput, latency p50 / p99 (client side, including queueing), errors (any non-200 or
transport failure), and the ratio of the two throughputs measured in this run. The load generator is an asyncio
``httpx`` client in this process, on the same machine: it takes CPU from the server, so absolute numbers are a
floor; the ratio is the comparison. Targets (issue #15): zero errors, ``/v1/risk`` throughput >= 50 % of the
trivial endpoint's, ``/v1/risk`` p99 <= 100 ms.

Default index: ``/tmp/wiki.idx`` (build it once: ``quco build ../shared/data/wiki2015/ --out /tmp/wiki.idx
--workers 2``).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import EQ_SWAP, load_average, machine_info, percentiles, read_jsonl  # noqa: E402

TARGETS = {"errors": 0, "ratio": 0.5, "p99_ms": 100.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index: str, port: int, workers: int, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "quco.cli.main", "serve", "--index", index, "--port", str(port),
           "--workers", str(workers), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log, "w"), text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"quco serve exited: {log.read_text().strip()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("quco serve did not start within 300 s")


async def load(url: str, bodies: list[dict[str, Any] | None], concurrency: int) -> dict[str, Any]:
    """Send one request per body (GET when None) with ``concurrency`` in flight; latency and errors."""
    latencies: list[float] = []
    checks: list[float] = []
    errors: dict[str, int] = {}
    queue: asyncio.Queue = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits, trust_env=False) as client:
        async def worker() -> None:
            while True:
                try:
                    body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t = time.perf_counter()
                try:
                    r = await (client.get(url) if body is None else client.post(url, json=body))
                    await r.aread()
                    ok = r.status_code == 200
                    if ok and body is not None:  # the check's own time, measured inside the server
                        checks.append(r.json()["timing"]["total_ms"])
                    kind = None if ok else f"HTTP {r.status_code}: {r.text[:120]}"
                except httpx.HTTPError as e:
                    kind = type(e).__name__
                latencies.append(time.perf_counter() - t)
                if kind:
                    errors[kind] = errors.get(kind, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    lat = percentiles(latencies, (50, 99))
    return {"requests": len(bodies), "wall_s": round(wall, 3), "throughput_rps": round(len(bodies) / wall, 1),
            "p50_ms": round(lat["p50_us"] / 1e3, 2), "p99_ms": round(lat["p99_us"] / 1e3, 2),
            "errors": sum(errors.values()), "error_kinds": errors,
            "assess_ms": ({"p50": round(float(np.percentile(checks, 50)), 2),
                           "p99": round(float(np.percentile(checks, 99)), 2),
                           "mean": round(float(np.mean(checks)), 2)} if checks else None)}


def risk_bodies(n: int) -> list[dict[str, Any]]:
    """``n`` distinct question/answer pairs from the EntityQuestions dev file (question and answer only)."""
    rows = list(read_jsonl(EQ_SWAP))
    if not rows:
        raise SystemExit(f"no rows in {EQ_SWAP}")
    out = [{"question": r["question"], "answer": r["answer"]} for r in rows]
    while len(out) < n:  # more requests than rows: answer-only checks of the questions next
        out += [{"question": r["question"]} for r in rows]
    return out[:n]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", default=os.environ.get("QUCO_INDEX", "/tmp/wiki.idx"))
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1, help="quco serve --workers")
    ap.add_argument("--server-log", default="/tmp/bench_serve_server.log", help="the server's stderr")
    ap.add_argument("--json", action="store_true", help="print the raw result as one JSON object")
    args = ap.parse_args(argv)
    if not Path(args.index, "manifest.json").exists():
        raise SystemExit(f"no index at {args.index}: quco build ../shared/data/wiki2015/ --out {args.index}")
    bodies = risk_bodies(args.requests)
    port = free_port()
    load_before = load_average()
    log = Path(args.server_log)
    proc = start_server(args.index, port, args.workers, log)
    base = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(load(base + "/v1/risk", bodies[:64], min(args.concurrency, 8)))  # warm every worker
        trivial = asyncio.run(load(base + "/healthz", [None] * args.requests, args.concurrency))
        risk = asyncio.run(load(base + "/v1/risk", bodies, args.concurrency))
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    ratio = risk["throughput_rps"] / trivial["throughput_rps"]
    result = {"machine": machine_info(), "load_average": {"before": load_before, "after": load_average()},
              "index": str(args.index), "workers": args.workers, "concurrency": args.concurrency,
              "trivial": trivial, "risk": risk, "ratio": round(ratio, 3),
              "targets": {"errors": risk["errors"] + trivial["errors"] == TARGETS["errors"],
                          "ratio": ratio >= TARGETS["ratio"], "p99": risk["p99_ms"] <= TARGETS["p99_ms"]}}
    if args.json:
        print(json.dumps(result))
        return result
    print(f"quco serve --workers {args.workers}, index {args.index}, {args.requests} requests at concurrency "
          f"{args.concurrency}, load average {load_before[0]:.1f} -> {result['load_average']['after'][0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    print(f"{'endpoint':<16}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name, r in (("GET /healthz", trivial), ("POST /v1/risk", risk)):
        print(f"{name:<16}{r['throughput_rps']:>9.1f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['errors']:>8}")
    t = result["targets"]
    a = risk["assess_ms"]
    if a:
        busy = a["mean"] * risk["requests"] / 1e3 / risk["wall_s"] / args.workers
        print(f"assess inside the server (its report's timing.total_ms): p50 {a['p50']:.2f} ms, p99 {a['p99']:.2f} "
              f"ms, mean {a['mean']:.2f} ms = {busy:.0%} of each worker's wall time")
    for name, r in (("GET /healthz", trivial), ("POST /v1/risk", risk)):
        for kind, n in r["error_kinds"].items():
            print(f"  {name} error x{n}: {kind}")
    print(f"/v1/risk throughput = {ratio:.1%} of the trivial endpoint's (target >= 50 %: "
          f"{'met' if t['ratio'] else 'NOT met'}); p99 {risk['p99_ms']:.1f} ms (target <= 100 ms: "
          f"{'met' if t['p99'] else 'NOT met'}); errors {'none' if t['errors'] else 'SOME'}")
    return result


if __name__ == "__main__":
    main()
