"""Build benchmarks: throughput of each extractor, each stage's share of time, peak memory, index size.

Each build runs in a fresh interpreter (``bench_common.run_child``) so its peak memory is its own: the whole
process tree's PSS is sampled while it runs, and the child reports ``ru_maxrss`` of itself and of its worker
processes. The spaCy path is compared with bare ``nlp.pipe`` over the same segments (same model, same pipes,
same batch size, one process), each in its own fresh interpreter, model load included on both sides.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from bench_common import dir_bytes, gnu_time_log, run_child

COUNT_PART = ("entities.parquet", "pairs.parquet", "arrays", "gazetteer.parquet")

_BUILD_CHILD = """
from quco.index_builder.build import build_index
def _cpu():
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
c, t = _cpu(), time.perf_counter()
m = build_index(ARGS["inputs"], ARGS["out"], **ARGS["kwargs"])
_report({"wall_s": time.perf_counter() - t, "cpu_build_s": _cpu() - c, "stats": m["stats"], "build": m["build"]})
"""

_BARE_SPACY_CHILD = """
from quco.cooccur.extract import SpacyExtractor
from quco.index_builder.readers import read_documents
segs = [s for d in read_documents(ARGS["path"]) for s in d.segments()]
ext = SpacyExtractor()
c, t = time.process_time(), time.perf_counter()
nlp = ext.nlp  # loaded exactly as the extractor loads it (same model, same excluded pipes)
load, load_cpu = time.perf_counter() - t, time.process_time() - c
def run():
    n_tok = n_ent = 0
    c, t = time.process_time(), time.perf_counter()
    for doc in nlp.pipe(segs, batch_size=ext.batch_size, n_process=1):
        n_tok += len(doc)
        n_ent += len(doc.ents)
    return time.perf_counter() - t, time.process_time() - c, n_tok, n_ent
cold, cold_cpu, n_tok, n_ent = run()
warm, warm_cpu, _, _ = run() if ARGS["warm"] else (None, None, None, None)
_report({"load_s": load, "pipe_cold_s": cold, "pipe_warm_s": warm, "load_cpu_s": load_cpu,
         "pipe_cold_cpu_s": cold_cpu, "pipe_warm_cpu_s": warm_cpu, "spacy_tokens": n_tok, "ents": n_ent,
         "segments": len(segs), "pipes": nlp.pipe_names, "batch_size": ext.batch_size})
"""


def run_build(inputs: list[str], out: Path, **kwargs: Any) -> dict[str, Any]:
    """Build an index in a child process; returns the manifest's stats plus measured wall time and memory."""
    if out.exists():
        shutil.rmtree(out)
    kwargs.setdefault("progress", False)
    if "retrieval" in kwargs:
        kwargs["retrieval"] = list(kwargs["retrieval"])
    r = run_child(_BUILD_CHILD, {"inputs": [str(i) for i in inputs], "out": str(out), "kwargs": kwargs})
    r["index"] = str(out)
    r["source"] = "measured by bench/run.py"
    return r


def from_manifest(index_dir: Path, time_log: Path | None = None) -> dict[str, Any]:
    """Build figures of an index built elsewhere: its manifest's stats, and peak RSS from a ``time -v`` log."""
    m = json.loads((index_dir / "manifest.json").read_text())
    r: dict[str, Any] = {"stats": m["stats"], "build": m["build"], "wall_s": m["stats"]["timing"]["total"],
                         "index": str(index_dir), "source": f"manifest of {index_dir}"}
    if time_log is not None and time_log.exists():
        t = gnu_time_log(time_log)
        r["maxrss_largest_process_mib"] = t.get("maxrss_mib")
        r["time_log_wall_s"] = t.get("wall_s")
        r["time_log_cpu_s"] = t.get("cpu_s")
        r["source"] += f" + {time_log}"
    return r


