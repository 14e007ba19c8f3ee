"""``quco serve`` under concurrency: many checks at once give the same reports as the same checks one by one.

The server checks requests in batches (:mod:`quco.serve.checks`: one check thread per process, the texts of the
requests waiting together parsed in one spaCy batch). These tests compare what comes back under concurrency with
``assess`` called sequentially, in a process whose parse cache the server never touched: a real ``quco serve``
child process on loopback for the HTTP tests, a fresh parse cache for the in-process one.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import product

import httpx
import pytest

from quco.errors import ConfigError
from quco.gate.assess import assess
from quco.gate.claim_entities import set_parse_cache
from quco.serve.app import create_app
from quco.serve.checks import CheckBatcher
from quco.serve.config import ServeConfig
from test_serve_support import (CURIE_Q, EINSTEIN_Q, closed_port, index, index_dir, running,  # noqa: F401
                                upstream)

QUESTIONS = [CURIE_Q, EINSTEIN_Q, "Who married Pierre Curie?", "Where did Frederic Chopin live?",
             "When did Albert Einstein receive the Nobel Prize?", "Where was Isaac Newton born?"]
ANSWERS = [None, "Warsaw", "Ulm", "Paris", "Lisbon", "She was born in Warsaw.", "He was born in Ulm in 1879.",
           "Marie Curie", "In 1921, in Stockholm.", "Albert Einstein was born in Warsaw. He later lived in Bern."]
CHECKS = ([(q, a, mode) for (q, a), mode in zip(product(QUESTIONS, ANSWERS), ["factual", "creative"] * 30)]
          + [(CURIE_Q, "Warsaw", "auto"), (EINSTEIN_Q, "Warsaw", "auto")])  # the router is slow: two will do


def comparable(report: dict) -> dict:
    """A report without its timings (the one part that differs from run to run)."""
    return {k: v for k, v in report.items() if k != "timing"}


@pytest.fixture(scope="module")
def sequential(index):
    """The reports of ``CHECKS``, one ``assess`` at a time, from an empty parse cache."""
    set_parse_cache(512)
    try:
        return [comparable(assess(q, a, index=index, mode=m).to_dict()) for q, a, m in CHECKS]
    finally:
        set_parse_cache(512)


@pytest.fixture(scope="module")
def child_server(index_dir):
    """A real ``quco serve`` in a child process (its own parse cache), on a free loopback port."""
    port = closed_port()
    env = {k: v for k, v in os.environ.items() if k != "QUCO_API_KEY"}
    proc = subprocess.Popen([sys.executable, "-m", "quco.cli.main", "serve", "--index", str(index_dir), "--port",
                             str(port), "--log-level", "warning"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"quco serve exited: {proc.stderr.read()}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("quco serve did not start within 120 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def body(q: str, a: str | None, mode: str) -> dict:
    return {"question": q, "mode": mode} if a is None else {"question": q, "answer": a, "mode": mode}


def test_concurrent_risk_requests_give_the_sequential_reports(child_server, sequential):
    """62 distinct checks, 32 in flight at a time, three rounds: each report equals sequential ``assess``'s, and
    the server did check them in batches (else this would test nothing about batching)."""
    with httpx.Client(base_url=child_server, timeout=60,
                      limits=httpx.Limits(max_connections=32, max_keepalive_connections=32)) as http:
        def one(i: int) -> tuple[int, dict]:
            r = http.post("/v1/risk", json=body(*CHECKS[i % len(CHECKS)]))
            assert r.status_code == 200, r.text
            return i % len(CHECKS), comparable(r.json())

        with ThreadPoolExecutor(32) as pool:
            got = list(pool.map(one, range(3 * len(CHECKS))))
        stats = http.get("/v1/index").json()["checks"]
    for i, report in got:
        assert report == sequential[i], CHECKS[i]
    assert stats["checks"] >= 3 * len(CHECKS)
    assert stats["largest_batch"] > 1 and stats["batches"] < stats["checks"]


def test_batch_route_gives_the_sequential_reports_in_order(child_server, sequential):
    reqs = [body(*c) for c in CHECKS]
    with ThreadPoolExecutor(4) as pool:  # four batches at once, their checks interleaved in the check thread
        futures = [pool.submit(httpx.post, child_server + "/v1/risk/batch", json=reqs[k::4], timeout=60)
                   for k in range(4)]
        answers = [f.result() for f in futures]
    for k, r in enumerate(answers):
        assert r.status_code == 200, r.text
        assert [comparable(x) for x in r.json()] == sequential[k::4]


def checked_from_threads(batcher: CheckBatcher) -> list[dict]:
    """``CHECKS`` through ``batcher`` from 16 threads, plus one invalid check that must fail alone (with the
    ``ConfigError`` ``assess`` raises); the reports, comparable; the batcher closed."""
    try:
        bad = batcher.submit(CURIE_Q, "Warsaw", "bogus")
        with ThreadPoolExecutor(16) as pool:
            got = list(pool.map(lambda c: batcher.check_sync(*c), CHECKS))
        with pytest.raises(ConfigError):
            bad.result(timeout=60)
    finally:
        batcher.close()
    return [comparable(r.to_dict()) for r in got]


def test_batcher_batches_and_matches_sequential_assess(index, sequential):
    """In-process: checks queued from many threads are taken in batches of at most ``max_batch``; every caller
    gets its own report, equal to sequential ``assess``'s; an invalid check fails alone."""
    set_parse_cache(512)  # nothing parsed yet: the batch parse is what the checks find
    batcher = CheckBatcher(index, max_batch=8, wait_ms=50)
    assert checked_from_threads(batcher) == sequential
    stats = batcher.stats()
    assert stats["checks"] == len(CHECKS) + 1
    assert 1 < stats["largest_batch"] <= 8
    assert not batcher.thread.is_alive()


