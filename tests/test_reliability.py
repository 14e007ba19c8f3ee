"""Reliability: killed builds resume to identical counts, damaged indexes are refused, readers survive rebuilds,
errors cross process boundaries, and odd or huge queries get an answer or a typed error in bounded time."""
from __future__ import annotations

import json
import re
import multiprocessing as mp
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quco.cli.main import cli
from quco.cooccur.index import Index
from quco.cooccur.store import verify
from quco.errors import (
    BadInputError,
    BuildError,
    ConfigError,
    GateError,
    IndexCorruptError,
    IndexNotFoundError,
    QucoError,
    RiskBlocked,
    UnknownComponentError,
)
from quco.gate.assess import assess
from quco.gate.report import RiskReport
from quco.index_builder.build import build_index

NAMES = ["Ada Lovelace", "London", "Charles Babbage", "Paris", "Alan Turing", "Berlin", "Marie Curie", "Warsaw"]
PAIRS = [("Ada Lovelace", "London"), ("Paris", "Berlin"), ("Marie Curie", "Warsaw"), ("Alan Turing", "Ada Lovelace")]
COUNT_ARRAYS = ("arrays/nbr_indptr.npy", "arrays/nbr_id.npy", "arrays/nbr_count.npy", "arrays/doc_ids.npy", "arrays/entity_freq.npy", "arrays/entity_hash.npy")
WINDOW = 60


