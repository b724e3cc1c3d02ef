"""Writing a report to disk: report.md, report.json and references.bib — all or none (atomic renames)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from sovereign.graph.state import Report

REPORT_FILES = ("report.md", "report.json", "references.bib")


class OutputError(Exception):
    """The output folder cannot take the report (not a folder, read-only, disk full...)."""


def _writable(folder: Path) -> bool:
    """Whether a file can really be created in ``folder``. ``os.access`` alone is not enough: it
    says yes to root on a read-only bind mount's parent, on /sys or /proc; so a probe file is
    created and removed at once."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        fd, probe = tempfile.mkstemp(prefix=".sovereign-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:
        pass
    return True


def check_output_dir(path: str) -> Path:
    """Validate an output folder before any work: it may not exist yet, but must not be a file (nor
    lie inside one), and a report must be creatable in it (or in its nearest existing parent)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"output path is a file, not a folder: {path}")
    parent = next((a for a in [p, *p.parents] if a.exists()), None)
    if parent is not None and not parent.is_dir():
        raise OutputError(f"output path lies inside a file: {parent}")
    if parent is not None and not _writable(parent):
        raise OutputError(f"output folder is not writable: {parent}")
    return p


def write_report(report: Report, out_dir: str) -> dict[str, str]:
    """Write report.md, report.json and references.bib into ``out_dir``; returns their paths."""
    from sovereign.bibtex import to_bibtex

    target = check_output_dir(out_dir)
    payloads = {
        "report.md": report.markdown,
        "report.json": json.dumps(report.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n",
        "references.bib": to_bibtex(report),
    }
    temps: dict[str, str] = {}
    created = [a for a in [target, *target.parents] if not a.exists()]
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name, text in payloads.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=target)
            temps[name] = tmp
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
        for name, tmp in temps.items():
            os.replace(tmp, target / name)
    except OSError as exc:
        for tmp in temps.values():
            try:
                os.unlink(tmp)
            except OSError:
                pass
        for folder in created:  # folders this call made (deepest first), if still empty
            try:
                folder.rmdir()
            except OSError:
                break
        raise OutputError(f"cannot write the report to {target}: {exc.strerror or exc}") from exc
    return {name: str(target / name) for name in payloads}
