"""Shared helpers of the benchmark suite: the machine, timing statistics, corpora, and measured child processes.

Nothing here measures quco itself; the ``bench_*`` modules do. Timings use ``time.perf_counter``; memory of a
process tree is sampled from ``/proc`` (PSS, so pages shared between a build's processes count once).
"""
from __future__ import annotations

import html
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "bench" / "out"
SHARED = ROOT.parent / "shared" / "data"
WIKI = SHARED / "wiki2015"
EQ_SWAP = SHARED / "entityquestions" / "eq_swap_dev.jsonl"


# ---- the machine ------------------------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return float("nan")


def _version(module: str) -> str:
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001 - a missing optional package is reported, not fatal
        return "absent"


def _git_commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + ("+dirty" if dirty else "") if head else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine_info() -> dict[str, Any]:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gib": _ram_gib(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "numba": _version("numba"),
        "numpy": _version("numpy"),
        "spacy": _version("spacy"),
        "duckdb": _version("duckdb"),
        "bm25s": _version("bm25s"),
        "quco": _version("quco"),
        "commit": _git_commit(),
    }


# ---- timing -----------------------------------------------------------------------------------------------------
def percentiles(samples_s: Iterable[float], ps: Iterable[int] = (50, 95, 99)) -> dict[str, float]:
    """Percentiles of durations in seconds, as microseconds (``p50_us`` ...) plus the mean and the count."""
    a = np.asarray(list(samples_s), dtype=np.float64) * 1e6
    if a.size == 0:
        return {"n": 0}
    out = {f"p{p}_us": float(np.percentile(a, p)) for p in ps}
    out.update(mean_us=float(a.mean()), n=int(a.size))
    return out


def best_of(fn: Callable[[], Any], repeat: int = 3, min_seconds: float = 0.0,
            clock: Callable[[], float] = time.perf_counter) -> tuple[float, Any]:
    """The fastest of ``repeat`` calls of ``fn`` (seconds of ``clock``) and its last result; repeats until
    ``min_seconds`` are spent (at most 50 calls)."""
    best, result, spent, n = float("inf"), None, 0.0, 0
    while n < repeat or spent < min_seconds:
        t = clock()
        result = fn()
        dt = clock() - t
        best, spent, n = min(best, dt), spent + dt, n + 1
        if n >= 50:
            break
    return best, result


def timed_loop(fn: Callable[[Any], Any], items: list, budget_s: float) -> list[float]:
    """Durations of ``fn(item)`` over ``items``, stopping early when ``budget_s`` is spent (at least 20 calls)."""
    out, t_end = [], time.perf_counter() + budget_s
    for i, item in enumerate(items):
        t = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - t)
        if i >= 20 and time.perf_counter() > t_end:
            break
    return out


# ---- corpora ----------------------------------------------------------------------------------------------------
_FUNCTION_WORDS = """the of and to in a is was for on as with by that from at his an were which are this be
also has had its or first after but their not one new two who they been have he into her more other most
during over years only some time three between under about through all when later where while both several
can would such many however city part year school work since before there group known used team states
national state including then early these until against river house west north south east world family
season area like small large local high old government music film game series album band church station
population village county league football war army born life death history people center university""".split()
_SYLLABLES = ("ka ri to ma ne lo sa vi de ra mo ti ar en el or an in us os ba ce di fa go hu ja ku le mi no "
              "pe qu ro se ta un ve wa xe yo za bri cla dro fle gra kri plo sna tre vor").split()


def _pseudo_word(rng: random.Random, lo: int = 2, hi: int = 4) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(lo, hi)))