def write_corpus(path: Path, n_docs: int, seed: int, bad_line: bool = False) -> Path:
    """Random documents of 20-400 words, 8% of them entity names; optionally one line that is not JSON."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for d in range(n_docs):
            words = [NAMES[rng.integers(len(NAMES))] if rng.random() < 0.08 else "word"
                     for _ in range(rng.integers(20, 400))]
            f.write(json.dumps({"id": f"d{d}", "text": " ".join(words)}) + "\n")
            if bad_line and d == n_docs // 2:
                f.write("{this line is not JSON\n")
    return path


def build_opts(names: Path, **kw) -> dict:
    """The build every test here uses: the gazetteer of NAMES, no NER sample, small shards."""
    return dict(extractor="gazetteer", entities=str(names), harvest_sample=0, window=WINDOW,
                shard_docs=10, progress=False, retrieval=(), **kw)


# The builds killed here run the real CLI in a fresh process. torch is hidden from it: a build never uses torch, but
# spaCy's import (harvest.py needs its stop words) pulls it in through thinc, which costs ~7 s a process.
QUCO = [sys.executable, "-c", "import sys; sys.modules['torch'] = None; from quco.cli.main import main; main()"]


def cli_opts(names: Path) -> list[str]:
    return ["--extractor", "gazetteer", "--entities", str(names), "--harvest-sample", "0", "--window", str(WINDOW),
            "--shard-docs", "10", "-q"]


def snapshot(ix: Index) -> tuple:
    """Every number a query can see for PAIRS and NAMES, as one tuple."""
    return tuple(ix.cooc(a, b) for a, b in PAIRS) + tuple(ix.freq(n) for n in NAMES)


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_line_error(stderr: str, *fragments: str) -> None:
    assert "Traceback" not in stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and re.match(r"Error( \[E\d{3}\])?: ", lines[0]), stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])


@pytest.fixture(scope="module")
def names(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("names") / "names.txt"
    p.write_text("\n".join(NAMES) + "\n")
    return p


@pytest.fixture(scope="module")
def corpora(tmp_path_factory, names) -> dict:
    """Corpus A (the one killed builds build), its clean index, and an older index B that sits at --out first."""
    d = tmp_path_factory.mktemp("corpora")
    a = write_corpus(d / "a.jsonl", 1500, seed=3)
    b = write_corpus(d / "b.jsonl", 300, seed=4)
    build_index([str(a)], str(d / "clean_a"), workers=1, **build_opts(names))
    build_index([str(b)], str(d / "old_b"), workers=1, **build_opts(names))
    return {"a": a, "b": b, "clean": d / "clean_a", "old": d / "old_b"}


# ------------------------------------------------------------------------------------------ errors cross processes

ERRORS = [QucoError("plain"), ConfigError("--window must be positive"),
          BadInputError("c.jsonl", "not valid JSON", line=3), BadInputError("t.parquet", "null 'text'", record=9),
          IndexNotFoundError("/nowhere"), IndexCorruptError("idx: pairs.parquet: sha256 mismatch"),
          UnknownComponentError("no retriever 'x'; available: bm25s"), GateError("the index cannot be used"),
          BuildError("a worker process died")]


@pytest.mark.parametrize("err", ERRORS, ids=lambda e: type(e).__name__)
def test_errors_survive_pickling(err):
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err)
    assert (str(back), back.args, back.__dict__, back.code) == (str(err), err.args, err.__dict__, err.code)


def _raise_in_worker(line: int) -> None:
    raise BadInputError("corpus.jsonl", "not valid JSON", line=line)


def test_error_raised_in_a_worker_process_arrives_intact():
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("fork")) as pool:
        with pytest.raises(BadInputError) as info:
            pool.submit(_raise_in_worker, 7).result(timeout=60)
    e = info.value
    assert (e.path, e.line, e.reason, str(e)) == ("corpus.jsonl", 7, "not valid JSON", "corpus.jsonl:7: not valid JSON")


def test_risk_blocked_with_its_report_survives_pickling(corpora):
    report = assess("Where did Ada Lovelace live?", "Ada Lovelace lived in Warsaw.", index=str(corpora["clean"]),
                    retrieve=False)
    back = pickle.loads(pickle.dumps(RiskBlocked(report)))
    assert isinstance(back.report, RiskReport) and back.report.to_dict() == report.to_dict()
    assert str(back) == str(RiskBlocked(report))


# ------------------------------------------------------------------------------------------ integrity


@pytest.fixture(scope="module")
def full_index(tmp_path_factory, names) -> Path:
    """A complete index: retrieval files, a gazetteer and a rejects.jsonl (one bad line, skipped)."""
    d = tmp_path_factory.mktemp("full")
    corpus = write_corpus(d / "c.jsonl", 200, seed=5, bad_line=True)
    opts = build_opts(names, workers=1, on_bad_record="skip")
    opts["retrieval"] = ("bm25s",)
    build_index([str(corpus)], str(d / "idx"), **opts)
    return d / "idx"


CORE_FILES = ["manifest.json", "entities.parquet", "pairs.parquet", "passages.parquet", "gazetteer.parquet",
              "rejects.jsonl", "arrays/entity_hash.npy", "arrays/entity_freq.npy", "arrays/nbr_indptr.npy",
              "arrays/nbr_id.npy", "arrays/nbr_count.npy", "arrays/doc_indptr.npy", "arrays/doc_ids.npy"]


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _flip(path: Path, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if at is None else at
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


def test_intact_index_verifies(full_index):
    r = run("verify", "--index", str(full_index))
    assert r.exit_code == 0 and r.stdout.startswith("ok: ")
    assert set(CORE_FILES) - {"manifest.json"} <= set(json.loads((full_index / "manifest.json").read_text())
                                                       ["artifacts"])


@pytest.mark.parametrize("name", CORE_FILES)
def test_verify_finds_one_flipped_byte(full_index, tmp_path, name):
    ix = _copy(full_index, tmp_path / "idx")
    _flip(ix / name)
    r = run("verify", "--index", str(ix))
    assert r.exit_code == 2
    one_line_error(r.stderr, name)
    if name != "manifest.json":
        assert "sha256 mismatch" in r.stderr


def test_verify_finds_a_flipped_byte_in_every_listed_file(full_index, tmp_path):
    listed = sorted(json.loads((full_index / "manifest.json").read_text())["artifacts"])
    assert any(n.startswith("retrieval/") for n in listed)
    for i, name in enumerate(listed):
        ix = _copy(full_index, tmp_path / f"idx{i}")
        if (ix / name).stat().st_size == 0:
            continue
        _flip(ix / name)
        assert verify(ix) == [f"{name}: sha256 mismatch (file changed or corrupt)"]


@pytest.mark.parametrize("name", ["arrays/nbr_count.npy", "entities.parquet", "rejects.jsonl"])
def test_verify_finds_missing_and_truncated_files(full_index, tmp_path, name):
    ix = _copy(full_index, tmp_path / "gone")
    (ix / name).unlink()
    r = run("verify", "--index", str(ix))
    assert r.exit_code == 2
    one_line_error(r.stderr, f"{name}: missing")
    ix = _copy(full_index, tmp_path / "cut")
    size = (ix / name).stat().st_size
    with open(ix / name, "r+b") as f:
        f.truncate(size - 3)
    r = run("verify", "--index", str(ix), "--quick")  # sizes alone find a truncation
    assert r.exit_code == 2
    one_line_error(r.stderr, f"{name}: {size - 3} bytes, manifest says {size}")


def test_verify_finds_an_added_file(full_index, tmp_path):
    ix = _copy(full_index, tmp_path / "idx")
    (ix / "arrays" / "extra.npy").write_bytes(b"x")
    r = run("verify", "--index", str(ix))
    assert r.exit_code == 2 and "arrays/extra.npy: not in the manifest" in r.stderr


def _edit_manifest(ix: Path, edit) -> None:
    m = json.loads((ix / "manifest.json").read_text())
    edit(m)
    (ix / "manifest.json").write_text(json.dumps(m))


def test_other_schema_version_is_refused_at_open(full_index, tmp_path):
    ix = _copy(full_index, tmp_path / "idx")
    _edit_manifest(ix, lambda m: m.update(schema_version=99))
    with pytest.raises(IndexCorruptError, match="schema_version 99, this quco reads 2; rebuild it"):
        Index(ix)
    r = run("count", "Ada Lovelace", "London", "--index", str(ix))
    assert r.exit_code == 2
    one_line_error(r.stderr, str(ix), "schema_version 99")


def test_edited_manifest_is_refused_at_open(full_index, tmp_path):
    ix = _copy(full_index, tmp_path / "idx")
    _edit_manifest(ix, lambda m: m["build"].update(window=WINDOW + 1))  # would silently change every answer
    with pytest.raises(IndexCorruptError, match="does not match its checksum"):
        Index(ix)
    r = run("count", "Ada Lovelace", "London", "--index", str(ix))
    assert r.exit_code == 2
    one_line_error(r.stderr, "manifest.json", "checksum")


def test_manifest_without_its_checksum_is_refused_at_open(full_index, tmp_path):
    """Deleting the checksum field must not bypass the check (#14, item 13)."""
    ix = _copy(full_index, tmp_path / "idx")
    _edit_manifest(ix, lambda m: (m.pop("checksum"), m["build"].update(window=WINDOW + 1)))
    with pytest.raises(IndexCorruptError, match="no checksum"):
        Index(ix)
    r = run("count", "Ada Lovelace", "London", "--index", str(ix))
    assert r.exit_code == 2
    one_line_error(r.stderr, "manifest.json", "checksum")


@pytest.mark.parametrize("name", ["arrays/nbr_count.npy", "arrays/entity_freq.npy", "arrays/doc_ids.npy"])
def test_row_count_mismatch_is_refused_at_open(full_index, tmp_path, name):
    ix = _copy(full_index, tmp_path / "idx")
    arr = np.load(ix / name)
    np.save(ix / name, arr[:-1])  # a valid array, one row short
    with pytest.raises(IndexCorruptError, match=f"{arr.shape[0] - 1} rows, manifest says {arr.shape[0]}"):
        Index(ix)
    r = run("count", "Ada Lovelace", "London", "--index", str(ix))
    assert r.exit_code == 2
    one_line_error(r.stderr, name, "rows, manifest says", "quco verify")


@pytest.mark.parametrize("name,damage", [("arrays/nbr_id.npy", "truncate"), ("arrays/doc_ids.npy", "delete"),
                                         ("entities.parquet", "delete"), ("gazetteer.parquet", "delete")])
def test_unreadable_or_missing_file_is_refused_at_open(full_index, tmp_path, name, damage):
    """Opening checks that every file is there and that the arrays are readable (a flipped byte is for verify)."""
    ix = _copy(full_index, tmp_path / "idx")
    if damage == "delete":
        (ix / name).unlink()
    else:
        with open(ix / name, "r+b") as f:
            f.truncate(100)
    with pytest.raises(IndexCorruptError, match=name):
        Index(ix)
    r = run("count", "Ada Lovelace", "London", "--index", str(ix))
    assert r.exit_code == 2
    one_line_error(r.stderr, name)


def test_missing_index_says_how_to_build_one(tmp_path):
    for path in (tmp_path / "nowhere", tmp_path):  # no directory; a directory without a manifest
        with pytest.raises(IndexNotFoundError, match=f"no index at {path}: build one with `quco build CORPUS... "
                                                     f"--out {path}`"):
            Index(path)


def test_index_keeps_answering_after_a_rebuild_deleted_its_files(corpora, names, tmp_path):
    """An Index opened before a rebuild reads the old files even once the swap has deleted them."""
    out = _copy(corpora["old"], tmp_path / "idx")
    old = Index(out)
    before = (snapshot(old), old.top_neighbors("London", 3), old.sql("SELECT count(*) FROM entities").fetchall(),
              [m.key for m in old.extractor.extract("Ada Lovelace met Alan Turing")])
    build_index([str(corpora["a"])], str(out), workers=1, **build_opts(names))
    assert not (tmp_path / ".idx.building").exists()
    after = (snapshot(old), old.top_neighbors("London", 3), old.sql("SELECT count(*) FROM entities").fetchall(),
             [m.key for m in old.extractor.extract("Ada Lovelace met Alan Turing")])
    assert after == before
    assert snapshot(Index(out)) == snapshot(Index(corpora["clean"])) != before[0]


def test_an_open_that_races_with_a_swap_starts_again(corpora, tmp_path, monkeypatch):
    """A rebuild swaps and deletes the directory just after Index opened it: the open starts again on the new one."""
    import quco.cooccur.index as index_module
    from quco.index_builder.swap import swap_into_place

    out = _copy(corpora["old"], tmp_path / "idx")
    new = _copy(corpora["clean"], tmp_path / "new")
    real = index_module.read_manifest
    calls = []

    def racing(root, **kw):
        if not calls:
            swap_into_place(new, out)  # renameat2 exchange, then the old files are deleted
        calls.append(root)
        return real(root, **kw)

    monkeypatch.setattr(index_module, "read_manifest", racing)
    ix = Index(out)
    assert len(calls) == 2
    assert snapshot(ix) == snapshot(Index(corpora["clean"])) != snapshot(Index(corpora["old"]))


# ------------------------------------------------------------------------------------------ killed builds


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def _same_counts(a: Path, b: Path) -> None:
    for name in COUNT_ARRAYS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    for name in ("entities.parquet", "pairs.parquet"):
        assert pq.read_table(a / name).equals(pq.read_table(b / name)), name


KILLS = [("harvest", 1), ("count", 1), ("count", 2), ("merge", 2)]


@pytest.mark.parametrize("phase,workers", KILLS, ids=[f"{p}-w{w}" for p, w in KILLS])
def test_sigkill_then_resume_gives_the_uninterrupted_counts(corpora, names, tmp_path, phase, workers):
    rng = random.Random(f"{phase}{workers}{os.getpid()}")
    out = _copy(corpora["old"], tmp_path / "idx")  # an older index sits at --out the whole time
    work = tmp_path / ".idx.building"
    reader = Index(out)
    old_values = snapshot(reader)
    argv = [*QUCO, "build", str(corpora["a"]), "--out", str(out), *cli_opts(names), "--workers", str(workers)]
    argv += [] if phase == "merge" else ["--no-retrieval"]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        marks = work / "completions"
        if phase == "harvest":
            _wait_for(lambda: (work / "params.json").exists(), 120, "the build to start")
            time.sleep(rng.uniform(0, 0.1))  # this harvest takes ~0.27 s on a 2-core machine: stay inside it
        elif phase == "count":
            target = rng.randint(1, 100)
            _wait_for(lambda: marks.exists() and len(list(marks.iterdir())) >= target, 120, f"{target} shards")
        else:
            _wait_for(lambda: (work / "index").exists(), 120, "the merge")
            time.sleep(rng.uniform(0, 0.2))
        workers_pids = [c for c in _children(p.pid)]
        reached = ("merge" if (work / "index").exists() else "count" if (work / "gazetteer.parquet").exists()
                   else "harvest")
        os.kill(p.pid, signal.SIGKILL)
        assert p.wait(timeout=60) == -signal.SIGKILL
        assert reached == phase, f"the build was in {reached}, not {phase}, when killed"
        # the kernel kills the workers with their parent: no orphan goes on writing partials
        _wait_for(lambda: not any(_alive(c) for c in workers_pids), 20, "orphaned workers to exit")
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        p.stderr.close()
    assert work.exists()  # killed mid-build
    # a marker being written at the kill is left as a .tmp file: that shard is not done
    done = len([m for m in (work / "completions").glob("*") if ".tmp" not in m.name])
    # readers of the old index saw no change: the one opened before, and a new one
    assert snapshot(reader) == old_values and snapshot(Index(out)) == old_values
    m = build_index([str(corpora["a"])], str(out), workers=workers, resume=True, **build_opts(names))
    assert m["stats"]["resumed_shards"] == done
    _same_counts(out, corpora["clean"])
    assert snapshot(Index(out)) == snapshot(Index(corpora["clean"]))
    assert snapshot(reader) == old_values  # still the old index, still answering
    assert verify(out) == [] and not work.exists()


def test_a_killed_worker_has_its_shards_counted_again(corpora, names, tmp_path):
    """SIGKILL a pool worker mid-count: the local executor starts a new pool, counts the lost shards again, says
    so on stderr, and the build ends with the counts of an undisturbed one."""
    out = tmp_path / "idx"
    work = tmp_path / ".idx.building"
    argv = [*QUCO, "build", str(corpora["a"]), "--out", str(out), *cli_opts(names), "--workers", "2",
            "--no-retrieval"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        marks = work / "completions"
        _wait_for(lambda: marks.exists() and len(list(marks.iterdir())) >= 3, 120, "3 shards")
        victim = _children(p.pid)[0]
        os.kill(victim, signal.SIGKILL)
        _, stderr = p.communicate(timeout=180)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert p.returncode == 0, stderr[-2000:]
    assert "a worker process died" in stderr and "restarting the pool" in stderr
    _same_counts(out, corpora["clean"])


def test_two_builds_to_one_out_do_not_mix(corpora, names, tmp_path):
    out = tmp_path / "idx"
    argv = [*QUCO, "build", str(corpora["a"]), "--out", str(out), *cli_opts(names), "--workers", "1",
            "--no-retrieval"]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _wait_for(lambda: (tmp_path / ".idx.building" / "params.json").exists(), 120, "the first build")
        with pytest.raises(BuildError, match=f"another build is writing {out}"):
            build_index([str(corpora["b"])], str(out), workers=1, **build_opts(names))
        r = run("build", str(corpora["b"]), "--out", str(out), *cli_opts(names), "--no-retrieval")
        assert r.exit_code == 2
        one_line_error(r.stderr, "another build is writing")
        _, stderr = p.communicate(timeout=180)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert p.returncode == 0, stderr
    _same_counts(out, corpora["clean"])


# ------------------------------------------------------------------------------------------ concurrent readers


def _reader(path: str, expected: list, ready, stop, results) -> None:
    """Open the index again and again and query it until told to stop; report what was seen and any error."""
    seen: set = set()
    errors: list[str] = []
    n = 0
    try:
        first = Index(path)
        first_values = snapshot(first)
        ready.set()
        while not stop.is_set() or n < 20:
            n += 1
            try:
                with Index(path) as ix:
                    v = snapshot(ix)
                seen.add(expected.index(list(v)) if list(v) in expected else -1)
                if snapshot(first) != first_values:
                    errors.append("an open Index changed its answers")
            except Exception as e:  # noqa: BLE001 - any error at all is what this test looks for
                errors.append(f"{type(e).__name__}: {e}")
            time.sleep(0.005)  # leave the builder some CPU
    except Exception as e:  # noqa: BLE001
        errors.append(f"{type(e).__name__}: {e}")
        ready.set()
    results.put((sorted(seen), errors[:5], len(errors), n))


def test_readers_never_fail_while_the_index_is_rebuilt(corpora, names, tmp_path):
    """4 processes open and query one index in a loop while this process rebuilds it, corpus B, C, B, C..."""
    c = write_corpus(tmp_path / "c.jsonl", 300, seed=6)
    build_index([str(c)], str(tmp_path / "clean_c"), workers=1, **build_opts(names))
    out = _copy(corpora["old"], tmp_path / "idx")
    expected = [list(snapshot(Index(corpora["old"]))), list(snapshot(Index(tmp_path / "clean_c")))]
    assert expected[0] != expected[1]
    ctx = mp.get_context("spawn")
    stop, results = ctx.Event(), ctx.Queue()
    readies = [ctx.Event() for _ in range(4)]
    procs = [ctx.Process(target=_reader, args=(str(out), expected, r, stop, results)) for r in readies]
    for p in procs:
        p.start()
    try:
        for r in readies:
            assert r.wait(120)
        for corpus in (c, corpora["b"], c):
            build_index([str(corpus)], str(out), workers=1, **build_opts(names))
        stop.set()
        reports = [results.get(timeout=120) for _ in procs]
    finally:
        stop.set()
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    for seen, errors, n_errors, n in reports:
        assert n_errors == 0, errors
        assert -1 not in seen  # never a mix of old and new numbers
    assert {s for seen, *_ in reports for s in seen} == {0, 1}  # the readers did see the index change


# ------------------------------------------------------------------------------------------ odd queries


CHARS = st.characters(categories=["Lu", "Ll", "Lo", "Nd", "Po", "Ps", "Pe", "Sm", "So", "Sk", "Zs", "Zl", "Zp",
                                  "Cc", "Cf", "Cs", "Mn"])
TEXT = st.lists(st.one_of(st.sampled_from(NAMES + ["the", "in", ".", "\n\n", "?"]), st.text(CHARS, max_size=12)),
                max_size=40).map(" ".join)


def _check_report(question, answer, index, mode):
    """Any text gets a normal report (README, Failure modes): no error of any kind, a risk in [0, 1]."""
    t = time.perf_counter()
    rep = assess(question, answer, index=index, mode=mode)
    assert time.perf_counter() - t < 10
    assert rep.checked and rep.risk is not None and 0.0 <= rep.risk <= 1.0
    assert rep.decision in ("pass", "retrieve", "sanctioned_blend") and rep.stage in ("pre", "post", "none")
    assert rep.flagged == (rep.decision == "retrieve" or bool(rep.blend and rep.blend.get("flagged")))
    if answer is None:
        assert rep.stage in ("pre", "none")
    elif rep.stage != "post":  # an answer is checked after generation unless the question itself is uncovered
        assert rep.stage == "pre" and rep.coverage == "unknown" and rep.decision == "retrieve"
    back = json.loads(rep.to_json())
    assert back["risk"] == rep.risk and back["decision"] == rep.decision and back["flagged"] == rep.flagged


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(question=TEXT, answer=st.one_of(st.none(), TEXT), mode=st.sampled_from(["factual", "creative"]))
def test_assess_any_text_gazetteer_index(full_index, question, answer, mode):
    _check_report(question, answer, str(full_index), mode)


TEXT_NO_SURROGATES = st.lists(st.one_of(st.sampled_from(NAMES + ["the", "in", ".", "\n\n", "?"]),
                                        st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)),
                              max_size=40).map(" ".join)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(question=TEXT_NO_SURROGATES, answer=st.one_of(st.none(), TEXT_NO_SURROGATES))
def test_assess_any_text_spacy_index(six_spacy, question, answer):
    _check_report(question, answer, str(six_spacy), "factual")


@pytest.mark.parametrize("text", ["\ud800", "Ada Lovelace \udfff London"])
def test_assess_lone_surrogate_spacy_index(six_spacy, text):
    _check_report("Where did Ada Lovelace live?", text, str(six_spacy), "factual")


JUNK = st.text(st.characters(blacklist_characters="\n\x00", blacklist_categories=["Cs"]), max_size=30)
DOC_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=60)


