"""A LiteLLM guardrail: the quco gate inside a LiteLLM proxy (``pip install 'quco-gate[litellm]'``).

Register it in LiteLLM's ``config.yaml``::

    guardrails:
      - guardrail_name: quco
        litellm_params:
          guardrail: quco.serve.litellm_guardrail.QucoGuardrail
          mode: [pre_call, post_call]
          default_on: true
          quco_index: /data/wiki.idx      # default: $QUCO_INDEX, else the bundled sample
          quco_mode: factual              # factual | creative | auto
          quco_on_risk: block             # block | annotate | retrieve

Pre-call (``async_pre_call_hook``): the last user message is checked before the model is called. A flagged
question is refused with ``block`` (LiteLLM's :class:`GuardrailRaisedException`, HTTP 400), gets the evidence
passages in its message with ``retrieve``, and is only annotated with ``annotate``. Post-call
(``async_post_call_success_hook``): the answer is checked against the user's own question; a flagged answer is
refused with ``block``, otherwise annotated. Annotations: the reports go into the request's ``metadata``
(``quco_pre``, ``quco``, so LiteLLM's loggers see them) and the decision into the response's hidden params and
``x-quco-decision`` / ``x-quco-risk`` response headers.

Only this module imports ``litellm``; nothing else in quco does. Importing it keeps LiteLLM offline: it sets
``LITELLM_LOCAL_MODEL_COST_MAP`` (unless set) so LiteLLM reads its bundled model price map instead of fetching one.
"""
from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

try:
    from litellm.exceptions import GuardrailRaisedException
    from litellm.integrations.custom_guardrail import CustomGuardrail
    from litellm.types.guardrails import GuardrailEventHooks
except ImportError as e:  # pragma: no cover - only without the extra
    raise ImportError(f"the LiteLLM guardrail needs litellm: pip install 'quco-gate[litellm]' ({e})") from e

from quco.errors import ConfigError
from quco.data.default import open_index
from quco.gate.assess import MODES, assess
from quco.gate.report import RiskReport
from quco.gate.wrap import wrap

ON_RISK = ("block", "annotate", "retrieve")
CHAT_CALLS = frozenset({"completion", "acompletion", "text_completion", "atext_completion"})


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _last_user(messages: Any) -> int | None:
    if not isinstance(messages, list):
        return None
    return next((n for n in range(len(messages) - 1, -1, -1)
                 if isinstance(messages[n], dict) and messages[n].get("role") == "user"), None)


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


class QucoGuardrail(CustomGuardrail):
    """quco's pre- and post-call checks as a LiteLLM guardrail (see the module docstring for the config)."""

    use_native_lifecycle_hooks = True  # run these hooks, not the unified apply_guardrail interface

    def __init__(self, quco_index: str | None = None, quco_mode: str = "factual", quco_on_risk: str = "block",
                 **kwargs: Any):
        if quco_mode not in MODES:
            raise ConfigError(f"quco_mode must be one of {', '.join(MODES)}, not {quco_mode!r}")
        if quco_on_risk not in ON_RISK:
            raise ConfigError(f"quco_on_risk must be one of {', '.join(ON_RISK)}, not {quco_on_risk!r}")
        kwargs.setdefault("guardrail_name", "quco")
        super().__init__(supported_event_hooks=[GuardrailEventHooks.pre_call, GuardrailEventHooks.post_call],
                         **kwargs)
        self.index = open_index(quco_index)  # else $QUCO_INDEX, else the bundled sample; opened once, at startup
        self.quco_mode, self.quco_on_risk = quco_mode, quco_on_risk
        self._lock = threading.Lock()

    def _assess_locked(self, question: str, answer: str | None) -> RiskReport:
        with self._lock:  # the index's readers are not all thread-safe: one check at a time
            return assess(question, answer, index=self.index, mode=self.quco_mode)

    async def _assess(self, question: str, answer: str | None) -> RiskReport:
        return await asyncio.to_thread(self._assess_locked, question, answer)

    def _block(self, report: RiskReport) -> GuardrailRaisedException:
        reasons = "; ".join(report.reasons) or report.decision
        return GuardrailRaisedException(
            guardrail_name=self.guardrail_name, status_code=400, blocked_content=True,
            message=f"quco: {report.decision} at stage {report.stage}, risk {report.risk_text}: {reasons}")

    @staticmethod
    def _metadata(data: dict) -> dict:
        meta = data.get("metadata")
        if not isinstance(meta, dict):
            meta = data["metadata"] = {}
        return meta

    async def async_pre_call_hook(self, user_api_key_dict: Any, cache: Any, data: dict, call_type: str) -> dict:
        """Check the question before the call: block, add evidence to the last user message, or annotate."""
        if call_type not in CHAT_CALLS or not self.should_run_guardrail(data, GuardrailEventHooks.pre_call):
            return data
        messages = data.get("messages")
        at = _last_user(messages)
        if at is None:
            return data
        question = _text(messages[at].get("content"))
        report = await self._assess(question, None)
        meta = self._metadata(data)
        meta["quco_question"], meta["quco_pre"] = question, report.to_dict()
        if report.flagged and self.quco_on_risk == "block":
            raise self._block(report)
        if report.flagged and self.quco_on_risk == "retrieve" and report.evidence:
            augmented = wrap(lambda p: p, index=self.index).augment(question, list(report.evidence))
            messages[at] = {**messages[at], "content": augmented}
        return data

    async def async_post_call_success_hook(self, data: dict, user_api_key_dict: Any, response: Any) -> Any:
        """Check the answer against the user's own question: block a flagged one, or annotate it."""
        if not self.should_run_guardrail(data, GuardrailEventHooks.post_call):
            return response
        choices = _field(response, "choices")
        if not choices:
            return response
        answer = _field(_field(choices[0], "message"), "content")
        if not isinstance(answer, str):
            return response
        meta = self._metadata(data)
        question = meta.get("quco_question")
        if question is None:
            at = _last_user(data.get("messages"))
            question = _text(data["messages"][at].get("content")) if at is not None else ""
        report = await self._assess(question, answer)
        meta["quco"] = report.to_dict()
        if report.flagged and self.quco_on_risk == "block":
            raise self._block(report)
        hidden = getattr(response, "_hidden_params", None)
        if isinstance(hidden, dict):
            hidden["quco"] = {"decision": report.decision, "risk": report.risk, "stage": report.stage}
            headers = hidden.get("additional_headers") or {}
            hidden["additional_headers"] = {**headers, "x-quco-decision": report.decision,
                                            "x-quco-risk": report.risk_text}
        return response
