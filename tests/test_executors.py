"""Executors: the shards of a build counted on a local process pool or a Dask cluster give byte-identical indexes."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from quco import registry
from quco.cooccur.extract import DEFAULT_LABELS
from quco.errors import BuildError, UnknownComponentError
from quco.index_builder.build import build_index
from quco.index_builder.executors import make_executor, run_count
from quco.index_builder.shard_plan import FileTask, ReadOptions, count_file, file_shards

ARRAYS = ("entity_hash", "entity_freq", "nbr_indptr", "nbr_id", "nbr_count", "doc_indptr", "doc_ids")
TABLES = ("entities.parquet", "pairs.parquet", "passages.parquet")
NAMES = ["Ada Lovelace", "London", "Charles Babbage", "Paris", "Alan Turing", "Berlin", "Marie Curie", "Warsaw",
         "Niels Bohr", "Copenhagen"]


def synthetic_corpus(path: Path, n_docs: int, seed: int) -> None:
    """JSONL documents of filler words with the names scattered in; a names.txt beside it (the dictionary)."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for d in range(n_docs):
            paras = []
            for _ in range(rng.integers(1, 4)):
                words = [NAMES[rng.integers(len(NAMES))] if rng.random() < 0.07 else "word"
                         for _ in range(rng.integers(10, 300))]
                paras.append(" ".join(words))
            f.write(json.dumps({"id": f"{path.stem}-{d}", "title": f"Doc {d}", "text": "\n\n".join(paras)}) + "\n")
    (path.parent / "names.txt").write_text("\n".join(NAMES) + "\n")


def opts(tmp: Path, **kw) -> dict:
    return dict(extractor="gazetteer", entities=str(tmp / "names.txt"), titles=False, harvest_sample=0, window=80,
                shard_docs=40, progress=False, retrieval=(), blend=False) | kw


def assert_same_index(a: Path, b: Path) -> None:
    """Every count array byte for byte, and the entity, pair and passage tables row for row."""
    for name in ARRAYS:
        x, y = (a / "arrays" / f"{name}.npy").read_bytes(), (b / "arrays" / f"{name}.npy").read_bytes()
        assert x == y, name
    for name in TABLES:
        assert pq.read_table(a / name).equals(pq.read_table(b / name)), name
    ma, mb = (json.loads((p / "manifest.json").read_text()) for p in (a, b))
    assert ma["corpus"] == mb["corpus"]
    for k in ("documents", "tokens", "mentions", "pair_instances", "entities", "pairs", "passages", "shards"):
        assert ma["stats"][k] == mb["stats"][k], k


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("exec")
    synthetic_corpus(d / "a.jsonl", 150, 1)
    synthetic_corpus(d / "b.jsonl", 90, 2)
    return d


@pytest.fixture(scope="module")
def local_index(corpus) -> Path:
    out = corpus / "local.idx"
    build_index([str(corpus / "a.jsonl"), str(corpus / "b.jsonl")], str(out), workers=2, **opts(corpus))
    return out


def test_executors_are_registered():
    assert {"local", "dask"} <= set(registry.names(registry.executors))
    with pytest.raises(UnknownComponentError, match="available: .*dask.*local"):
        registry.get(registry.executors, "nope")


def test_address_needs_a_cluster_executor(corpus, tmp_path):
    with pytest.raises(BuildError, match="--executor dask"):
        build_index([str(corpus / "a.jsonl")], str(tmp_path / "x"), workers=1, address="tcp://127.0.0.1:1",
                    **opts(corpus))