@given(lines=st.lists(st.one_of(JUNK, DOC_TEXT.map(lambda t: json.dumps({"text": f"Ada Lovelace {t} London"}))),
                      min_size=1, max_size=12))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_corpus_lines_of_any_text(tmp_path_factory, names, lines):
    """Hypothesis-made JSONL lines, some not JSON at all: with --on-bad-record skip every non-blank line becomes a
    document or a reject; by default the build stops at the first bad line, naming it."""
    d = tmp_path_factory.mktemp("hyp")
    p = d / "c.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def is_doc(line: str) -> bool:
        try:
            obj = json.loads(line)
        except ValueError:
            return False
        return isinstance(obj, dict) and isinstance(obj.get("text"), str)

    nonblank = [ln for ln in lines if ln.strip()]
    docs = sum(map(is_doc, nonblank))
    if docs == 0:
        return
    # (--format auto would sniff a file whose first line is not JSON as one plain-text document)
    m = build_index([str(p)], str(d / "skip"), workers=1, on_bad_record="skip", format="jsonl", **build_opts(names))
    assert (m["stats"]["documents"], m["stats"]["rejects"]) == (docs, len(nonblank) - docs)
    first_bad = next((i for i, ln in enumerate(lines, 1) if ln.strip() and not is_doc(ln)), None)
    try:
        build_index([str(p)], str(d / "strict"), workers=1, format="jsonl", **build_opts(names))
    except BadInputError as e:
        assert (e.path, e.line) == (str(p), first_bad)
    else:
        assert first_bad is None


