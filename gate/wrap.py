"""``wrap()``: put the data-side risk check around any LLM call.

    from quco import wrap

    ask = wrap(my_llm, index="wiki.idx", on_risk="retrieve")
    answer = ask("Where was Albert Einstein born?")
    str(answer), answer.report.decision, answer.calls

One request, at most two model calls:

1. *Pre-check* (``on_risk`` ``retrieve`` or ``block``): ``assess(prompt)``. When the prompt's entities are unknown
   or rare in the corpus (decision ``retrieve``, stage ``pre``), ``retrieve`` puts the evidence passages into the
   prompt before the first call; ``block`` raises :class:`~quco.errors.RiskBlocked` without calling the model.
2. *Call* the model with the prompt.
3. *Post-check*: ``assess(prompt, answer)``, always against the user's own prompt, never the augmented one.
4. *React* to a flagged answer (:attr:`RiskReport.flagged`: decision ``retrieve``, or a blend with an entity the
   corpus never mentions):

   - ``retrieve``: regenerate once with the evidence in the prompt and check the new answer; the result is the
     second answer, with the first one in ``.first_attempt``. A second answer that is still flagged is returned
     flagged: the gate never loops. No regeneration when there is no evidence the prompt did not already hold.
   - ``annotate``: return the answer with its report.
   - ``block``: raise :class:`~quco.errors.RiskBlocked` carrying the report.
   - ``monitor``: never change the answer; hand the report to ``logger`` (WARNING when flagged, INFO otherwise).

Sanctioned blends (creative mode) of attested entities are not flagged: they pass through with their report in
every ``on_risk``. A blend that joins an entity the corpus never mentions (``blend["kind"] == "unknown_entity"``,
likely invented) is flagged like a ``retrieve``: ``block`` raises, ``monitor`` warns, ``retrieve`` regenerates
when there is new evidence.

The prompt with evidence (``DEFAULT_EVIDENCE_TEMPLATE``) is the evidence block, one passage a line as
``[n] title: text``, then the user's prompt::

    Answer using the evidence below where it is relevant.

    Evidence:
    [1] Albert Einstein: Albert Einstein was a physicist born in Ulm. ...

    Question: Where was Albert Einstein born?

``evidence_template`` replaces it: a format string with ``{evidence}`` and ``{question}``, or a callable
``(question, passages) -> str``.

Fail closed, or open. When the check cannot run (no index at the path, a corrupt index, any error of the check
other than a :class:`~quco.errors.ConfigError` about the caller's own arguments), the default raises
:class:`~quco.errors.GateError` chained to the cause, and the model's answer is not returned. With
``fail_open=True`` the model is called once with the user's prompt and its answer comes back with a report that
says the check did not run (``checked=False``, ``error``, decision ``pass``, ``risk=None``: no figure for a check
that never ran, a reason), and a warning is logged. The check is never skipped silently.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from quco.cooccur.index import Index
from quco.errors import ConfigError, GateError, RiskBlocked
from quco.gate.adapters import Adapter, get_adapter
from quco.gate.assess import MODES, GateConfig, assess, resolve_index
from quco.gate.report import RiskReport

ON_RISK = ("retrieve", "annotate", "block", "monitor")
MAX_CALLS = 2  # model calls per request, whatever happens
DEFAULT_EVIDENCE_TEMPLATE = ("Answer using the evidence below where it is relevant.\n\n"
                             "Evidence:\n{evidence}\n\n"
                             "Question: {question}")

EvidenceTemplate = str | Callable[[str, list[dict[str, Any]]], str]
Logger = logging.Logger | logging.LoggerAdapter | Callable[[RiskReport], Any]


class GatedAnswer(str):
    """The final answer text (a ``str``), carrying how it was checked.

    ``report``: the :class:`RiskReport` of this answer. ``first_attempt`` / ``first_report``: the first answer and
    its report when the answer was regenerated, else ``None``. ``pre_report``: the check of the prompt alone, when
    one ran. ``calls``: model calls made (1 or 2). ``prompt``: the prompt sent in the last call.
    """

    report: RiskReport
    first_attempt: str | None
    first_report: RiskReport | None
    pre_report: RiskReport | None
    calls: int
    prompt: str

    def __new__(cls, text: str, *, report: RiskReport, prompt: str, calls: int, first_attempt: str | None = None,
                first_report: RiskReport | None = None, pre_report: RiskReport | None = None) -> "GatedAnswer":
        self = super().__new__(cls, text)
        self.report, self.prompt, self.calls = report, prompt, calls
        self.first_attempt, self.first_report, self.pre_report = first_attempt, first_report, pre_report
        return self

    @property
    def text(self) -> str:
        """The answer as a plain ``str``."""
        return str(self)

    @property
    def regenerated(self) -> bool:
        return self.first_attempt is not None

    def __reduce__(self):
        return (_rebuild_answer, (str(self), dict(self.__dict__)))

    def __repr__(self) -> str:
        return (f"GatedAnswer({str(self)!r}, decision={self.report.decision!r}, risk={self.report.risk}, "
                f"calls={self.calls}, checked={self.report.checked})")


def _rebuild_answer(text: str, attrs: dict[str, Any]) -> GatedAnswer:
    return GatedAnswer(text, **attrs)


def format_evidence(passages: list[dict[str, Any]]) -> str:
    """The evidence block: ``[n] title: text``, one passage a line, the text verbatim."""
    return "\n".join(f"[{n}] {p.get('title') or 'passage'}: {p.get('text', '')}" for n, p in enumerate(passages, 1))


def _passage_key(p: dict[str, Any]) -> Any:
    return ("id", p["passage_id"]) if p.get("passage_id") is not None else ("text", p.get("text"))


def _check_template(template: EvidenceTemplate | None) -> EvidenceTemplate:
    if template is None:
        return DEFAULT_EVIDENCE_TEMPLATE
    if callable(template):
        return template
    if not isinstance(template, str):
        raise ConfigError("evidence_template must be a format string or a callable(question, passages) -> str")
    try:
        filled = template.format(evidence="\0E", question="\0Q")
    except (KeyError, IndexError, ValueError) as e:
        raise ConfigError(f"evidence_template: {e!r}; use only {{evidence}} and {{question}}, "
                          "and double any literal brace") from None
    if "\0E" not in filled or "\0Q" not in filled:
        raise ConfigError("evidence_template must contain both {evidence} and {question}")
    return template


class GatedLLM:
    """A model behind the risk gate; call it with a prompt to get a :class:`GatedAnswer`. Made by :func:`wrap`."""

    def __init__(self, adapter: Adapter, *, index: Index | str | Path | None, mode: str, on_risk: str,
                 fail_open: bool, config: GateConfig | None, router: Any, logger: Logger | None,
                 evidence_template: EvidenceTemplate | None):
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if on_risk not in ON_RISK:
            raise ConfigError(f"on_risk must be one of {', '.join(ON_RISK)}, not {on_risk!r}")
        if config is not None and not isinstance(config, GateConfig):
            raise ConfigError("config must be a quco.gate.assess.GateConfig")
        if logger is not None and not (hasattr(logger, "log") or callable(logger)):
            raise ConfigError("logger must be a logging.Logger or a callable(report)")
        self.adapter, self.index, self.mode, self.on_risk = adapter, index, mode, on_risk
        self.fail_open, self.config, self.router = bool(fail_open), config, router
        self.logger: Logger = logger if logger is not None else logging.getLogger("quco")
        self.evidence_template = _check_template(evidence_template)

    # ---- one request ---------------------------------------------------------------------------------------
    def __call__(self, prompt: str, *, subject: str | None = None) -> GatedAnswer:
        """Answer ``prompt`` through the gate. ``subject``: the entity the prompt is about, when the caller knows
        it (a hint for every check of this request, as ``assess(subject=...)``)."""
        if not isinstance(prompt, str):
            raise ConfigError(f"the prompt must be a str, not {type(prompt).__name__}")
        calls = 0

        def call(text: str) -> str:
            nonlocal calls
            if calls >= MAX_CALLS:  # the invariant that makes a loop impossible
                raise GateError(f"refusing model call {calls + 1}: at most {MAX_CALLS} per request")
            calls += 1
            return self.adapter(text)

        pre: RiskReport | None = None
        try:
            ix = resolve_index(self.index)  # before any model call: a broken index fails closed without one
            if self.on_risk in ("retrieve", "block"):
                pre = self.check(ix, prompt, None, subject)
        except ConfigError:
            raise
        except Exception as e:  # noqa: BLE001 - every failure of the check is reported, never skipped
            if not self.fail_open:
                raise self._gate_error(e) from e
            answer = call(prompt)
            return GatedAnswer(answer, report=self._unchecked(prompt, answer, e), prompt=prompt, calls=calls)

        sent, in_prompt = prompt, []
        if pre is not None and pre.flagged:
            if self.on_risk == "block":
                raise RiskBlocked(pre)
            if pre.evidence:
                in_prompt = list(pre.evidence)
                sent = self.augment(prompt, in_prompt)
        answer = call(sent)
        report = self._post_check(ix, prompt, answer, subject)
        if not report.checked:
            return GatedAnswer(answer, report=report, prompt=sent, calls=calls, pre_report=pre)

        if report.flagged and self.on_risk == "block":
            raise RiskBlocked(report)
        if self.on_risk == "monitor":
            self._emit(logging.WARNING if report.flagged else logging.INFO, _summary(report), report)
        if self.on_risk == "retrieve" and report.flagged and report.stage == "post" and calls == 1:
            seen = {_passage_key(p) for p in in_prompt}
            new = [p for p in report.evidence if _passage_key(p) not in seen]
            if new:
                second_prompt = self.augment(prompt, in_prompt + new)
                second = call(second_prompt)
                second_report = self._post_check(ix, prompt, second, subject)
                return GatedAnswer(second, report=second_report, prompt=second_prompt, calls=calls,
                                   first_attempt=answer, first_report=report, pre_report=pre)
        return GatedAnswer(answer, report=report, prompt=sent, calls=calls, pre_report=pre)

    # ---- helpers -------------------------------------------------------------------------------------------
    def augment(self, question: str, passages: list[dict[str, Any]]) -> str:
        """The prompt with ``passages`` as evidence: the evidence block, then ``question``."""
        if callable(self.evidence_template):
            return self.evidence_template(question, passages)
        return self.evidence_template.format(evidence=format_evidence(passages), question=question)

    def check(self, ix: Index, question: str, answer: str | None, subject: str | None = None) -> RiskReport:
        """The one check every stage of a request runs (``answer=None``: the pre-check). A subclass may override
        it to run the check elsewhere, with the same result: ``quco serve`` sends it to its check batcher."""
        return assess(question, answer, index=ix, mode=self.mode, config=self.config, router=self.router,
                      subject=subject)

    def _post_check(self, ix: Index, question: str, answer: str, subject: str | None = None) -> RiskReport:
        try:
            return self.check(ix, question, answer, subject)
        except ConfigError:
            raise
        except Exception as e:  # noqa: BLE001
            return self._unchecked(question, answer, e)

    def _unchecked(self, question: str, answer: str, error: Exception) -> RiskReport:
        """Fail closed (raise :class:`GateError`) or, with ``fail_open``, a report that says the check did not run."""
        if not self.fail_open:
            raise self._gate_error(error) from error
        message = _describe(error)
        report = RiskReport(question=question, answer=answer, mode=self.mode, decision="pass", stage="none",
                            risk=None, coverage="unknown", reasons=[f"check did not run: {message}"],
                            checked=False, error=message)
        self._emit(logging.WARNING, f"quco: risk check did not run, answer passed unchecked ({message})", report,
                   always_log=True)
        return report

    @staticmethod
    def _gate_error(error: Exception) -> GateError:
        return GateError(f"risk check did not run: {_describe(error)} (wrap(..., fail_open=True) answers "
                         "without the check)")

    def _emit(self, level: int, message: str, report: RiskReport, always_log: bool = False) -> None:
        """Give ``report`` to the logger: ``logger.log(level, message, extra={"quco_report": report})`` for a
        logging logger, ``logger(report)`` for a callable (plus a log record on "quco" when ``always_log``)."""
        if hasattr(self.logger, "log"):
            self.logger.log(level, "%s", message, extra={"quco_report": report})
            return
        self.logger(report)
        if always_log:
            logging.getLogger("quco").log(level, "%s", message, extra={"quco_report": report})

    def __repr__(self) -> str:
        where = "default" if callable(self.index) else str(getattr(self.index, "path", self.index))
        return (f"GatedLLM({self.adapter!r}, index={where!r}, "
                f"mode={self.mode!r}, on_risk={self.on_risk!r}, fail_open={self.fail_open})")


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def _summary(report: RiskReport) -> str:
    head = f"quco: {report.decision} (risk {report.risk_text}, stage {report.stage}, mode {report.mode})"
    return head + (": " + "; ".join(report.reasons) if report.reasons else "")


def wrap(llm: Any, *, index: Index | str | Path | None = None, mode: str = "factual", on_risk: str = "retrieve",
         fail_open: bool = False, config: GateConfig | None = None, router: Any = None, logger: Logger | None = None,
         evidence_template: EvidenceTemplate | None = None, adapter: str | None = None,
         **llm_kwargs: Any) -> GatedLLM:
    """Put the risk gate around ``llm``; returns a callable ``prompt -> GatedAnswer``.

    ``llm``: a ``callable(prompt) -> str``, an OpenAI-style client or a transformers text-generation pipeline
    (see :mod:`quco.gate.adapters`; ``adapter=`` names one explicitly). ``index``: an :class:`Index` or its
    directory (default: ``$QUCO_INDEX``, else the bundled sample). ``mode``: ``factual`` | ``creative`` |
    ``auto``. ``on_risk``: ``retrieve`` | ``annotate`` | ``block`` | ``monitor``. ``fail_open``: answer unchecked
    (with a report saying so) instead of raising :class:`GateError` when the check cannot run. ``config`` and
    ``router`` go to :func:`assess`. ``logger``: a logging logger or a ``callable(report)``, for ``monitor`` and
    fail-open warnings (default: the ``quco`` logger). Other keyword arguments (``model="gpt-4o"``,
    ``max_new_tokens=64``) are passed to the model on every call.
    """
    return GatedLLM(get_adapter(llm, adapter, **llm_kwargs), index=index, mode=mode, on_risk=on_risk,
                    fail_open=fail_open, config=config, router=router, logger=logger,
                    evidence_template=evidence_template)
