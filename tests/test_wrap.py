"""``wrap()``: the gate around real model calls (a function, an OpenAI-style client, a transformers pipeline).

Every test runs against a real index built from a six-article corpus in which Marie Curie co-occurs with Warsaw
and Albert Einstein never does (he co-occurs with Ulm).
"""
from __future__ import annotations

import logging
import pickle
import shutil

import pytest

from quco.errors import (
    ConfigError,
    GateError,
    IndexCorruptError,
    IndexNotFoundError,
    RiskBlocked,
    UnknownComponentError,
)
from quco.gate.wrap import DEFAULT_EVIDENCE_TEMPLATE, GatedAnswer, wrap
from quco.index_builder.build import build_index

CORPUS = """\
<doc id="1" url="http://en.wikipedia.org/wiki?curid=1" title="Marie Curie">
Marie Curie

Marie Curie was a physicist and chemist who was born in Warsaw. Marie Curie worked with Pierre Curie in Paris on radioactivity.
</doc>
<doc id="2" url="http://en.wikipedia.org/wiki?curid=2" title="Pierre Curie">
Pierre Curie

Pierre Curie was a French physicist. He married Marie Curie in 1895. Pierre Curie taught at the University of Paris.
</doc>
<doc id="3" url="http://en.wikipedia.org/wiki?curid=3" title="Warsaw">
Warsaw

Warsaw is the capital of Poland. The Radium Institute in Warsaw was founded by Marie Curie. Frederic Chopin grew up in Warsaw.
</doc>
<doc id="4" url="http://en.wikipedia.org/wiki?curid=4" title="Albert Einstein">
Albert Einstein

Albert Einstein was a physicist born in Ulm. Albert Einstein worked in Bern and later in Berlin. Albert Einstein moved to Princeton in 1933.
</doc>
<doc id="5" url="http://en.wikipedia.org/wiki?curid=5" title="Nobel Prize">
Nobel Prize

The Nobel Prize was awarded to Marie Curie and to Pierre Curie in 1903. Albert Einstein received the Nobel Prize in 1921.
</doc>
<doc id="6" url="http://en.wikipedia.org/wiki?curid=6" title="Frederic Chopin">
Frederic Chopin

Frederic Chopin was a composer born near Warsaw. Frederic Chopin later lived in Paris, where he died in 1849.
</doc>
"""
QUESTION = "Where was Albert Einstein born?"
WRONG = "Albert Einstein was born in Warsaw."
RIGHT = "Albert Einstein was born in Ulm."
EINSTEIN_PASSAGE = ("Albert Einstein was a physicist born in Ulm. Albert Einstein worked in Bern and later in "
                    "Berlin. Albert Einstein moved to Princeton in 1933.")
UNKNOWN_QUESTION = "Did Zorblax Quint study radioactivity in Paris?"  # an entity the corpus never mentions
CURIE_PASSAGE = "Marie Curie worked with Pierre Curie in Paris on radioactivity."


@pytest.fixture(scope="session")
def index(tmp_path_factory):
    root = tmp_path_factory.mktemp("wrap")
    corpus = root / "tiny_wiki.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    out = root / "tiny.idx"
    build_index([str(corpus)], str(out), extractor="spacy", workers=1, progress=False)
    return out


class Recorder:
    """A model as a plain function: wrong unless the evidence is in its prompt. Records every prompt."""

    def __init__(self, right_when: str | None = "born in Ulm", right: str = RIGHT, wrong: str = WRONG):
        self.right_when, self.right, self.wrong = right_when, right, wrong
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.right if self.right_when and self.right_when in prompt else self.wrong


