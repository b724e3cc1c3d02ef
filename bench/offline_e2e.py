"""Offline end to end: ``sovereign research`` on the bundled corpus in a new process, and
``sovereign --help``.

* ``first_run``: a fresh cache folder, so the local index is built and saved (the first run after
  install);
* ``later_run``: the same cache folder, so the local index is loaded (every later run);
* each measured as wall time and peak RSS of the process (``os.wait4``);
* ``help``: ``sovereign --help``, the median of 5 new processes.

Python's bytecode cache matters for a new process: with ``PYTHONDONTWRITEBYTECODE`` set (as in
some sandboxes) a module without a compiled ``.pyc`` is compiled from source on every import.
``make install`` compiles the installed packages (``uv pip sync --compile-bytecode``) and the
project (``compileall``). The runs are measured as the environment is, and again with a bytecode
cache in a private folder (``PYTHONPYCACHEPREFIX``, warmed by one run): equal times mean the
install's bytecode is complete.

``python -m bench.offline_e2e`` prints one JSON object.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
from pathlib import Path

from bench.common import fresh_dir, run_child, work_dir

DEMO_QUESTION = (
    "How does the causal encoder design in W.A.L.T influence the trade-off between FVD scores and "
    "inference throughput in photorealistic video generation?"
)
TARGET_WALL = 10.0
TARGET_HELP = 1.0


def sovereign_exe() -> str:
    return str(Path(sys.executable).with_name("sovereign"))


def research(cache: Path, out: Path, env: dict) -> dict:
    env = {**env, "SOVEREIGN_CACHE_DIR": str(cache)}
    for var in ("NVIDIA_API_KEY", "NVIDIA_BASE_URL"):
        env[var] = None  # unset: the offline provider, whatever the caller exported
    child = run_child([sovereign_exe(), "research", DEMO_QUESTION, "--provider", "offline", "--out", str(out), "--quiet"], env=env)
    ok = child.returncode == 0 and (out / "report.json").exists()
    return {
        "exit_code": child.returncode,
        "ok": ok,
        "wall_seconds": round(child.wall_seconds, 3),
        "peak_rss_mb": round(child.peak_rss_mb, 1),
        "cpu_seconds": round(child.cpu_seconds, 3),
        **({} if ok else {"stderr_tail": child.stderr.strip()[-400:]}),
    }


def helps(env: dict, n: int = 5) -> dict:
    walls = []
    for _ in range(n):
        child = run_child([sovereign_exe(), "--help"], env=env)
        walls.append(child.wall_seconds)
    return {"median_seconds": round(statistics.median(walls), 3), "max_seconds": round(max(walls), 3), "runs": n}


def variant(env: dict) -> dict:
    cache = fresh_dir("e2e-cache")
    first = research(cache, cache / "out1", env)
    later = research(cache, cache / "out2", env)
    shutil.rmtree(cache, ignore_errors=True)
    return {"first_run": first, "later_run": later, "help": helps(env)}


def main() -> int:
    env = dict(os.environ)
    as_is = variant(env)
    pycache = work_dir() / "pycache"
    env_bc = {**env, "PYTHONPYCACHEPREFIX": str(pycache), "PYTHONDONTWRITEBYTECODE": None}
    warmup = fresh_dir("e2e-warmup")
    research(warmup, warmup / "out", env_bc)  # fills the bytecode cache
    shutil.rmtree(warmup, ignore_errors=True)
    compiled = variant(env_bc)
    result = {
        "question": DEMO_QUESTION,
        "bytecode_cache_in_environment": not bool(os.environ.get("PYTHONDONTWRITEBYTECODE")),
        "as_environment": as_is,
        "with_bytecode_cache": compiled,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
