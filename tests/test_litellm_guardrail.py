"""The LiteLLM guardrail, registered from a real ``config.yaml`` through LiteLLM's own guardrail loader, its hooks
called on real LiteLLM request data and real ``ModelResponse`` objects (from ``litellm.acompletion`` against the
test upstream on loopback): one passing and one blocking case at each stage."""
from __future__ import annotations

import asyncio
import os

import pytest

from test_serve_support import (CURIE_Q, CURIE_RIGHT, EINSTEIN_Q, EINSTEIN_WRONG, build_tiny_index,  # noqa: F401
                                upstream)  # upstream: a fixture

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # LiteLLM stays offline
litellm = pytest.importorskip("litellm")
yaml = pytest.importorskip("yaml")

CONFIG = """\
guardrails:
  - guardrail_name: quco
    litellm_params:
      guardrail: quco.serve.litellm_guardrail.QucoGuardrail
      mode: [pre_call, post_call]
      default_on: true
      quco_index: {index}
      quco_mode: factual
      quco_on_risk: block
"""


def load_guardrails(config_path) -> list:
    """Register the ``guardrails:`` of a LiteLLM ``config.yaml`` as the LiteLLM proxy's loader does
    (``initialize_custom_guardrail``), with LiteLLM's own pieces that need no proxy extra: ``LitellmParams``
    validates each entry, ``get_instance_fn`` imports the class named by ``guardrail:``."""
    from litellm.proxy.types_utils.utils import get_instance_fn
    from litellm.types.guardrails import LitellmParams

    out = []
    for entry in yaml.safe_load(config_path.read_text())["guardrails"]:
        params = LitellmParams(**entry["litellm_params"])
        cls = get_instance_fn(params.guardrail, config_file_path=str(config_path))
        extra = {k: v for k, v in (params.model_extra or {}).items()}
        out.append(cls(guardrail_name=entry["guardrail_name"], event_hook=params.mode, default_on=params.default_on,
                       **extra))
    return out


@pytest.fixture(scope="module")
def guardrail(tmp_path_factory):
    from quco.serve.litellm_guardrail import QucoGuardrail

    root = tmp_path_factory.mktemp("litellm")
    build_tiny_index(root)
    config = root / "config.yaml"
    config.write_text(CONFIG.format(index=root / "tiny.idx"), encoding="utf-8")
    loaded = load_guardrails(config)
    assert len(loaded) == 1 and isinstance(loaded[0], QucoGuardrail)
    return loaded[0]


def _call(guardrail, upstream, question: str):
    """What the LiteLLM proxy does for one request: pre-call hook, the model call, post-call hook."""
    from litellm.proxy._types import UserAPIKeyAuth

    async def run():
        auth = UserAPIKeyAuth(api_key="sk-test")
        data = {"model": "openai/tiny-1", "messages": [{"role": "user", "content": question}], "metadata": {}}
        data = await guardrail.async_pre_call_hook(auth, None, data, "acompletion")
        response = await litellm.acompletion(model=data["model"], messages=data["messages"], api_base=upstream.url,
                                             api_key="sk-upstream", max_retries=0, timeout=20)
        response = await guardrail.async_post_call_success_hook(data, auth, response)
        return data, response

    return asyncio.run(run())


def test_config_yaml_sets_the_hooks(guardrail):
    assert guardrail.guardrail_name == "quco" and guardrail.quco_on_risk == "block"
    assert guardrail.index.n_documents == 6


def test_passing_answer_is_annotated(guardrail, upstream):
    data, response = _call(guardrail, upstream, CURIE_Q)
    assert isinstance(response, litellm.ModelResponse)
    assert response.choices[0].message.content == CURIE_RIGHT
    assert data["metadata"]["quco"]["decision"] == "pass" and data["metadata"]["quco_pre"]["decision"] == "pass"
    assert response._hidden_params["additional_headers"]["x-quco-decision"] == "pass"


def test_unsupported_answer_is_blocked_after_the_call(guardrail, upstream):
    from litellm.exceptions import GuardrailRaisedException

    n = len(upstream.requests)
    with pytest.raises(GuardrailRaisedException) as err:
        _call(guardrail, upstream, EINSTEIN_Q)
    assert len(upstream.requests) == n + 1 and err.value.status_code == 400 and err.value.blocked_content
    assert "never appear together" in str(err.value) and "Warsaw" in str(err.value)
    assert EINSTEIN_WRONG.replace('.', '') in str(err.value) or 'Warsaw' in str(err.value)


def test_unknown_question_is_blocked_before_the_call(guardrail, upstream):
    from litellm.exceptions import GuardrailRaisedException

    n = len(upstream.requests)
    with pytest.raises(GuardrailRaisedException) as err:
        _call(guardrail, upstream, "Where was Zorblax Quint born?")
    assert len(upstream.requests) == n  # the model was never called
    assert "stage pre" in str(err.value)