# ---- retrieve: regenerate once with the evidence -------------------------------------------------------------
def test_plain_function_is_corrected_with_evidence(index):
    llm = Recorder()
    result = wrap(llm, index=index, on_risk="retrieve")(QUESTION)
    assert isinstance(result, GatedAnswer) and isinstance(result, str)
    assert str(result) == RIGHT and type(str(result)) is str and result == RIGHT
    assert len(llm.prompts) == 2 and result.calls == 2
    assert llm.prompts[0] == QUESTION  # Einstein is well known: nothing added before the first call
    assert EINSTEIN_PASSAGE in llm.prompts[1] and result.prompt == llm.prompts[1]
    assert all(p["text"] in llm.prompts[1] for p in result.first_report.evidence)
    assert llm.prompts[1].index(EINSTEIN_PASSAGE) < llm.prompts[1].index(QUESTION)  # evidence, then question
    assert result.first_attempt == WRONG and result.regenerated
    assert (result.first_report.decision, result.first_report.stage) == ("retrieve", "post")
    assert result.report.decision == "pass" and result.report.answer == RIGHT
    assert result.report.question == QUESTION  # checked against the user's prompt, not the augmented one
    assert result.report.checked and result.first_report.checked


def test_correct_first_answer_is_not_regenerated(index):
    llm = Recorder(right_when=None, wrong="Marie Curie was born in Warsaw.")
    result = wrap(llm, index=index)("Where was Marie Curie born?")
    assert str(result) == "Marie Curie was born in Warsaw." and result.calls == 1 and len(llm.prompts) == 1
    assert result.report.decision == "pass" and result.first_attempt is None and result.first_report is None


def test_never_more_than_two_calls(index):
    llm = Recorder(right_when=None)  # stubbornly wrong, even with the evidence
    result = wrap(llm, index=index, on_risk="retrieve")(QUESTION)
    assert len(llm.prompts) == 2 and result.calls == 2
    assert str(result) == WRONG and result.first_attempt == WRONG
    assert result.report.flagged and result.report.stage == "post"  # still flagged: returned, not looped


def test_pre_stage_puts_evidence_into_the_first_prompt(index):
    llm = Recorder(right_when=None, wrong="I do not know.")
    result = wrap(llm, index=index, on_risk="retrieve")(UNKNOWN_QUESTION)
    assert (result.pre_report.decision, result.pre_report.stage) == ("retrieve", "pre")
    assert len(llm.prompts) == 1 and result.calls == 1
    assert CURIE_PASSAGE in llm.prompts[0] and UNKNOWN_QUESTION in llm.prompts[0]
    assert llm.prompts[0] == result.prompt
    assert result.report.question == UNKNOWN_QUESTION


def test_custom_evidence_template(index):
    llm = Recorder()
    result = wrap(llm, index=index, evidence_template="Q: {question}\nFACTS:\n{evidence}")(QUESTION)
    assert llm.prompts[1].startswith(f"Q: {QUESTION}\nFACTS:\n") and EINSTEIN_PASSAGE in llm.prompts[1]
    assert str(result) == RIGHT

    llm = Recorder()
    seen = []

    def template(question, passages):
        seen.append(passages)
        return " | ".join(p["text"] for p in passages) + " || " + question

    assert str(wrap(llm, index=index, evidence_template=template)(QUESTION)) == RIGHT
    assert seen and EINSTEIN_PASSAGE in [p["text"] for p in seen[0]]
    for bad in ("{question} only", "{evidence} {nope}", 42):
        with pytest.raises(ConfigError):
            wrap(llm, index=index, evidence_template=bad)
    assert "{evidence}" in DEFAULT_EVIDENCE_TEMPLATE and "{question}" in DEFAULT_EVIDENCE_TEMPLATE


# ---- annotate, block, monitor, creative ----------------------------------------------------------------------
def test_annotate_returns_the_answer_with_its_report(index):
    llm = Recorder()
    result = wrap(llm, index=index, on_risk="annotate")(QUESTION)
    assert str(result) == WRONG and len(llm.prompts) == 1 and llm.prompts[0] == QUESTION
    assert result.report.flagged and result.report.stage == "post" and result.first_attempt is None
    assert EINSTEIN_PASSAGE in [p["text"] for p in result.report.evidence]


