"""``quco serve`` end to end: a real upstream and real servers on loopback, driven by the official ``openai`` client.

Index: six articles in which Marie Curie co-occurs with Warsaw and Albert Einstein never does (he co-occurs with
Ulm). The upstream answers the Einstein question wrongly unless the Einstein passage is in the messages.
"""
from __future__ import annotations

import json
import logging

import httpx
import pytest
from click.testing import CliRunner

from quco.cli.main import cli
from quco.serve.app import create_app
from quco.serve.config import ServeConfig
from test_serve_support import (CURIE_Q, CURIE_RIGHT, EINSTEIN_Q, EINSTEIN_RIGHT, EINSTEIN_WRONG,  # noqa: F401
                                EVIDENCE_MARK, closed_port, index, index_dir, running, upstream, user_text)
# (index_dir, index and upstream are fixtures; upstream is shared with tests/test_litellm_guardrail.py)

openai = pytest.importorskip("openai")

KEY = "sk-quco-test-key"
UPSTREAM_KEY = "sk-upstream-secret"


@pytest.fixture(scope="module")
def server(index, upstream):
    """Pass-through streaming, an API key, a short upstream timeout."""
    cfg = ServeConfig(upstream=upstream.url, api_key=KEY, upstream_api_key=UPSTREAM_KEY, upstream_timeout=1.0,
                      max_batch=3, max_body=4096)
    with running(create_app(cfg, index=index)) as url:
        yield url


@pytest.fixture(scope="module")
def buffered(index, upstream):
    with running(create_app(ServeConfig(upstream=upstream.url, stream_check="buffer"), index=index)) as url:
        yield url


def client(base: str, key: str | None = KEY, **kw) -> "openai.OpenAI":
    return openai.OpenAI(base_url=base + "/v1", api_key=key or "none", max_retries=0, timeout=20, **kw)


def ask(c, question: str, **kw):
    return c.chat.completions.with_raw_response.create(model="tiny-1",
                                                       messages=[{"role": "user", "content": question}], **kw)


# ---- the proxy --------------------------------------------------------------------------------------------------
def test_pass(server, upstream):
    raw = ask(client(server), CURIE_Q)
    resp = raw.parse()
    assert resp.choices[0].message.content == CURIE_RIGHT
    assert raw.headers["x-quco-decision"] == "pass"
    q = resp.model_extra["quco"]
    assert q["decision"] == "pass" and q["flagged"] is False and q["calls"] == 1 and not q["regenerated"]
    assert q["answer"] == CURIE_RIGHT and float(raw.headers["x-quco-risk"]) == q["risk"]


def test_retrieve_and_regenerate(server, upstream):
    before = len(upstream.requests)
    raw = ask(client(server), EINSTEIN_Q)
    resp = raw.parse()
    q = resp.model_extra["quco"]
    assert resp.choices[0].message.content == EINSTEIN_RIGHT
    assert q["regenerated"] and q["calls"] == 2 and q["first_attempt"] == EINSTEIN_WRONG
    assert q["decision"] == "pass" and raw.headers["x-quco-decision"] == "pass"
    sent = [user_text(body) for body, _ in upstream.requests[before:]]
    assert len(sent) == 2 and EVIDENCE_MARK not in sent[0] and EVIDENCE_MARK in sent[1]
    assert sent[1].endswith(EINSTEIN_Q)  # the evidence block, then the user's own question


def test_annotate(server):
    raw = ask(client(server), EINSTEIN_Q, extra_body={"quco": {"on_risk": "annotate"}})
    resp = raw.parse()
    q = resp.model_extra["quco"]
    assert resp.choices[0].message.content == EINSTEIN_WRONG
    assert q["decision"] == "retrieve" and q["flagged"] and q["calls"] == 1
    assert any(p["unseen"] and {p["a"], p["b"]} == {"Albert Einstein", "Warsaw"} for p in q["pairs"])
    assert raw.headers["x-quco-decision"] == "retrieve"


def test_block(server):
    with pytest.raises(openai.BadRequestError) as err:
        ask(client(server), EINSTEIN_Q, extra_body={"quco": {"on_risk": "block"}})
    e = err.value
    assert e.status_code == 400 and e.code == "quco_blocked" and e.type == "guardrail_violation"
    assert e.body["quco"]["decision"] == "retrieve" and e.body["quco"]["answer"] == EINSTEIN_WRONG
    assert e.response.headers["x-quco-decision"] == "retrieve"


