"""notebooks/quickstart.ipynb runs top to bottom on the venv's own Python (offline default).

The kernel is pinned to ``sys.executable`` through a kernelspec written into a temporary folder,
so a user- or system-wide ``python3`` kernelspec cannot swap in another interpreter. NIM variables
are already removed from the environment by conftest's autouse fixture; the kernel inherits that.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import REPO

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402

NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"
KERNEL_NAME = "sovereign-venv"
PROBE = "import sys; print('KERNEL-EXECUTABLE=' + sys.executable)"


def venv_kernel(tmp_path: Path) -> KernelManager:
    spec_dir = tmp_path / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Sovereign venv",
                "language": "python",
            }
        )
    )
    ksm = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    return KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm)


def outputs(nb, key: str) -> list[str]:
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if key == "stream" and out.get("output_type") == "stream":
                found.append(out.get("text", ""))
            elif key in out.get("data", {}):
                found.append(out["data"][key])
    return found


def test_committed_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert any("from sovereign import run_research" in c.source for c in code)


def test_quickstart_notebook_executes_top_to_bottom(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))  # only in this in-memory copy
    workdir = tmp_path / "run"
    workdir.mkdir()
    client = nbclient.NotebookClient(
        nb,
        km=venv_kernel(tmp_path),
        timeout=300,
        startup_timeout=120,
        allow_errors=False,  # any cell error raises CellExecutionError
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()

    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors

    streams = "".join(outputs(nb, "stream"))
    assert f"KERNEL-EXECUTABLE={sys.executable}" in streams
    assert "primary paper: 2312.06662" in streams

    markdown = outputs(nb, "text/markdown")
    assert any(m.startswith("# ") and "\n## " in m and "2312.06662" in m for m in markdown), markdown[:1]
    assert outputs(nb, "image/png"), "the confidence plot produced no image"
    assert not list(workdir.iterdir()), "the notebook wrote files into its working directory"
