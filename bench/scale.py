"""Scale: the local search index and the verifier on corpora of 1k, 10k and 100k papers (the 379
real bundled papers plus generated ones, see :mod:`bench.corpus_gen`).

Per size, new processes, each measured alone (wall, peak RSS via ``os.wait4``):

``build``  fresh cache folder: read the corpus, build the index (TF-IDF + LSA + FAISS) and save
           it, then query latency and verification of 50 claims (up to 10k papers three
           times, the median build kept: a shared 2-core machine makes single runs noisy);
``load``   same cache folder: read the corpus, load the saved index (checksums verified), then
           the same queries and verification — the steady state of every later run.

Query latency: ``LocalSearcher.search(q, 8)`` for 24 queries (the planner's queries of four
questions), median and 95th percentile. Verification of 50 claims: the four planner queries of
the demo question retrieve the papers (8 per query, de-duplicated), the offline extractor takes
5 claims from each paper in rank order until there are 50, and both verifiers of the verify node
run on them: the evidence verifier (passage index over the retrieved papers only, so its cost
does not grow with the corpus) and the TF-IDF baseline. The first call in the process is timed
(lazy imports and tables included) and a second one.

``python -m bench.scale [--sizes 1000,10000,100000]`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

from bench.common import fresh_dir, python_child, run_child, work_dir

QUESTIONS = [
    "How does the causal encoder design in W.A.L.T influence the trade-off between FVD scores and "
    "inference throughput in photorealistic video generation?",
    "How does DoRA differ from LoRA?",
    "Which efficient attention mechanisms scale transformers to long sequences?",
    "How are human image animation models conditioned on pose?",
]
BUILD_REPEATS = 3
TARGETS = {"verify_50_claims_seconds": 2.0, "peak_rss_mb": 1536.0, "build_growth_exponent": 1.0}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase(corpus_path: str) -> dict:
    """One process: corpus -> index (built or loaded) -> queries -> 50 claims verified."""
    t0 = time.perf_counter()
    from sovereign.adapters import embeddings
    from sovereign.adapters.corpus import load_corpus
    from sovereign.adapters.local_source import LocalSearcher
    from sovereign.agents.extractor import offline_claims
    from sovereign.agents.planner import offline_queries
    from sovereign.agents.verifier import tfidf_verify
    from sovereign.evidence import verify_with_evidence
    from sovereign.graph.state import Claim

    import faiss  # noqa: F401  (the heavy libraries the index needs, imported before the clock)
    import scipy.linalg  # noqa: F401
    import scipy.sparse  # noqa: F401
    import sklearn.feature_extraction.text  # noqa: F401
    import sklearn.preprocessing  # noqa: F401

    t_import = time.perf_counter() - t0
    t = time.perf_counter()
    corpus = load_corpus(corpus_path)
    t_corpus = time.perf_counter() - t
    rss_corpus = _rss_mb()
    fits = embeddings.FITS
    t = time.perf_counter()
    searcher = LocalSearcher(corpus)
    t_index = time.perf_counter() - t
    rss_index = _rss_mb()

    queries = [q for question in QUESTIONS for q in offline_queries(question, 6)]
    searcher.search(queries[0], 8)  # first-call costs out of the latency numbers
    latencies = []
    for q in queries:
        t = time.perf_counter()
        searcher.search(q, 8)
        latencies.append(time.perf_counter() - t)

    question = QUESTIONS[0]
    papers, seen = [], set()
    for q in offline_queries(question, 4):
        for p, _ in searcher.search(q, 8):
            if p.id not in seen:
                seen.add(p.id)
                papers.append(p)
    claims: list[Claim] = []
    for p in papers:
        for text in offline_claims(p, question, 5):
            if len(claims) < 50:
                claims.append(Claim(id=f"C{len(claims) + 1}", text=text, source_id=p.id))
    verify_times = []
    for _ in range(2):
        t = time.perf_counter()
        evidence = verify_with_evidence(claims, papers, searcher.embedder)
        t_evidence = time.perf_counter() - t
        tfidf_verify(claims, papers, 0.15)
        verify_times.append((time.perf_counter() - t, t_evidence))
    return {
        "papers": len(corpus.papers),
        "index": searcher.source,
        "refitted": embeddings.FITS > fits,
        "notes": searcher.notes,
        "terms": len(searcher.embedder.terms),
        "dim": searcher.embedder.dim,
        "dtype": str(searcher.matrix.dtype),
        "svd": searcher.embedder.config.get("svd"),
        "nnz": int(searcher.matrix.nnz),
        "import_seconds": round(t_import, 3),
        "corpus_read_seconds": round(t_corpus, 3),
        "index_seconds": round(t_index, 3),
        "query_ms_median": round(1000 * statistics.median(latencies), 2),
        "query_ms_p95": round(1000 * sorted(latencies)[int(0.95 * (len(latencies) - 1))], 2),
        "queries": len(latencies),
        "verify_papers": len(papers),
        "verify_claims": len(claims),
        "verify_50_claims_seconds_first": round(verify_times[0][0], 3),
        "verify_50_claims_seconds_second": round(verify_times[1][0], 3),
        "verify_evidence_only_seconds_first": round(verify_times[0][1], 3),
        "verified_claims": sum(v.verified for v in evidence),
        "rss_mb_after_corpus": round(rss_corpus, 1),
        "rss_mb_after_index": round(rss_index, 1),
    }


def run_size(n: int, corpora: Path) -> dict:
    from bench.corpus_gen import corpus_file

    t = time.perf_counter()
    path = corpus_file(n, corpora)
    gen = time.perf_counter() - t
    out: dict = {"papers": n, "generated": max(0, n - 379), "corpus_file_mb": round(path.stat().st_size / 2**20, 1), "corpus_generate_seconds": round(gen, 2)}
    # small builds are repeated (fresh cache folder each) and the median kept: on a shared 2-core
    # machine one BLAS call can take 10x longer when another process competes for the cores
    builds = []
    for _ in range(BUILD_REPEATS if n <= 10_000 else 1):
        cache = fresh_dir(f"scale-{n}")
        child = run_child(python_child("bench.scale", "--phase", str(path)), env={"SOVEREIGN_CACHE_DIR": str(cache)}, timeout=900)
        result = child.json_tail()
        result.update({"process_wall_seconds": round(child.wall_seconds, 3), "peak_rss_mb": round(child.peak_rss_mb, 1)})
        builds.append((result, cache))
    order = sorted(range(len(builds)), key=lambda i: builds[i][0]["index_seconds"])
    median = order[len(order) // 2]
    out["build"] = builds[median][0]
    out["build_samples_seconds"] = [b[0]["index_seconds"] for b in builds]
    for i, (_, folder) in enumerate(builds):
        if i != median:
            shutil.rmtree(folder, ignore_errors=True)
    cache = builds[median][1]
    child = run_child(python_child("bench.scale", "--phase", str(path)), env={"SOVEREIGN_CACHE_DIR": str(cache)}, timeout=900)
    result = child.json_tail()
    result.update({"process_wall_seconds": round(child.wall_seconds, 3), "peak_rss_mb": round(child.peak_rss_mb, 1)})
    out["load"] = result
    index_dir = cache / "local-index"
    out["index_on_disk_mb"] = round(sum(f.stat().st_size for f in index_dir.rglob("*") if f.is_file()) / 2**20, 1) if index_dir.exists() else None
    shutil.rmtree(cache, ignore_errors=True)
    return out


def growth(results: list[dict]) -> list[dict]:
    """Build-time growth: exponent b of t ~ n^b (1 = linear) between consecutive sizes and from
    the smallest to the largest. The index build is the LocalSearcher construction (TF-IDF fit,
    SVD, FAISS, names, save), without reading the corpus."""
    out = []
    pairs = list(zip(results, results[1:]))
    if len(results) > 2:
        pairs.append((results[0], results[-1]))
    for a, b in pairs:
        ta, tb = a["build"]["index_seconds"], b["build"]["index_seconds"]
        exp = math.log(tb / ta) / math.log(b["papers"] / a["papers"]) if ta > 0 and tb > 0 else None
        out.append({
            "from": a["papers"], "to": b["papers"], "build_seconds": [ta, tb],
            "svd": [a["build"].get("svd"), b["build"].get("svd")],
            "exponent": round(exp, 3) if exp is not None else None,
            "ms_per_paper": [round(1000 * ta / a["papers"], 3), round(1000 * tb / b["papers"], 3)],
        })
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--phase", metavar="CORPUS", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        print(json.dumps(phase(args.phase)))
        return 0
    corpora = work_dir() / "corpora"
    results = [run_size(int(n), corpora) for n in args.sizes.split(",") if n.strip()]
    print(json.dumps({"sizes": results, "build_growth": growth(results), "targets": TARGETS}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