def test_pre_stage_evidence_goes_into_the_messages(server, upstream):
    before = len(upstream.requests)
    raw = ask(client(server), "Did Zorblax Quint meet Albert Einstein in Bern?")
    q = raw.parse().model_extra["quco"]
    assert q["pre"]["decision"] == "retrieve" and q["pre"]["stage"] == "pre"
    first = user_text(upstream.requests[before][0])
    assert "Evidence:" in first and first.endswith("Did Zorblax Quint meet Albert Einstein in Bern?")


def test_authorization_passes_through_and_is_never_logged(server, upstream, caplog):
    caplog.set_level(logging.DEBUG)
    before = len(upstream.requests)
    c = client(server, key="sk-client-own-upstream-key", default_headers={"X-Quco-Api-Key": KEY})
    ask(c, CURIE_Q)
    ask(client(server), CURIE_Q)  # the quco key as bearer: the upstream gets --upstream-api-key instead
    auths = [a for _, a in upstream.requests[before:]]
    assert auths == ["Bearer sk-client-own-upstream-key", f"Bearer {UPSTREAM_KEY}"]
    assert "sk-client-own-upstream-key" not in caplog.text and KEY not in caplog.text


# ---- streaming --------------------------------------------------------------------------------------------------
def _collect(stream):
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason is not None]
    return chunks, text, final


def test_stream_pass_through_reports_in_the_final_chunk(server):
    raw = ask(client(server), EINSTEIN_Q, stream=True)
    assert raw.headers["x-quco-decision"] == "pass" and raw.headers["x-quco-stage"] == "pre"
    chunks, text, final = _collect(raw.parse())
    assert text == EINSTEIN_WRONG  # already sent: pass-through can only annotate
    assert len(final) == 1 and final[0].model_extra["quco"]["decision"] == "retrieve"
    assert final[0].model_extra["quco"]["answer"] == EINSTEIN_WRONG
    assert [c for c in chunks if "quco" in (c.model_extra or {})] == final


def test_stream_raw_events_end_with_done_after_the_report(server):
    with httpx.stream("POST", server + "/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                      json={"model": "tiny-1", "stream": True, "messages": [{"role": "user", "content": CURIE_Q}]},
                      timeout=20) as r:
        lines = [line for line in r.iter_lines() if line.startswith("data:")]
    assert lines[-1] == "data: [DONE]"
    assert '"quco"' in lines[-2] and json.loads(lines[-2][5:])["quco"]["decision"] == "pass"


def test_stream_pass_through_pre_stage(server, upstream):
    unknown = "Did Zorblax Quint meet Albert Einstein in Bern?"
    before = len(upstream.requests)
    raw = ask(client(server), unknown, stream=True)
    assert raw.headers["x-quco-decision"] == "retrieve" and raw.headers["x-quco-stage"] == "pre"
    _collect(raw.parse())
    assert "Evidence:" in user_text(upstream.requests[before][0])  # evidence went in before the call
    with pytest.raises(openai.BadRequestError) as err:  # block refuses before any chunk, and before the model
        ask(client(server), unknown, stream=True, extra_body={"quco": {"on_risk": "block"}})
    assert err.value.code == "quco_blocked" and len(upstream.requests) == before + 1


def test_stream_buffer_regenerates(buffered):
    raw = ask(client(buffered, key=None), EINSTEIN_Q, stream=True)
    assert raw.headers["x-quco-decision"] == "pass"
    chunks, text, final = _collect(raw.parse())
    assert text == EINSTEIN_RIGHT
    q = final[0].model_extra["quco"]
    assert q["regenerated"] and q["first_attempt"] == EINSTEIN_WRONG and q["decision"] == "pass"


def test_stream_buffer_blocks(buffered):
    with pytest.raises(openai.BadRequestError) as err:
        ask(client(buffered, key=None), EINSTEIN_Q, stream=True, extra_body={"quco": {"on_risk": "block"}})
    assert err.value.code == "quco_blocked"


# ---- failures ---------------------------------------------------------------------------------------------------
def test_upstream_down_is_502(index):
    with running(create_app(ServeConfig(upstream=f"http://127.0.0.1:{closed_port()}/v1"), index=index)) as url:
        with pytest.raises(openai.InternalServerError) as err:
            ask(client(url, key=None), CURIE_Q)
        assert err.value.status_code == 502 and err.value.code == "upstream_error"
        with pytest.raises(openai.InternalServerError) as err:
            ask(client(url, key=None), CURIE_Q, stream=True)
        assert err.value.status_code == 502