def synthetic_corpus(path: Path, target_bytes: int, seed: int = 0) -> dict[str, Any]:
    """Write a WikiExtractor-format corpus of about ``target_bytes``: articles titled by a made-up entity, with
    English function words, Zipf-distributed made-up words, and entity mentions clustered by topic (so pairs
    repeat across articles as they do in Wikipedia). Deterministic for a given seed."""
    rng = random.Random(seed)
    gen = np.random.default_rng(seed)
    vocab = np.array(_FUNCTION_WORDS + [_pseudo_word(rng) for _ in range(4000)], dtype=object)
    w = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    n_ent = 6000
    names, seen = [], set()
    while len(names) < n_ent:
        name = " ".join(_pseudo_word(rng).capitalize() for _ in range(rng.choice((1, 2, 2, 2, 3))))
        if name not in seen:
            seen.add(name)
            names.append(name)
    names_a = np.array(names, dtype=object)
    ew = 1.0 / np.arange(1, n_ent + 1) ** 0.9
    n_words = target_bytes // 4 + 100_000  # more than enough words: about 6.5 bytes each
    words_all = vocab[gen.choice(len(vocab), size=n_words, p=w / w.sum())]
    u = gen.random(n_words)
    far = (u >= 0.035) & (u < 0.06)
    words_all[far] = names_a[gen.choice(n_ent, size=int(far.sum()), p=ew / ew.sum())]
    near = np.flatnonzero(u < 0.035)
    jitter = gen.integers(-40, 41, size=n_words)
    written, n_docs, k = 0, 0, 0
    with open(path, "w", encoding="utf-8") as f:
        while written < target_bytes and k < n_words - 10_000:
            topic = (n_docs * 7) % n_ent
            title = names[topic]
            paras = []
            for _ in range(rng.randint(3, 14)):
                lens = [rng.randint(8, 26) for _ in range(rng.randint(2, 7))]
                n = sum(lens)
                words = words_all[k : k + n]
                i = near[np.searchsorted(near, k) : np.searchsorted(near, k + n)]
                words[i - k] = names_a[(topic + jitter[i]) % n_ent]
                sents, j = [], 0
                for m in lens:
                    s = " ".join(words[j : j + m])
                    sents.append(s[0].upper() + s[1:] + ".")
                    j += m
                paras.append(" ".join(sents))
                k += n
            block = (f'<doc id="{n_docs + 1}" url="http://example.org/wiki?curid={n_docs + 1}" '
                     f'title="{html.escape(title)}">\n{title}\n\n' + "\n\n".join(paras) + "\n</doc>\n")
            f.write(block)
            written += len(block.encode("utf-8"))
            n_docs += 1
    return {"path": str(path), "bytes": written, "documents": n_docs, "entities": n_ent, "seed": seed}


def write_wikiextractor(docs: Iterable, path: Path) -> int:
    """Write documents (``quco`` Documents) back in WikiExtractor format; returns the bytes written."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            title = d.title or ""
            block = (f'<doc id="{html.escape(d.doc_id)}" url="" title="{html.escape(title)}">\n{title}\n\n'
                     + "\n\n".join(d.paragraphs) + "\n</doc>\n")
            f.write(block)
            n += len(block.encode("utf-8"))
    return n


def take_documents(path: Path, max_chars: int) -> list:
    """The first documents of a corpus file, up to ``max_chars`` characters of text."""
    from quco.index_builder.readers import read_documents

    docs, size = [], 0
    for d in read_documents(path):
        if size >= max_chars:
            break
        docs.append(d)
        size += d.n_chars
    return docs


def text_bytes(files: Iterable[Path]) -> int:
    """Uncompressed size of corpus files (zstd/gzip streamed and counted; others by their size)."""
    total = 0
    for p in files:
        with open(p, "rb") as raw:
            magic = raw.read(4)
        if magic == b"\x28\xb5\x2f\xfd":
            import zstandard

            with open(p, "rb") as raw:
                reader = zstandard.ZstdDecompressor().stream_reader(raw)
                while chunk := reader.read(1 << 24):
                    total += len(chunk)
        elif magic[:2] == b"\x1f\x8b":
            import gzip

            with gzip.open(p, "rb") as g:
                while chunk := g.read(1 << 24):
                    total += len(chunk)
        else:
            total += p.stat().st_size
    return total


def corpus_files(inputs: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for raw in inputs:
        p = Path(raw)
        files.extend(sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith("."))
                     if p.is_dir() else [p])
    return files


def dir_bytes(path: Path, names: Iterable[str] | None = None) -> int:
    """Bytes of the files under ``path`` (only the top-level entries in ``names`` when given)."""
    roots = [path / n for n in names] if names is not None else [path]
    total = 0
    for r in roots:
        if r.is_file():
            total += r.stat().st_size
        elif r.is_dir():
            total += sum(q.stat().st_size for q in r.rglob("*") if q.is_file())
    return total


# ---- measured child processes -----------------------------------------------------------------------------------
def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _tree(pid: int) -> list[int]:
    kids, out, todo = _children_map(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class TreeMemory:
    """Samples the summed PSS of a process and its descendants in a thread; ``peak_mib`` after ``stop``."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.pid, self.interval, self.peak_kib, self.samples = pid, interval, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, sum(_pss_kib(p) for p in _tree(self.pid)))
            self.samples += 1
            self._stop.wait(self.interval)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mib

    @property
    def peak_mib(self) -> float:
        return round(self.peak_kib / 1024, 1)