def test_escaped_lone_surrogate_in_a_jsonl_line(tmp_path, names):
    p = tmp_path / "c.jsonl"
    p.write_text('{"text": "Ada Lovelace \\ud800 lived in London"}\n{"text": "Paris"}\n')
    try:
        m = build_index([str(p)], str(tmp_path / "idx"), workers=1, **build_opts(names))
    except BadInputError as e:  # rejecting the line, naming it, is fine too
        assert e.line == 1
    else:
        assert m["stats"]["documents"] == 2


@contextmanager
def within(seconds: float):
    """Raise TimeoutError in this (main) thread if the block runs longer than ``seconds``: a bound, not a benchmark."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _megabyte_of(words: list[str]) -> str:
    rng = random.Random(0)
    parts, size = [], 0
    while size < 1 << 20:
        parts.append(rng.choice(words))
        size += len(parts[-1]) + 1
    return " ".join(parts)


def test_one_megabyte_prompt_gazetteer_index(full_index):
    prompt = _megabyte_of(["word", "london", "paris", "ada lovelace", "\x00", "🙂", "東京", "\ud800", "\u200b", "\n\n"])
    with within(10):
        rep = assess(prompt, "Ada Lovelace lived in London.", index=str(full_index), retrieve=False)
    # the claim path reads a question's first 2,000 characters for its topics (README, failure modes): the
    # report is a normal one, with the question entities found there
    q = [e for e in rep.entities if e.source == "question"]
    assert rep.decision in ("pass", "retrieve") and rep.checked and q and all(e.start < 2000 for e in q)


def test_one_megabyte_prompt_of_names_gazetteer_index(full_index):
    unknown = ["Zorblax Quint", "Mirela Voss", "Oskar Lindqvist", "Teodora"]  # capitalized, not in the index
    prompt = _megabyte_of(NAMES + unknown + ["word", "\x00", "🙂", "東京", "\ud800", ".", "\n", "\n\n"])
    with within(10):
        rep = assess(prompt, "Ada Lovelace lived in London.", index=str(full_index), retrieve=False)
    # the claim path reads a question's first 2,000 characters for its topics (README, failure modes): the
    # report is a normal one, with the question entities found there
    q = [e for e in rep.entities if e.source == "question"]
    assert rep.decision in ("pass", "retrieve") and rep.checked and q and all(e.start < 2000 for e in q)


def test_one_megabyte_answer_gazetteer_index(full_index):
    answer = "Ada Lovelace met Paris in London. " * 31_000
    with within(10):
        rep = assess("Where did Ada Lovelace live?", answer, index=str(full_index), retrieve=False)
    assert rep.stage == "post" and rep.decision in ("pass", "retrieve") and 0.0 <= rep.risk <= 1.0
    assert {e.text for e in rep.entities if e.source == "answer"} >= {"Paris", "London"}


def test_one_megabyte_prompt_spacy_index(six_spacy):
    """README: a 1 MB prompt gets a normal report, on a spaCy index too (spaCy refuses texts over 1 M chars)."""
    prompt = "Ada Lovelace " * 90_000
    assert len(prompt) > 1_000_000
    rep = assess(prompt, None, index=str(six_spacy), retrieve=False)
    assert rep.checked and rep.stage == "pre" and rep.decision in ("pass", "retrieve") and 0.0 <= rep.risk <= 1.0


# ------------------------------------------------------------------------------------------ one huge document

_MEASURE = """
import resource, subprocess, sys
r = subprocess.run([sys.executable, "-m", "quco", *sys.argv[1:]], capture_output=True, text=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.stderr.write(r.stderr)
sys.stdout.write(r.stdout)
sys.exit(r.returncode)
"""


def _write_big_document(path: Path, target_bytes: int) -> int:
    """One plain-text document of about ``target_bytes`` in paragraphs; returns its number of word tokens."""
    rng = random.Random(1)
    words = ["alpha", "beta", "gamma", "delta", "river", "stone"]
    paras = []
    for _ in range(500):
        paras.append(" ".join(rng.choice(NAMES) if rng.random() < 0.05 else rng.choice(words) for _ in range(150)))
    block = "\n\n".join(paras) + "\n\n"
    reps = target_bytes // len(block) + 1
    with open(path, "w") as f:
        for _ in range(reps):
            f.write(block)
    return reps * len(block.split())


@pytest.mark.slow
def test_200_mb_document_builds_in_bounded_memory(tmp_path, names):
    doc = tmp_path / "huge.txt"
    n_tokens = _write_big_document(doc, 200_000_000)
    out = tmp_path / "idx"
    try:
        r = subprocess.run([sys.executable, "-c", _MEASURE, "build", str(doc), "--out", str(out), "--extractor",
                            "gazetteer", "--entities", str(names), "--harvest-sample", "0", "--no-retrieval", "-q",
                            # the suffix array of the phrase counts holds the corpus's tokens by design (its memory
                            # is measured in bench/bench_phrase_index.py); this test bounds the streaming count path
                            "--no-phrase-counts", "--workers", "1", "--json"],
                           capture_output=True, text=True, timeout=1800)
    finally:
        doc_mb = doc.stat().st_size / 1e6
        doc.unlink()  # 200 MB: do not leave it in pytest's kept temporary directories
        shutil.rmtree(out, ignore_errors=True)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    peak_mb = int(r.stdout.splitlines()[0]) / 1024
    stats = json.loads(r.stdout.splitlines()[1])["stats"]
    print(f"peak RSS {peak_mb:.0f} MB for a {doc_mb:.0f} MB document")
    assert stats["documents"] == 1 and stats["tokens"] == n_tokens
    assert peak_mb < 1024  # bounded: well under the ~16x the document the one-piece count takes