def test_block_raises_with_the_report(index):
    llm = Recorder()
    with pytest.raises(RiskBlocked) as exc:
        wrap(llm, index=index, on_risk="block")(QUESTION)
    report = exc.value.report
    assert report.decision == "retrieve" and report.answer == WRONG and len(llm.prompts) == 1
    assert any(p.a in ("Albert Einstein", "Warsaw") and p.unseen for p in report.pairs)
    # a supported answer is not blocked
    ok = Recorder(right_when=None, wrong="Marie Curie was born in Warsaw.")
    assert str(wrap(ok, index=index, on_risk="block")("Where was Marie Curie born?")) == ok.wrong
    # a question about an unknown entity is blocked before the model is called
    never = Recorder()
    with pytest.raises(RiskBlocked) as exc:
        wrap(never, index=index, on_risk="block")(UNKNOWN_QUESTION)
    assert never.prompts == [] and exc.value.report.stage == "pre"


def test_monitor_never_changes_the_answer_and_logs(index, caplog):
    llm = Recorder()
    with caplog.at_level(logging.INFO, logger="quco"):
        flagged = wrap(llm, index=index, on_risk="monitor")(QUESTION)
        passed = wrap(Recorder(right_when=None, wrong=RIGHT), index=index, on_risk="monitor")(QUESTION)
    assert str(flagged) == WRONG and flagged.calls == 1 and llm.prompts == [QUESTION]
    assert str(passed) == RIGHT
    records = [r for r in caplog.records if r.name == "quco"]
    assert [r.levelno for r in records] == [logging.WARNING, logging.INFO]
    assert records[0].quco_report is flagged.report and records[1].quco_report is passed.report
    assert "retrieve" in records[0].getMessage() and "Warsaw" in records[0].getMessage()

    reports = []
    result = wrap(Recorder(), index=index, on_risk="monitor", logger=reports.append)(QUESTION)
    assert reports == [result.report] and str(result) == WRONG


def test_creative_mode_passes_a_sanctioned_blend(index):
    llm = Recorder()
    result = wrap(llm, index=index, mode="creative", on_risk="retrieve")(QUESTION)
    assert str(result) == WRONG and result.calls == 1
    assert result.report.decision == "sanctioned_blend" and not result.report.flagged
    assert result.report.blend is not None and result.report.mode == "creative"


def test_auto_mode_routes_a_poem_to_creative(index):
    llm = Recorder()
    result = wrap(llm, index=index, mode="auto", router="rules")("Write a poem imagining Albert Einstein in Warsaw.")
    assert result.report.mode == "creative" and result.report.route["router"] == "rules"
    assert result.report.decision == "sanctioned_blend" and result.calls == 1


