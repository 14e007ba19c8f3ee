"""``quco serve`` under load: ``python bench/bench_serve.py [--index DIR] [--servers w1,w2,w1p2] [--concurrency 32,1]``.

For each server setting (default: ``w1`` one uvicorn worker; ``w2`` two workers, ``quco serve --workers 2``;
``w1p2`` one worker sending its check batches to two check processes, ``quco serve --check-processes 2``),
starts a real ``quco serve`` app (uvicorn in a child process, the HTTP parser and event loop named by ``--http``
/ ``--loop``, default: uvicorn's choice of what is installed) on a free loopback port, then, for each
concurrency C (default 32, the issue's, then 1), sends
N requests (default 2,000) to a trivial JSON endpoint of the same app (``GET /healthz``) and N to ``POST
/v1/risk`` with distinct question/answer pairs (EntityQuestions dev rows, hint-free: question and answer only;
each question comes twice in a row, with its right and its swapped answer, and a third of the evidence queries
equal the one before: the passage store's cache finds 48 % of the passages here, 14-16 % when each question comes
once, ``bench_passage_fetch.py --distinct``).
Reports for each: throughput, latency p50 / p99 (client side, from writing the request to reading the whole
response, queueing included), errors (any non-200 or transport failure), the CPU the server spent per request
and the CPU seconds of the client, the load average before and after, and the ratio of the two throughputs
measured in this run. A third row sends N ``POST /v1/risk`` requests that the app rejects with 400 before any
check (an unknown field): what the HTTP path of a POST with a JSON body costs by itself (body read, validation,
a JSON answer; not the report's JSON, ~0.1 ms), so its ratio is a ceiling for a ``/v1/risk`` whose check cost
nothing. ``--json`` prints it all as one object.

The load generator is as cheap as it can be in Python: a separate process (so its CPU time is measured apart
from the server's and nothing else runs in it) holding C raw keep-alive HTTP/1.1 connections over asyncio
streams, each sending prebuilt request bytes and reading the status line, the headers and ``Content-Length``
bytes of body; responses are parsed only after the run. It still shares the machine's CPUs with the server
(the ``cli cpu s`` column says how much it took), so absolute numbers are a floor; the ratio is the comparison.

Targets (issue #15, at 2,000 requests and concurrency 32 on the full wiki2015 index): zero errors, ``/v1/risk``
throughput >= 50 % of the trivial endpoint's, ``/v1/risk`` p99 <= 100 ms. Only the first concurrency given is
judged against them; the others are extra rows.

Index: ``--index``, else ``$QUCO_INDEX``, else ``/tmp/w15def.idx``, the full wiki2015 corpus with the default
build options: ``quco build ../shared/data/wiki2015/ --out /tmp/w15def.idx --workers 2`` (about 90 s).
"""
from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import importlib.util
import json
import multiprocessing
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import EQ_SWAP, load_average, machine_info, read_jsonl  # noqa: E402

TARGETS = {"errors": 0, "ratio": 0.5, "p99_ms": 100.0}
REJECTED = {"question": "Where was Marie Curie born?", "answer": "Warsaw", "not_a_field": 1}  # a 400, no check
DEFAULT_INDEX = "/tmp/w15def.idx"
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)