def test_concurrent_chat_completions_match_sequential_ones(index, upstream):
    """The proxy's checks go through the same check thread (``GatedLLM.check``, the hook): 24 concurrent chat
    requests get the decision, the call count and the answer that the same requests get one at a time."""
    questions = [EINSTEIN_Q, CURIE_Q, "Where did Frederic Chopin live?"] * 8
    with running(create_app(ServeConfig(upstream=upstream.url), index=index)) as url:
        def ask(q: str) -> tuple:
            r = httpx.post(url + "/v1/chat/completions", timeout=60,
                           json={"model": "tiny-1", "messages": [{"role": "user", "content": q}]})
            assert r.status_code == 200, r.text
            data = r.json()
            return (data["choices"][0]["message"]["content"], data["quco"]["decision"], data["quco"]["calls"],
                    data["quco"]["regenerated"], json.dumps(comparable(data["quco"]), sort_keys=True))

        one_by_one = [ask(q) for q in questions]
        with ThreadPoolExecutor(24) as pool:
            together = list(pool.map(ask, questions))
    assert together == one_by_one
    assert any(x[3] for x in together)  # the Einstein answers were regenerated with evidence


def test_check_processes_give_the_sequential_reports(index, sequential):
    """``check_processes=2``: the batches run in two spawned check processes (each opens the index itself); every
    caller still gets the sequential report, and an invalid check fails alone."""
    batcher = CheckBatcher(index, max_batch=8, processes=2)
    assert batcher.stats()["processes"] == 2
    assert checked_from_threads(batcher) == sequential


def test_gc_freeze_after_start(index):
    """``gc_freeze`` (default): once the server has started, the long-lived objects are out of the collector's
    sight (a full collection over them took ~200 ms on wiki2015, a stall under load); off, nothing is frozen."""
    import gc

    gc.unfreeze()
    with running(create_app(ServeConfig(gc_freeze=False), index=index)) as url:
        assert httpx.get(url + "/healthz").status_code == 200
        assert gc.get_freeze_count() == 0
    with running(create_app(ServeConfig(), index=index)) as url:
        assert httpx.get(url + "/healthz").status_code == 200
        assert gc.get_freeze_count() > 0
    gc.unfreeze()