def test_no_upstream_is_503(index):
    with running(create_app(ServeConfig(), index=index)) as url:
        with pytest.raises(openai.InternalServerError) as err:
            ask(client(url, key=None), CURIE_Q)
        assert err.value.status_code == 503 and err.value.code == "no_upstream"
        assert httpx.post(url + "/v1/risk", json={"question": CURIE_Q}).json()["decision"] == "pass"


def test_upstream_slow_is_504(server):
    with pytest.raises(openai.InternalServerError) as err:
        ask(client(server), "Where was Marie Curie born? Answer slow.")
    assert err.value.status_code == 504 and err.value.code == "upstream_timeout"


def test_upstream_errors(server):
    with pytest.raises(openai.InternalServerError) as err:  # an upstream 5xx is the proxy's 502
        ask(client(server), "Where was Marie Curie born? crash")
    assert err.value.status_code == 502 and "HTTP 500" in err.value.message
    c = client(server, key="rejected-by-upstream", default_headers={"X-Quco-Api-Key": KEY})
    with pytest.raises(openai.AuthenticationError) as err:  # an upstream 4xx comes back as it was
        ask(c, CURIE_Q)
    assert err.value.status_code == 401 and err.value.code == "invalid_api_key"


def test_malformed_bodies_are_400(server):
    h = {"Authorization": f"Bearer {KEY}"}
    for body in (b"{not json", b"[]", b'{"model": "x", "messages": []}', b'{"messages": [{"role": "system"}]}',
                 b'{"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}',
                 b'{"messages": [{"role": "user", "content": "hi"}], "quco": {"mode": "poetic"}}'):
        r = httpx.post(server + "/v1/chat/completions", content=body, headers=h)
        assert r.status_code == 400, body
        assert r.json()["error"]["message"] and "Traceback" not in r.text
    with pytest.raises(openai.BadRequestError):
        client(server).chat.completions.create(model="tiny-1", messages=[])
    for body in (b"xx", b'{"question": 3}', b'{"question": "q", "mood": "x"}', b'{"question": "q", "mode": "x"}'):
        r = httpx.post(server + "/v1/risk", content=body, headers=h)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_body", body