# ---- the server --------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(config: dict[str, Any], port: int, workers: int, http: str, loop: str,
                 log: Path) -> subprocess.Popen:
    """uvicorn serving ``quco.serve.app:create_app_from_env`` (the app ``quco serve`` runs) with ``config``."""
    from quco.serve.config import ENV, ServeConfig

    env = {**os.environ, ENV: ServeConfig(**config).to_env()}
    cmd = [sys.executable, "-m", "uvicorn", "quco.serve.app:create_app_from_env", "--factory", "--host",
           "127.0.0.1", "--port", str(port), "--workers", str(workers), "--http", http, "--loop", loop,
           "--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log, "w"), env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {log.read_text().strip()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return proc
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start within 300 s")


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants (uvicorn's worker processes), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    keep, total, grew = {pid}, 0.0, True
    while grew:
        grew = False
        for p, (ppid, _) in stats.items():
            if ppid in keep and p not in keep:
                keep.add(p)
                grew = True
    for p in keep:
        total += stats.get(p, (0, 0.0))[1]
    return total


# ---- the load generator (runs in a child process) ----------------------------------------------------------------
def request_bytes(path: str, body: dict[str, Any] | None) -> bytes:
    if body is None:
        return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    data = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n")
    return head.encode() + data


async def _drive(port: int, requests: list[bytes], concurrency: int, keep_bodies: bool,
                 timeout: float) -> dict[str, Any]:
    n = len(requests)
    latency = [float("nan")] * n
    status: list[Any] = [None] * n
    bodies: list[bytes | None] = [None] * n
    todo = iter(range(n))

    async def connection() -> None:
        reader = writer = None
        for i in todo:
            t = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(requests[i])
                head = await reader.readuntil(b"\r\n\r\n")
                m = _CONTENT_LENGTH.search(head)
                if m is None:
                    raise ValueError("a response without Content-Length")
                body = await reader.readexactly(int(m.group(1)))
                latency[i] = time.perf_counter() - t
                status[i] = int(head[9:12])
                if keep_bodies or status[i] != 200:
                    bodies[i] = body
                if _CLOSE.search(head):
                    writer.close()
                    reader = writer = None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
                latency[i] = time.perf_counter() - t
                status[i] = type(e).__name__
                if writer is not None:
                    writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(connection() for _ in range(concurrency))), timeout)
    return {"wall_s": time.perf_counter() - t0, "latency": latency, "status": status, "bodies": bodies}


def drive(port: int, requests: list[bytes], concurrency: int, keep_bodies: bool = False,
          timeout: float = 600.0) -> dict[str, Any]:
    """Send every request once over ``concurrency`` keep-alive connections; what came back, and this process's
    CPU seconds."""
    cpu = time.process_time()
    out = asyncio.run(_drive(port, requests, concurrency, keep_bodies, timeout))
    out["client_cpu_s"] = time.process_time() - cpu
    return out


# ---- one measured phase ------------------------------------------------------------------------------------------
def summarize(raw: dict[str, Any], server_cpu_s: float, is_risk: bool, expect: int = 200) -> dict[str, Any]:
    lat = np.array([x for x in raw["latency"] if x == x]) * 1e3
    errors: dict[str, int] = {}
    checks: list[float] = []
    for st, body in zip(raw["status"], raw["bodies"]):
        if st == expect:
            if is_risk and body is not None:
                checks.append(json.loads(body)["timing"]["total_ms"])
            continue
        kind = f"HTTP {st}: {(body or b'')[:120].decode(errors='replace')}" if isinstance(st, int) else str(st)
        errors[kind] = errors.get(kind, 0) + 1
    n = len(raw["status"])
    return {"requests": n, "wall_s": round(raw["wall_s"], 3), "throughput_rps": round(n / raw["wall_s"], 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 2), "p99_ms": round(float(np.percentile(lat, 99)), 2),
            "max_ms": round(float(lat.max()), 2), "errors": sum(errors.values()), "error_kinds": errors,
            "server_cpu_s": round(server_cpu_s, 2), "client_cpu_s": round(raw["client_cpu_s"], 2),
            "assess_ms": ({"p50": round(float(np.percentile(checks, 50)), 2),
                           "p99": round(float(np.percentile(checks, 99)), 2),
                           "mean": round(float(np.mean(checks)), 2)} if checks else None)}


def phase(pool: concurrent.futures.Executor, server: subprocess.Popen, port: int, requests: list[bytes],
          concurrency: int, is_risk: bool, expect: int = 200) -> dict[str, Any]:
    cpu0 = tree_cpu_seconds(server.pid)
    raw = pool.submit(drive, port, requests, concurrency, is_risk).result()
    return summarize(raw, tree_cpu_seconds(server.pid) - cpu0, is_risk, expect)