# ---- fail closed / fail open ---------------------------------------------------------------------------------
@pytest.fixture
def corrupt_index(index, tmp_path):
    bad = tmp_path / "corrupt.idx"
    shutil.copytree(index, bad)
    npy = bad / "arrays" / "nbr_id.npy"
    data = npy.read_bytes()
    npy.write_bytes(data[: len(data) // 2])
    return bad


def test_fail_closed_on_missing_index(tmp_path):
    llm = Recorder()
    with pytest.raises(GateError, match="did not run") as exc:
        wrap(llm, index=tmp_path / "missing.idx")(QUESTION)
    assert isinstance(exc.value.__cause__, IndexNotFoundError) and "quco build" in str(exc.value)
    assert llm.prompts == []  # no answer leaves an unchecked gate


def test_fail_closed_on_corrupt_index(corrupt_index):
    llm = Recorder()
    with pytest.raises(GateError, match="did not run") as exc:
        wrap(llm, index=corrupt_index, on_risk="monitor")(QUESTION)
    assert isinstance(exc.value.__cause__, IndexCorruptError) and llm.prompts == []


@pytest.mark.parametrize("which", ["missing", "corrupt"])
def test_fail_open_answers_unchecked_and_says_so(which, tmp_path, corrupt_index, caplog):
    path = tmp_path / "missing.idx" if which == "missing" else corrupt_index
    llm = Recorder()
    with caplog.at_level(logging.WARNING, logger="quco"):
        result = wrap(llm, index=path, fail_open=True)(QUESTION)
    assert str(result) == WRONG and result.calls == 1 and llm.prompts == [QUESTION]
    r = result.report
    assert r.checked is False and r.decision == "pass" and r.risk is None and r.answer == WRONG
    cause = "IndexNotFoundError" if which == "missing" else "IndexCorruptError"
    assert cause in r.error and r.reasons[0].startswith("check did not run: ") and cause in r.reasons[0]
    assert any(rec.levelno == logging.WARNING and "did not run" in rec.getMessage() for rec in caplog.records)
    assert r.to_dict()["checked"] is False


def test_errors_of_the_model_and_of_the_caller_are_not_gate_errors(index):
    def broken(prompt):
        raise RuntimeError("model down")

    with pytest.raises(RuntimeError, match="model down"):
        wrap(broken, index=index)(QUESTION)
    with pytest.raises(RuntimeError, match="model down"):  # fail_open is about the check, not the model
        wrap(broken, index=index, fail_open=True)(QUESTION)
    with pytest.raises(ConfigError):
        wrap(Recorder(), index=index)(b"bytes")
    with pytest.raises(ConfigError, match="on_risk"):
        wrap(Recorder(), index=index, on_risk="ignore")
    with pytest.raises(ConfigError, match="mode"):
        wrap(Recorder(), index=index, mode="poetic")


# ---- adapters ------------------------------------------------------------------------------------------------
class _Completions:
    def __init__(self, respond, as_dict: bool):
        self.respond, self.as_dict, self.requests = respond, as_dict, []

    def create(self, messages, **kwargs):
        self.requests.append({"messages": messages, **kwargs})
        text = self.respond(messages[-1]["content"])
        if self.as_dict:
            return {"choices": [{"message": {"role": "assistant", "content": text}}]}
        return type("Resp", (), {"choices": [type("Choice", (), {"message": type("Msg", (), {"content": text})})]})


class ChatClient:
    """The shape of an OpenAI chat client: ``client.chat.completions.create(messages=..., **kw)``."""

    def __init__(self, respond, as_dict: bool = False):
        self.chat = type("Chat", (), {})()
        self.chat.completions = _Completions(respond, as_dict)


@pytest.mark.parametrize("as_dict", [False, True])
def test_openai_style_client(index, as_dict):
    client = ChatClient(Recorder(), as_dict=as_dict)
    result = wrap(client, index=index, model="gpt-x", temperature=0)(QUESTION)
    reqs = client.chat.completions.requests
    assert str(result) == RIGHT and result.calls == 2 and len(reqs) == 2 and result.first_attempt == WRONG
    assert all(r["model"] == "gpt-x" and r["temperature"] == 0 for r in reqs)
    assert reqs[0]["messages"] == [{"role": "user", "content": QUESTION}]
    assert EINSTEIN_PASSAGE in reqs[1]["messages"][0]["content"]


def test_openai_style_client_without_text(index):
    client = ChatClient(lambda prompt: None)
    with pytest.raises(ConfigError, match="no text"):
        wrap(client, index=index, model="m")(QUESTION)


def test_adapter_choice_and_unknown_objects(index):
    from quco.gate.adapters import CallableAdapter, OpenAIChatAdapter, get_adapter
    from quco.registry import adapters

    assert {"callable", "openai_chat", "transformers_pipeline"} <= set(adapters.get_all())
    assert isinstance(get_adapter(len), CallableAdapter)
    assert isinstance(get_adapter(ChatClient(str)), OpenAIChatAdapter)
    for obj in (42, object(), "a string"):
        with pytest.raises(ConfigError, match="OpenAI-style client") as exc:
            wrap(obj, index=index)
        assert "callable" in str(exc.value) and "pipeline" in str(exc.value)
    with pytest.raises(UnknownComponentError, match="openai_chat"):
        wrap(Recorder(), index=index, adapter="anthropic")
    with pytest.raises(ConfigError):
        wrap(42, index=index, adapter="callable")


def test_pipeline_adapter_by_name_strips_an_echoed_prompt(index):
    prompts = []

    def echoing_pipeline(prompt, **kwargs):  # output shaped like a pipeline that echoes its prompt
        prompts.append((prompt, kwargs))
        return [{"generated_text": prompt + " " + Recorder()(prompt)}]

    result = wrap(echoing_pipeline, index=index, adapter="transformers_pipeline", max_new_tokens=9)(QUESTION)
    assert str(result) == RIGHT and result.first_attempt == WRONG and result.calls == 2
    assert all(kw == {"max_new_tokens": 9} for _, kw in prompts)


def test_gated_answer_pickles(index):
    result = wrap(Recorder(), index=index)(QUESTION)
    back = pickle.loads(pickle.dumps(result))
    assert back == result and back.calls == 2 and back.first_attempt == WRONG
    assert back.report.decision == result.report.decision and "calls=2" in repr(back)


def test_public_wrap_resolves_the_default_index(index, monkeypatch):
    import quco

    assert quco.wrap.__wrapped__ is wrap  # the face adds only the default index
    monkeypatch.setenv("QUCO_INDEX", str(index))
    assert quco.wrap(Recorder())(QUESTION).report.checked
    with pytest.raises(ConfigError, match="no index given"):  # the gate itself resolves no default
        wrap(Recorder())(QUESTION)


# ---- a real transformers pipeline ----------------------------------------------------------------------------
def _train_tiny_gpt2(path, examples: list[tuple[str, str]]) -> None:
    """A 2-layer GPT-2 over a word-level vocabulary, trained until it reproduces ``examples`` (prompt, answer)."""
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    split = pre_tokenizers.Whitespace()
    words = sorted({w for p, a in examples for w, _ in split.pre_tokenize_str(f"{p} {a}")})
    vocab = {"[UNK]": 0, "[EOS]": 1, **{w: i + 2 for i, w in enumerate(words)}}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = split
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", eos_token="[EOS]",
                                  pad_token="[EOS]")
    seqs = [tok(f"{p} {a}")["input_ids"] + [1] for p, a in examples]
    width = max(map(len, seqs))
    ids = torch.tensor([s + [1] * (width - len(s)) for s in seqs])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
    labels = ids.masked_fill(mask == 0, -100)
    config = GPT2Config(vocab_size=len(vocab), n_positions=max(128, width), n_layer=2, n_embd=64, n_head=2,
                        bos_token_id=1, eos_token_id=1, pad_token_id=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains fastest on one thread
    try:
        torch.manual_seed(0)
        model = GPT2LMHeadModel(config)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        model.train()
        for _ in range(400):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            if loss.item() < 0.02:
                break
    finally:
        torch.set_num_threads(threads)
    model.eval()
    model.save_pretrained(path)
    tok.save_pretrained(path)


def test_transformers_pipeline(index, tmp_path):
    pytest.importorskip("torch")
    from transformers import pipeline

    # the prompt the gate sends on regeneration, as a plain function sees it
    probe = Recorder()
    wrap(probe, index=index)(QUESTION)
    evidence_prompt = probe.prompts[1]
    _train_tiny_gpt2(tmp_path / "tiny-gpt2", [(QUESTION, WRONG), (evidence_prompt, RIGHT)])

    pipe = pipeline("text-generation", model=str(tmp_path / "tiny-gpt2"))
    prompts = []
    preprocess = pipe.preprocess

    def counting_preprocess(text, *args, **kwargs):  # every generation starts here: count them
        prompts.append(text)
        return preprocess(text, *args, **kwargs)

    pipe.preprocess = counting_preprocess
    result = wrap(pipe, index=index, do_sample=False, max_new_tokens=12)(QUESTION)
    assert result.first_attempt.startswith("Albert Einstein was born in Warsaw")  # word-level decoding: "Warsaw ."
    assert str(result).startswith("Albert Einstein was born in Ulm")
    assert result.calls == 2 and len(prompts) == 2 and prompts == [QUESTION, evidence_prompt]
    assert result.report.decision == "pass" and result.first_report.decision == "retrieve"