def test_limits(server):
    h = {"Authorization": f"Bearer {KEY}"}
    r = httpx.post(server + "/v1/risk/batch", json=[{"question": CURIE_Q}] * 4, headers=h)
    assert r.status_code == 413 and r.json()["error"]["code"] == "batch_too_large"
    r = httpx.post(server + "/v1/risk", json={"question": "x" * 5000}, headers=h)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_api_key(server):
    with pytest.raises(openai.AuthenticationError):
        ask(client(server, key="wrong"), CURIE_Q)
    for path in ("/v1/index", "/v1/models", "/openapi.json"):
        assert httpx.get(server + path).status_code == 401
        assert httpx.get(server + path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    r = httpx.post(server + "/v1/risk", json={"question": CURIE_Q})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    assert httpx.get(server + "/healthz").json() == {"status": "ok"}


# ---- the risk API -----------------------------------------------------------------------------------------------
def test_risk_is_the_cli_report(server, index_dir):
    question, answer = EINSTEIN_Q, EINSTEIN_WRONG
    r = httpx.post(server + "/v1/risk", json={"question": question, "answer": answer},
                   headers={"Authorization": f"Bearer {KEY}"})
    cli_out = CliRunner().invoke(cli, ["risk", "--index", str(index_dir), "-q", question, "-a", answer, "--json"])
    assert r.status_code == 200 and cli_out.exit_code == 1
    got, want = r.json(), json.loads(cli_out.output)
    got.pop("timing"), want.pop("timing")
    assert got == want and got["decision"] == "retrieve"
    assert r.headers["x-quco-decision"] == "retrieve"
    body = {"question": "Where was he born?", "answer": EINSTEIN_WRONG, "subject": "Albert Einstein"}
    r = httpx.post(server + "/v1/risk", json=body, headers={"Authorization": f"Bearer {KEY}"})
    cli_out = CliRunner().invoke(cli, ["risk", "--index", str(index_dir), "-q", body["question"], "-a", answer,
                                       "--subject", "Albert Einstein", "--json"])
    got, want = r.json(), json.loads(cli_out.output)
    got.pop("timing"), want.pop("timing")
    assert got == want


def test_risk_batch_and_html(server):
    h = {"Authorization": f"Bearer {KEY}"}
    reqs = [{"question": CURIE_Q, "answer": CURIE_RIGHT}, {"question": EINSTEIN_Q, "answer": EINSTEIN_WRONG},
            {"question": "Write a poem about Albert Einstein in Warsaw", "answer": EINSTEIN_WRONG,
             "mode": "creative"}]
    out = httpx.post(server + "/v1/risk/batch", json=reqs, headers=h).json()
    assert [r["decision"] for r in out] == ["pass", "retrieve", "sanctioned_blend"]
    assert httpx.post(server + "/v1/risk/batch", json={"requests": reqs[:1]}, headers=h).json()[0]["decision"] == "pass"
    page = httpx.post(server + "/v1/risk?format=html", json=reqs[1], headers=h)
    assert page.headers["content-type"].startswith("text/html") and '<mark class="risky">Warsaw' in page.text


def test_index_models_openapi(server, index):
    h = {"Authorization": f"Bearer {KEY}"}
    s = httpx.get(server + "/v1/index", headers=h).json()
    assert s["documents"] == index.n_documents == 6 and s["entities"] == index.stats()["entities"]
    assert httpx.get(server + "/v1/models", headers=h).json()["data"][0]["id"] == "tiny-1"
    assert [m.id for m in client(server).models.list()] == ["tiny-1"]
    paths = httpx.get(server + "/openapi.json", headers=h).json()["paths"]
    assert {"/v1/risk", "/v1/risk/batch", "/v1/chat/completions", "/v1/index", "/healthz"} <= set(paths)


def test_cli_serve_refuses_a_missing_index(tmp_path):
    out = CliRunner().invoke(cli, ["serve", "--index", str(tmp_path / "nowhere")])
    assert out.exit_code == 2 and "no index at" in out.output and "Traceback" not in out.output


@pytest.mark.slow
def test_cli_serve_with_workers(index_dir):
    """``quco serve --workers 2`` as a real process: both workers answer from the index (settings via the env)."""
    import subprocess
    import sys
    import time

    port = closed_port()
    proc = subprocess.Popen([sys.executable, "-m", "quco.cli.main", "serve", "--index", str(index_dir), "--port",
                             str(port), "--workers", "2", "--api-key", KEY, "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline, ok = time.monotonic() + 120, False
        while time.monotonic() < deadline and proc.poll() is None and not ok:
            try:
                ok = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.3)
        assert ok, proc.stderr.read() if proc.poll() is not None else "quco serve did not start"
        h = {"Authorization": f"Bearer {KEY}"}
        reports = [httpx.post(f"http://127.0.0.1:{port}/v1/risk", json={"question": CURIE_Q, "answer": CURIE_RIGHT},
                              headers=h, timeout=30).json() for _ in range(4)]
        assert [r["decision"] for r in reports] == ["pass"] * 4
        assert httpx.post(f"http://127.0.0.1:{port}/v1/risk", json={"question": CURIE_Q}).status_code == 401
    finally:
        proc.terminate()
        proc.wait(30)


def test_serve_set_changes_the_gate_of_every_check(index, index_dir):
    """``quco serve --set FIELD=VALUE`` (``ServeConfig.gate``): /v1/risk reports equal ``quco risk --set``'s, and
    a wrong field fails before serving."""
    from quco.errors import ConfigError

    settings = ("pass_passage=0.2", "passage_weight=0.3")
    with running(create_app(ServeConfig(gate=settings), index=index)) as url:
        r = httpx.post(url + "/v1/risk", json={"question": EINSTEIN_Q, "answer": EINSTEIN_RIGHT})
    argv = ["risk", "--index", str(index_dir), "-q", EINSTEIN_Q, "-a", EINSTEIN_RIGHT, "--json"]
    cli_out = CliRunner().invoke(cli, argv + [a for s in settings for a in ("--set", s)])
    got, want = r.json(), json.loads(cli_out.output)
    got.pop("timing"), want.pop("timing")
    assert got == want and got["thresholds"]["pass_passage"] == 0.2 and got["thresholds"]["passage_weight"] == 0.3
    env = ServeConfig(gate=settings).to_env()  # what --workers N hands each worker
    assert ServeConfig(**json.loads(env)).gate == settings
    with pytest.raises(ConfigError, match="no such GateConfig field"):
        ServeConfig(gate=("pass_pasage=0",))