def checker_stats(port: int) -> dict[str, Any] | None:
    """The check thread's counters (checks, batches, mean and largest batch) of the worker that answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /v1/index HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return json.loads(data.split(b"\r\n\r\n", 1)[1]).get("checks")


def risk_bodies(n: int, skip: int = 0) -> list[dict[str, Any]]:
    """``n`` question/answer pairs from the EntityQuestions dev file (question and answer only), from row
    ``skip`` on; all distinct while there are rows (3,600), then the questions alone."""
    rows = list(read_jsonl(EQ_SWAP))
    if not rows:
        raise SystemExit(f"no rows in {EQ_SWAP}")
    out = [{"question": r["question"], "answer": r["answer"]} for r in rows[skip:]]
    while len(out) < n:
        out += [{"question": r["question"]} for r in rows]
    return out[:n]


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# ---- main --------------------------------------------------------------------------------------------------------
def parse_server(spec: str) -> tuple[int, int]:
    """``w2`` -> (2 workers, 0 check processes); ``w1p2`` -> (1 worker, 2 check processes)."""
    m = re.fullmatch(r"w(\d+)(?:p(\d+))?", spec.strip())
    if m is None:
        raise SystemExit(f"--servers: {spec!r} is not wN or wNpM (N uvicorn workers, M check processes)")
    return int(m.group(1)), int(m.group(2) or 0)


def serve_and_load(args: argparse.Namespace, config: dict[str, Any], spec: str, levels: list[int],
                   warm: list[bytes], trivial_reqs: list[bytes], risk_reqs: list[bytes],
                   rejected_reqs: list[bytes]) -> dict[str, Any]:
    """One server: a warm-up, then the trivial, the risk and the rejected phase at each level."""
    workers, processes = parse_server(spec)
    config = {**config, "check_processes": processes} if processes else config
    port = free_port()
    server = start_server(config, port, workers, args.http, args.loop, Path(args.server_log))
    runs = []
    try:
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
            pool.submit(drive, port, warm, min(levels[0], 8)).result()  # every worker loads and warms up
            pool.submit(drive, port, trivial_reqs[:500], levels[0]).result()
            for c in levels:
                load_before = load_average()
                trivial = phase(pool, server, port, trivial_reqs, c, False)
                risk = phase(pool, server, port, risk_reqs, c, True)
                risk["checker"] = checker_stats(port)
                rejected = phase(pool, server, port, rejected_reqs, c, False, expect=400)
                runs.append({"concurrency": c, "load_average": {"before": load_before, "after": load_average()},
                             "trivial": trivial, "risk": risk, "rejected": rejected,
                             "ratio": round(risk["throughput_rps"] / trivial["throughput_rps"], 3),
                             "rejected_ratio": round(rejected["throughput_rps"] / trivial["throughput_rps"], 3)})
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    head = runs[0]
    targets = {"concurrency": head["concurrency"],
               "errors": head["risk"]["errors"] + head["trivial"]["errors"] == TARGETS["errors"],
               "ratio": head["ratio"] >= TARGETS["ratio"], "p99": head["risk"]["p99_ms"] <= TARGETS["p99_ms"],
               "trivial_p99": head["trivial"]["p99_ms"] <= TARGETS["p99_ms"]}
    return {"server": spec, "workers": workers, "check_processes": processes, "runs": runs, "targets": targets}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", default=os.environ.get("QUCO_INDEX", DEFAULT_INDEX),
                    help=f"index directory (default $QUCO_INDEX, else {DEFAULT_INDEX})")
    ap.add_argument("--requests", type=int, default=2000, help="requests per endpoint and concurrency")
    ap.add_argument("--concurrency", default="32,1",
                    help="comma-separated; the first is judged against the targets (default 32,1)")
    ap.add_argument("--servers", default="w1,w2,w1p2",
                    help="servers to measure one after the other, comma-separated: wN = quco serve --workers N, "
                         "wNpM = also --check-processes M (default w1,w2,w1p2)")
    ap.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"], help="uvicorn's HTTP parser")
    ap.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"], help="uvicorn's event loop")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=JSON",
                    help="a ServeConfig field for the server, e.g. --set check_batch=1 (repeatable)")
    ap.add_argument("--server-log", default="/tmp/bench_serve_server.log", help="the server's stderr")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = ap.parse_args(argv)
    if not Path(args.index, "manifest.json").exists():
        raise SystemExit(f"no index at {args.index}: quco build ../shared/data/wiki2015/ --out {args.index} "
                         "--workers 2")
    levels = [int(c) for c in args.concurrency.split(",")]
    config: dict[str, Any] = {"index": str(args.index)}
    for item in args.set:
        key, _, value = item.partition("=")
        config[key] = json.loads(value)
    warm = [request_bytes("/v1/risk", b) for b in risk_bodies(64, skip=3600 - 64)]  # rows the run never sends
    risk_reqs = [request_bytes("/v1/risk", b) for b in risk_bodies(args.requests)]
    trivial_reqs = [request_bytes("/healthz", None)] * args.requests
    rejected_reqs = [request_bytes("/v1/risk", REJECTED)] * args.requests
    load_start = load_average()
    specs = args.servers.split(",")
    for spec in specs:
        parse_server(spec)  # a typo fails before the first server starts
    servers = [serve_and_load(args, config, spec, levels, warm, trivial_reqs, risk_reqs, rejected_reqs)
               for spec in specs]
    result = {"machine": machine_info(), "load_average_start": load_start, "load_average_end": load_average(),
              "index": str(args.index), "http": args.http, "loop": args.loop, "server_config": config,
              "installed": {m: installed(m) for m in ("httptools", "uvloop")}, "requests": args.requests,
              "servers": servers}
    if args.json:
        print(json.dumps(result))
    else:
        print_summary(result)
    return result


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def print_summary(result: dict[str, Any]) -> None:
    inst = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in result["installed"].items())
    extra = {k: v for k, v in result["server_config"].items() if k != "index"}
    m = result["machine"]
    print(f"quco serve (uvicorn --http {result['http']} --loop {result['loop']}; installed: {inst})"
          f"{', config ' + json.dumps(extra) if extra else ''}; index {result['index']}")
    print(f"{result['requests']} requests per row; {m['nproc']} CPUs ({m['cpu']}); load generator: 1 process, raw "
          f"keep-alive HTTP/1.1 connections; load average (1/5/15 min) at start {result['load_average_start']}, "
          f"at end {result['load_average_end']}")
    print(f"{'server':>7} {'conc':>4} {'endpoint':<14}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
          f"{'errors':>7}{'srv cpu ms/req':>15}{'cli cpu s':>10}  load avg before -> after")
    for srv in result["servers"]:
        for run in srv["runs"]:
            la = run["load_average"]
            for name, r in (("GET /healthz", run["trivial"]), ("POST /v1/risk", run["risk"]),
                            ("  rejected 400", run["rejected"])):
                print(f"{srv['server']:>7} {run['concurrency']:>4} {name:<14}{r['throughput_rps']:>8.1f}"
                      f"{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['max_ms']:>9.1f}{r['errors']:>7}"
                      f"{r['server_cpu_s'] / r['requests'] * 1e3:>15.2f}{r['client_cpu_s']:>10.2f}  "
                      f"{la['before'][0]:.2f} -> {la['after'][0]:.2f}")
                for kind, k in r["error_kinds"].items():
                    print(f"        error x{k}: {kind}")
            a, ck = run["risk"]["assess_ms"], run["risk"].get("checker")
            line = f"        /v1/risk = {run['ratio']:.1%} of /healthz's throughput"
            if a:
                line += (f"; assess per check (timing.total_ms, without the batch parse it shares) p50 "
                         f"{a['p50']:.2f} ms, mean {a['mean']:.2f} ms")
            if ck:
                line += (f"; check thread of one worker since start: {ck['checks']} checks in {ck['batches']} "
                         f"batches (mean {ck['mean_batch']}, largest {ck['largest_batch']})")
            print(line)
            print(f"        a /v1/risk request rejected before any check (400, an unknown field): "
                  f"{run['rejected_ratio']:.1%} of /healthz's throughput, the most a check that cost nothing "
                  f"could reach")
    print("targets of issue #15 (2,000 requests at concurrency 32: zero errors, /v1/risk >= 50 % of the trivial "
          "endpoint's throughput, /v1/risk p99 <= 100 ms):")
    for srv in result["servers"]:
        t, head = srv["targets"], srv["runs"][0]
        print(f"  {srv['server']} (--workers {srv['workers']}, check_processes {srv['check_processes']}), concurrency {t['concurrency']}: errors {_verdict(t['errors'])}; "
              f"throughput {head['ratio']:.1%} {_verdict(t['ratio'])}; p99 {head['risk']['p99_ms']:.1f} ms "
              f"{_verdict(t['p99'])} (the trivial endpoint's own p99: {head['trivial']['p99_ms']:.1f} ms)")
        if t["concurrency"] != 32 or result["requests"] != 2000:
            print("    (not the issue's setting: its targets are for 2,000 requests at concurrency 32)")


if __name__ == "__main__":
    main()
