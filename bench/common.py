"""Shared helpers of the benchmarks: machine info, child processes with their own peak RSS, result
files and the summary table. Standard library only (the table uses rich when it is installed)."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PACKAGES = ("langgraph", "langchain-core", "langchain-nvidia-ai-endpoints", "faiss-cpu", "scikit-learn", "scipy", "numpy", "pydantic")


def work_dir() -> Path:
    """Scratch space of the benchmarks (generated corpora, caches): never inside the repository."""
    base = os.environ.get("SOVEREIGN_BENCH_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "sovereign-bench"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def fresh_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=work_dir()))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _git() -> dict:
    def run(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": run("rev-parse", "HEAD"), "dirty": bool(run("status", "--porcelain", "--untracked-files=no"))}


def machine_info() -> dict:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    def _bytecode() -> str:
        # `make install` compiles the installed packages' and the project's .pyc files; Python reads
        # them even when PYTHONDONTWRITEBYTECODE forbids writing new ones
        import importlib.util

        spec = importlib.util.find_spec("langgraph.graph.state")
        compiled = bool(spec and spec.origin and os.path.exists(importlib.util.cache_from_source(spec.origin)))
        writes = "not written (PYTHONDONTWRITEBYTECODE)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "written"
        return f"installed .pyc {'present' if compiled else 'absent'}; new .pyc {writes}"

    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "cpu_model": _cpu_model(),
        "ram_gb": _ram_gb(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": versions,
        "bytecode_cache": _bytecode(),
        "git": _git(),
    }


@dataclass
class ChildResult:
    returncode: int
    wall_seconds: float
    peak_rss_mb: float
    cpu_seconds: float
    stdout: str
    stderr: str
    command: list[str]

    def json_tail(self) -> dict:
        """The last stdout line that is a JSON object (how benchmark children report)."""
        for line in reversed(self.stdout.strip().splitlines()):
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(
            f"{shlex.join(self.command)} printed no result (exit {self.returncode}): {self.stderr.strip()[-600:]}"
        )


def run_child(cmd: list[str], env: dict[str, str | None] | None = None, timeout: float = 600, cwd: Path | None = None) -> ChildResult:
    """Run one process and measure it alone: wall time and its own peak RSS (``os.wait4``).
    ``env`` overrides the environment; a value of ``None`` removes the variable."""
    full_env = {k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=full_env, cwd=cwd or REPO, text=True)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        # ru_maxrss is in KiB on Linux
        return ChildResult(proc.returncode, wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, out.read(), err.read(), list(cmd))


def load_average() -> list[float] | None:
    """/proc/loadavg (1, 5, 15 min): other work on the machine inflates wall times."""
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return None


def python_child(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def write_result(name: str, payload: dict, command: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": name,
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine_info(),
        **payload,
    }
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def check(value: float | None, limit: float, op: str = "<=") -> bool | None:
    if value is None:
        return None
    return value <= limit if op == "<=" else value >= limit


def print_table(rows: list[tuple[str, str, str, str, str]], title: str) -> None:
    """rows: (benchmark, metric, value, target, verdict)."""
    header = ("benchmark", "metric", "value", "target", "")
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for h in header:
            table.add_column(h, overflow="fold")
        for r in rows:
            style = {"PASS": "green", "FAIL": "red"}.get(r[4])
            table.add_row(*r, style=style)
        Console(width=max(100, min(160, os.get_terminal_size().columns if sys.stdout.isatty() else 140))).print(table)
    except Exception:  # plain fallback
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
        print(title)
        for r in [header, *rows]:
            print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "FAIL")