def summarize(build: dict[str, Any], text_bytes: int) -> dict[str, Any]:
    """Throughput, stage shares, memory and sizes of one build (``build`` from run_build or from_manifest)."""
    st = build["stats"]
    timing = st.get("timing", {})
    total = float(timing.get("total") or build["wall_s"])
    stages = {k: timing[k] for k in ("harvest", "count", "merge", "retrieval", "blend") if k in timing}
    shard = st.get("stage_seconds", {})
    shard_sum = sum(shard.values()) or 1.0
    index_dir = Path(build["index"])
    count_bytes = dir_bytes(index_dir, COUNT_PART)
    whole = dir_bytes(index_dir)
    peak_parts = [build.get(k) for k in ("tree_peak_pss_mib", "maxrss_self_mib", "maxrss_children_mib",
                                         "maxrss_largest_process_mib")]
    out = {
        "source": build["source"],
        "extractor": build["build"].get("extractor"),
        "workers": st.get("workers"),
        "text_bytes": text_bytes,
        "chars": st.get("chars"),
        "documents": st.get("documents"),
        "tokens": st.get("tokens"),
        "mentions": st.get("mentions"),
        "pair_instances": st.get("pair_instances"),
        "entities": st.get("entities"),
        "pairs": st.get("pairs"),
        "passages": st.get("passages"),
        "wall_s": total,
        "mb_per_s": text_bytes / 1e6 / total,
        "tokens_per_s": (st.get("tokens") or 0) / total,
        "count_stage_mb_per_s": text_bytes / 1e6 / stages["count"] if stages.get("count") else None,
        "stage_seconds": stages,
        "stage_share": {k: v / total for k, v in stages.items()},
        "shard_stage_seconds": shard,
        "shard_stage_share": {k: v / shard_sum for k, v in shard.items()},
        "harvest": st.get("harvest"),
        "retrieval": st.get("retrieval"),
        "cpu_s": build.get("cpu_build_s") or build.get("time_log_cpu_s"),
        "tree_peak_pss_mib": build.get("tree_peak_pss_mib"),
        "maxrss_main_mib": build.get("maxrss_self_mib"),
        "maxrss_largest_worker_mib": build.get("maxrss_children_mib"),
        "maxrss_largest_process_mib": build.get("maxrss_largest_process_mib")
        or max((p for p in peak_parts[1:3] if p is not None), default=None),
        "index_count_bytes": count_bytes,
        "index_bytes": whole,
        "index_count_ratio": count_bytes / text_bytes,
        "index_ratio": whole / text_bytes,
        "index_parts": {p.name: dir_bytes(index_dir, [p.name]) for p in sorted(index_dir.iterdir())},
    }
    if "time_log_wall_s" in build:
        out["time_log_wall_s"] = build["time_log_wall_s"]
    return out


def spacy_path(slice_file: Path, out: Path, repeats: int = 1, warm: bool = True) -> dict[str, Any]:
    """spaCy build (one worker, no retrieval) vs bare ``nlp.pipe`` on the same text; best of ``repeats``.

    Runs alternate (bare, build, bare, build ...) so that a change in the machine's load hits both sides. The
    comparison uses the bare side's first (cold) pass, as a build has only one; ``warm`` adds a second pass.
    """
    bares, builds = [], []
    for _ in range(repeats):
        bares.append(run_child(_BARE_SPACY_CHILD, {"path": str(slice_file), "warm": warm}))
        builds.append(run_build([str(slice_file)], out, extractor="spacy", workers=1, retrieval=()))
    bare = min(bares, key=lambda b: b["load_s"] + b["pipe_cold_s"])
    build = min(builds, key=lambda b: b["stats"]["timing"]["total"])
    bare_s = bare["load_s"] + bare["pipe_cold_s"]
    bare_cpu = min(b["load_cpu_s"] + b["pipe_cold_cpu_s"] for b in bares)
    build_cpu = min(b["cpu_build_s"] for b in builds)
    st = build["stats"]
    total = st["timing"]["total"]
    extract = st["stage_seconds"]["extract"]
    return {
        "slice_bytes": slice_file.stat().st_size,
        "repeats": repeats,
        "bare": bare,
        "bare_runs_s": [b["load_s"] + b["pipe_cold_s"] for b in bares],
        "build_runs_s": [b["stats"]["timing"]["total"] for b in builds],
        "build_stats": st,
        "index": str(out),
        "bare_s": bare_s,
        "build_s": total,
        "extract_stage_s": extract,
        "bare_cpu_s": bare_cpu,
        "build_cpu_s": build_cpu,
        "overhead_build": total / bare_s - 1.0,
        "overhead_build_cpu": build_cpu / bare_cpu - 1.0,
        "overhead_extract": extract / bare_s - 1.0,
        "mb_per_s": slice_file.stat().st_size / 1e6 / total,
        "tokens_per_s": st["tokens"] / total,
        "bare_mb_per_s": slice_file.stat().st_size / 1e6 / bare_s,
        "bare_spacy_tokens_per_s": bare["spacy_tokens"] / bare["pipe_cold_s"],
        "tree_peak_pss_mib": build.get("tree_peak_pss_mib"),
    }