@pytest.mark.parametrize("stride", [1, 2, 3, 5])
def test_file_tasks_count_each_shard_once(corpus, local_index, stride, tmp_path):
    """The ``stride`` tasks of a file count disjoint sets of shards that together are all of the file's shards,
    and the reporting task lists them in order."""
    ro = ReadOptions(shard_docs=40)
    whole = [sid for sid, _ in file_shards(corpus / "a.jsonl", 3, ro)]
    assert whole == [f"00003-{k:06d}" for k in range(4)]
    spec = {"name": "gazetteer", "labels": list(DEFAULT_LABELS), "work": ""}
    counted = []
    for part in range(stride):
        work = tmp_path / f"w{part}"
        work.mkdir()
        shutil.copy(local_index / "gazetteer.parquet", work / "gazetteer.parquet")
        res = count_file({**spec, "work": str(work)}, ro, FileTask(str(corpus / "a.jsonl"), 3, part, stride,
                                                                    part == 0), 80, str(work))
        assert [sid for sid, _ in res["shards"]] == (whole if part == 0 else [])
        counted.append({p.name for p in (work / "completions").glob("*")} if (work / "completions").exists()
                       else set())
    assert sorted(set().union(*counted)) == whole and sum(map(len, counted)) == len(whole)


def test_local_serial_and_pool_agree(corpus, local_index, tmp_path):
    out = tmp_path / "serial.idx"
    build_index([str(corpus / "a.jsonl"), str(corpus / "b.jsonl")], str(out), workers=1, **opts(corpus))
    assert_same_index(local_index, out)


