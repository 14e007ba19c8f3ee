"""Adapters: one way to call any LLM with a prompt string and get its answer text back.

``wrap()`` talks to every model through an :class:`Adapter`, a callable ``adapter(prompt) -> str``. Three are
built in and registered in ``quco.registry.adapters`` exactly as a plugin would register its own:

- ``transformers_pipeline``: a transformers ``pipeline("text-generation")`` (``[{"generated_text": ...}]``);
  asks for the continuation only (``return_full_text=False``) and strips the prompt if the pipeline echoes it.
- ``openai_chat``: an OpenAI-style client, ``client.chat.completions.create(messages=[...], **kwargs)``; the
  response may be an object (``.choices[0].message.content``) or a dict of the same shape.
- ``callable``: any ``fn(prompt: str, **kwargs) -> str``.

:func:`get_adapter` picks one by name, or by inspecting the object: adapters are tried in ascending ``priority``
(pipelines before clients before plain callables, since a pipeline is callable too) and the first whose
``matches`` accepts the object wins. A plugin adapter has priority 50 unless it says otherwise, so it is tried
before the catch-all ``callable``. Extra keyword arguments (``model="gpt-4o"``, ``max_new_tokens=32``) are passed
to the model on every call.
"""
from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from quco.errors import ConfigError
from quco.registry import adapters, get

SUPPORTED = ("a callable(prompt) -> str, an OpenAI-style client (client.chat.completions.create(messages=...)) "
             "or a transformers pipeline('text-generation')")


class Adapter:
    """Calls one model. Subclasses set ``name`` and ``priority`` and implement ``matches`` and ``generate``."""

    name = "adapter"
    priority = 50

    def __init__(self, llm: Any, **kwargs: Any):
        if not self.accepts(llm):
            raise ConfigError(f"the {self.name!r} adapter cannot call a {type(llm).__name__}; "
                              f"pass {SUPPORTED}, or leave adapter= unset to choose automatically")
        self.llm = llm
        self.kwargs = kwargs

    @classmethod
    def matches(cls, llm: Any) -> bool:
        """True when this adapter knows how to call ``llm``."""
        raise NotImplementedError

    @classmethod
    def accepts(cls, llm: Any) -> bool:
        """True when this adapter can call ``llm`` if asked to by name (by default: when it ``matches``)."""
        return cls.matches(llm)

    def generate(self, prompt: str) -> Any:
        """Call the model once; return its raw output (``__call__`` checks that it is text)."""
        raise NotImplementedError

    def __call__(self, prompt: str) -> str:
        out = self.generate(prompt)
        if not isinstance(out, str):
            raise ConfigError(f"the model behind the {self.name!r} adapter returned a {type(out).__name__}, "
                              "not text; make it return the answer as a str")
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} for {type(self.llm).__name__}>"


@adapters.register("callable")
class CallableAdapter(Adapter):
    """Any ``fn(prompt, **kwargs) -> str``: the catch-all, tried last."""

    name = "callable"
    priority = 100

    @classmethod
    def matches(cls, llm: Any) -> bool:
        return callable(llm)

    def generate(self, prompt: str) -> Any:
        return self.llm(prompt, **self.kwargs)


def _field(obj: Any, name: str) -> Any:
    """``obj[name]`` for a mapping, ``obj.name`` otherwise (responses come as objects or as dicts)."""
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


@adapters.register("openai_chat")
class OpenAIChatAdapter(Adapter):
    """An OpenAI-style chat client: ``client.chat.completions.create(messages=[{"role": "user", ...}], **kwargs)``."""

    name = "openai_chat"
    priority = 20

    @classmethod
    def matches(cls, llm: Any) -> bool:
        completions = getattr(getattr(llm, "chat", None), "completions", None)
        return callable(getattr(completions, "create", None))

    def generate(self, prompt: str) -> Any:
        response = self.llm.chat.completions.create(messages=[{"role": "user", "content": prompt}], **self.kwargs)
        choices = _field(response, "choices")
        if not choices:
            raise ConfigError("the chat client's response has no choices; check the client and its arguments")
        content = _field(_field(choices[0], "message"), "content")
        if content is None:
            raise ConfigError("the chat client's response has no text (choices[0].message.content is empty); "
                              "ask for a text answer, not a tool call")
        return content


@adapters.register("transformers_pipeline")
class TransformersPipelineAdapter(Adapter):
    """A transformers ``pipeline("text-generation")``: the continuation of the prompt, without the prompt."""

    name = "transformers_pipeline"
    priority = 10

    @classmethod
    def matches(cls, llm: Any) -> bool:
        transformers = sys.modules.get("transformers")  # a pipeline object means transformers is imported
        if transformers is None or not hasattr(transformers, "Pipeline"):
            return False
        return isinstance(llm, transformers.Pipeline)

    @classmethod
    def accepts(cls, llm: Any) -> bool:  # by name, anything called like a pipeline will do
        return callable(llm)

    def __init__(self, llm: Any, **kwargs: Any):
        super().__init__(llm, **kwargs)
        if getattr(llm, "task", None) == "text-generation":
            self.kwargs.setdefault("return_full_text", False)

    def generate(self, prompt: str) -> Any:
        out = self.llm(prompt, **self.kwargs)
        while isinstance(out, Sequence) and not isinstance(out, str) and out:  # [{...}] or [[{...}]]
            out = out[0]
        text = out.get("generated_text") if isinstance(out, Mapping) else None
        if not isinstance(text, str):
            raise ConfigError("the pipeline returned no 'generated_text'; use a pipeline('text-generation')")
        if text.startswith(prompt):  # echoed prompt (return_full_text unsupported or overridden)
            text = text[len(prompt):]
        return text.strip()


def get_adapter(llm: Any, adapter: str | None = None, **kwargs: Any) -> Adapter:
    """An :class:`Adapter` for ``llm``: the one registered as ``adapter``, else the first that matches."""
    if isinstance(llm, Adapter):
        if kwargs:
            raise ConfigError("pass model keyword arguments when creating the adapter, not to wrap()")
        return llm
    if adapter is not None:
        return get(adapters, adapter)(llm, **kwargs)
    candidates = sorted(adapters.get_all().items(), key=lambda kv: (getattr(kv[1], "priority", 50), kv[0]))
    for _, cls in candidates:
        if cls.matches(llm):
            return cls(llm, **kwargs)
    names = ", ".join(name for name, _ in candidates)
    raise ConfigError(f"cannot wrap an object of type {type(llm).__name__}: pass {SUPPORTED} (adapters: {names})")