CHILD_PRELUDE = """
import json, resource, sys, time
def _report(result):
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    result["cpu_self_s"] = me.ru_utime + me.ru_stime
    result["cpu_children_s"] = kids.ru_utime + kids.ru_stime
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so it would include the launching process's peak
    with open("/proc/self/status") as f:
        hwm = next((int(x.split()[1]) for x in f if x.startswith("VmHWM:")), None)
    result["maxrss_self_mib"] = round((hwm or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024, 1)
    result["maxrss_children_mib"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    sys.stdout.write("\\n@@RESULT@@" + json.dumps(result) + "\\n")
"""


def run_child(code: str, args: dict[str, Any], timeout: float = 7200) -> dict[str, Any]:
    """Run ``code`` (which reads ``ARGS`` and calls ``_report(dict)``) in a fresh interpreter; returns its dict
    with ``tree_peak_pss_mib`` (sampled) and ``process_wall_s`` added. Raises on failure with its stderr."""
    src = CHILD_PRELUDE + f"ARGS = json.loads({json.dumps(json.dumps(args))})\n" + code
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", src], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=str(ROOT))
    mem = TreeMemory(proc.pid)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        mem.stop()
    if proc.returncode != 0 or "@@RESULT@@" not in out:
        raise RuntimeError(f"benchmark child failed (exit {proc.returncode}):\n{err[-4000:]}")
    result = json.loads(out.rsplit("@@RESULT@@", 1)[1])
    result["tree_peak_pss_mib"] = mem.peak_mib
    result["process_wall_s"] = time.perf_counter() - t
    return result


def read_jsonl(path: Path, limit: int | None = None) -> Iterator[dict]:
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if limit is not None and i >= limit:
                return
            if line.strip():
                yield json.loads(line)


def gnu_time_log(path: Path) -> dict[str, Any]:
    """Peak RSS and wall time from a ``/usr/bin/time -v`` log (largest single process, not the tree's sum)."""
    out: dict[str, Any] = {}
    for line in Path(path).read_text(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("Maximum resident set size (kbytes):"):
            out["maxrss_mib"] = round(int(line.rsplit(":", 1)[1]) / 1024, 1)
        elif line.startswith(("User time (seconds):", "System time (seconds):")):
            out["cpu_s"] = out.get("cpu_s", 0.0) + float(line.rsplit(":", 1)[1])
        elif line.startswith("Elapsed (wall clock) time"):
            parts = [float(x) for x in line.rsplit(" ", 1)[1].split(":")]
            secs = 0.0
            for x in parts:
                secs = secs * 60 + x
            out["wall_s"] = secs
    return out