def test_dask_build_is_byte_identical_to_local(corpus, local_index, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "dask.idx"
    m = build_index([str(corpus / "a.jsonl"), str(corpus / "b.jsonl")], str(out), workers=2, executor="dask",
                    **opts(corpus))
    assert m["stats"]["shards"] == 7  # 150 + 90 documents in shards of 40
    assert_same_index(local_index, out)


def test_ray_build_is_byte_identical_to_local(corpus, local_index, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "ray.idx"
    build_index([str(corpus / "a.jsonl"), str(corpus / "b.jsonl")], str(out), workers=2, executor="ray",
                **opts(corpus))
    assert_same_index(local_index, out)


def test_dask_resumes_what_the_local_executor_counted(corpus, local_index, tmp_path):
    """A work directory as a killed local build leaves it (some shards complete) is finished by Dask."""
    pytest.importorskip("distributed")
    inputs = [str(corpus / "a.jsonl"), str(corpus / "b.jsonl")]
    out = tmp_path / "resumed.idx"
    work = tmp_path / ".resumed.idx.building"
    work.mkdir()
    shutil.copy(local_index / "gazetteer.parquet", work / "gazetteer.parquet")  # the harvest, as it left it
    harvest = json.loads((local_index / "manifest.json").read_text())["stats"]["harvest"]
    (work / "harvest.json").write_text(json.dumps(harvest))
    spec = {"name": "gazetteer", "labels": list(DEFAULT_LABELS), "work": str(work)}
    run_count(make_executor("local", 1), [Path(p) for p in inputs], ReadOptions(shard_docs=40), spec, 80, work,
              set(), None, lambda n: None)
    keep = {"00000-000001", "00001-000000"}
    for marker in (work / "completions").iterdir():
        if marker.name not in keep:
            marker.unlink()
    m = build_index(inputs, str(out), workers=2, executor="dask", resume=True, **opts(corpus))
    assert m["stats"]["resumed_shards"] == len(keep)
    assert_same_index(local_index, out)


def _children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                cmd = (d / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"resource_tracker" not in cmd:
                kids.append(int(d.name))
    return kids


def test_a_lost_dask_worker_has_its_shards_retried(tmp_path):
    """SIGKILL a Dask worker mid-count: the scheduler gives its range to a worker again, the new attempt skips the
    shards already marked complete, and the build ends with the counts of an undisturbed one."""
    pytest.importorskip("distributed")
    import os
    import signal
    import subprocess
    import sys
    import time

    synthetic_corpus(tmp_path / "big.jsonl", 1600, 5)
    common = ["--extractor", "gazetteer", "--entities", str(tmp_path / "names.txt"), "--harvest-sample", "0",
              "--window", "80", "--shard-docs", "40", "--no-retrieval", "--no-blend", "--workers", "2", "-q"]
    ref = tmp_path / "ref.idx"
    build_index([str(tmp_path / "big.jsonl")], str(ref), workers=2, extractor="gazetteer",
                entities=str(tmp_path / "names.txt"), harvest_sample=0, window=80, shard_docs=40, progress=False,
                retrieval=(), blend=False)
    out = tmp_path / "dask.idx"
    argv = [sys.executable, "-c", "from quco.cli.main import main; main()", "build", str(tmp_path / "big.jsonl"),
            "--out", str(out), "--executor", "dask", "--json", *common]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    marks = tmp_path / ".dask.idx.building" / "completions"
    killed = None
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None and killed is None:
        done = len(list(marks.glob("*"))) if marks.exists() else 0
        if done >= 2:
            workers = _children(p.pid)
            if workers:
                killed = workers[0]
                os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    stdout, stderr = p.communicate(timeout=300)
    assert p.returncode == 0, stderr[-2000:]
    assert killed is not None, "the build finished before a worker could be killed"
    assert json.loads(stdout)["stats"]["shards"] == 40
    for name in ARRAYS:
        assert (ref / "arrays" / f"{name}.npy").read_bytes() == (out / "arrays" / f"{name}.npy").read_bytes(), name


@pytest.mark.parametrize("n_files", [1, 2])
def test_skipped_records_are_reported_alike(tmp_path, n_files):
    """Bad records skipped by Dask workers (whole-file tasks) or by the plan (split files) end up in rejects.jsonl
    exactly as the local executor writes them, in reading order."""
    pytest.importorskip("distributed")
    synthetic_corpus(tmp_path / "a.jsonl", 60, 7)
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    lines[10] = '{"id": "broken", "text": '
    lines[45] = "[1, 2, 3]"
    for i in range(n_files):
        (tmp_path / f"in{i}.jsonl").write_text("\n".join(lines) + "\n")
    inputs = [str(tmp_path / f"in{i}.jsonl") for i in range(n_files)]
    outs = {}
    for ex in ("local", "dask"):
        outs[ex] = tmp_path / f"{ex}.idx"
        m = build_index(inputs, str(outs[ex]), workers=2, executor=ex, on_bad_record="skip", **opts(tmp_path))
        assert m["stats"]["rejects"] == 2 * n_files
    assert (outs["local"] / "rejects.jsonl").read_text() == (outs["dask"] / "rejects.jsonl").read_text()
    assert_same_index(outs["local"], outs["dask"])


def _die_once(marker: str, value: int) -> int:
    """Kill this worker process the first time (no marker yet), return ``value`` after."""
    import os
    import signal
    from pathlib import Path

    if not Path(marker).exists():
        Path(marker).write_text("died")
        os.kill(os.getpid(), signal.SIGKILL)
    return value


def _die_always() -> int:
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)
    return 0


def test_the_local_pool_is_restarted_when_a_worker_dies(tmp_path):
    """A worker killed mid-call breaks the whole pool: the executor starts a new one and runs the lost calls
    again (the dead call and the ones in flight beside it), up to max_restarts times per build."""
    from quco.errors import BuildError
    from quco.index_builder.executors import LocalExecutor

    ex = LocalExecutor(2)
    ex.start({})
    try:
        calls = [ex.submit(_die_once, str(tmp_path / "died"), 7)] + [ex.submit(pow, 2, k) for k in range(6)]
        assert [ex.result(f) for f in calls] == [7] + [2 ** k for k in range(6)]
        assert ex.restarts == 1
        assert ex.result(ex.submit(pow, 3, 2)) == 9  # the new pool goes on working
        with pytest.raises(BuildError, match="died 3 times.*--resume"):
            ex.result(ex.submit(_die_always))
        assert ex.restarts == LocalExecutor.max_restarts
    finally:
        ex.close()
