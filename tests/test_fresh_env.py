"""The chapters in a Colab-like fresh environment: only a kernel and torch, then the setup cell.

A venv outside the repository (under pytest's tmp dir) gets `torch==<requirements.txt's pin>` (the
project's own install, linked in) and ipykernel (likewise), nothing else. A kernel in it runs the first cell of the chapters (from
`scripts/sync_setup_cells.py`, which tests/test_book_structure.py checks the notebooks hold) with
ATTN_EDU_PIP_SPEC=git+file://<a clone of HEAD>: it must install attn_edu (with its shipped
weights) and every library the chapters import, and leave torch as it was. Then chapters run in
that kernel from a folder outside the repository. A second venv without torch checks that the
cell stops at once with the message saying how to install it.

What is tested is the committed tree (HEAD), package and notebooks alike, as in CI's clean clone;
only the setup cell comes from the working tree. Each copied notebook's first cell is replaced by
it, so the test also runs before scripts/sync_setup_cells.py has been run on the notebooks.

Chapters: ATTN_EDU_FRESH_CHAPTERS, comma-separated, or `all` (default: intro,se, two quick ones).
Needs `python -m venv` with ensurepip, git, and the package index; locally it skips without a
venv or git, with CI set it fails instead. Marker: fresh_env (`-m "not fresh_env"` leaves it out).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("sync_setup_cells", ROOT / "scripts" / "sync_setup_cells.py")
sync = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sync)
_spec = importlib.util.spec_from_file_location("store_notebooks", ROOT / "scripts" / "store_notebooks.py")
store_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(store_notebooks)

SETUP = sync.setup_source(sync.repository_url())
TORCH = re.search(r"^torch==\S+", (ROOT / "requirements.txt").read_text(), re.M).group()
KERNEL = "attn-edu-fresh"
_wanted = os.environ.get("ATTN_EDU_FRESH_CHAPTERS", "intro,se")
CHAPTERS = (sorted(p.stem for p in (ROOT / "book").glob("*.ipynb")) if _wanted.strip() == "all"
            else [c.strip() for c in _wanted.split(",") if c.strip()])
# Every module the chapters import that is not in the standard library (IPython comes with ipykernel).
MODULES = ["attn_edu", "torch", "numpy", "einops", "matplotlib", "plotly", "nbformat", "ipywidgets", "skimage", "PIL"]
TIMES: dict[str, float] = {}

pytestmark = [pytest.mark.fresh_env, pytest.mark.timeout(900)]


def _cannot(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"fresh-environment check cannot run in CI: {reason}")
    pytest.skip(reason)


def _run(cmd: list, env: dict, what: str) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True)
    assert r.returncode == 0, f"{what} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def _venv(path: Path, with_pip: bool = True) -> Path:
    r = subprocess.run([sys.executable, "-m", "venv", *([] if with_pip else ["--without-pip"]), str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        _cannot(f"cannot create a venv ({sys.executable} -m venv): {r.stderr.strip()[-300:]}")
    return path / "bin" / "python"


def _clean_env(**extra: str) -> dict:
    """os.environ without the project's venv or any path to the repository."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and not Path(p).resolve().is_relative_to(ROOT))
    # PIP_NO_COMPILE: pip skips writing .pyc files for the thousands of modules it installs (torch,
    # scipy...), which is most of an install's time here; Python compiles what it imports.
    return {**env, "PYTHONNOUSERSITE": "1", "PIP_NO_COMPILE": "1", **extra}


def _committed_note() -> str:
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "attn_edu", "book", "pyproject.toml"],
                           capture_output=True, text=True).stdout.strip()
    return "\n(this tests HEAD; uncommitted changes are not in it:\n" + dirty + ")" if dirty else ""


@pytest.fixture(scope="module", autouse=True)
def _report_times(request):
    yield
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if TIMES and tr and capture:
        with capture.global_and_fixture_disabled():
            tr.write_line("\nfresh_env times: " + "; ".join(f"{k} {v:.1f} s" for k, v in TIMES.items()))


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    path = tmp_path_factory.mktemp("fresh_env")
    yield path
    shutil.rmtree(path, ignore_errors=True)   # two venvs, about 1 GB: pytest would keep three runs of them


@pytest.fixture(scope="module")
def clone(work) -> Path:
    if shutil.which("git") is None:
        _cannot("git is not installed (pip needs it for git+file://)")
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True).returncode != 0:
        _cannot(f"{ROOT} is not a git repository with a commit")
    subprocess.run(["git", "clone", "-q", str(ROOT), str(work / "repo")], check=True)
    return work / "repo"


def _closure(*roots: str) -> list:
    """These distributions and those they require, as installed in this (the project's) environment."""
    from importlib.metadata import distribution
    from packaging.requirements import Requirement

    found: dict = {}
    todo = list(roots)
    while todo:
        dist = distribution(todo.pop())
        key = dist.metadata["Name"].lower().replace("-", "_")
        if key in found:
            continue
        found[key] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(found.values())


def _link_installed(dists: list, python: Path) -> None:
    """Put these installed distributions into the venv of ``python`` as pip would have unpacked them:
    every file of each one's RECORD, hard-linked (copied across file systems). A different version
    the venv came with (its setuptools) is uninstalled first, as pip would have upgraded it."""
    env = _clean_env()
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env,
                     "venv site-packages").stdout.strip())
    have = {p.name.rsplit("-", 1)[0].lower(): p.name.rsplit("-", 1)[1].removesuffix(".dist-info")
            for p in site.glob("*.dist-info")}
    names = {d.metadata["Name"].lower().replace("-", "_"): d for d in dists}
    stale = [n for n, d in names.items() if n in have and have[n] != d.version]
    if stale:
        _run([python, "-m", "pip", "uninstall", "-y", "-q", *stale], env, f"pip uninstall {stale}")
    for name, dist in names.items():
        if have.get(name) == dist.version:
            continue
        for f in dist.files or []:
            if ".." in f.parts:  # console scripts: their shebang names the project's python
                continue
            src, dst = Path(dist.locate_file(f)), site / f
            if not src.is_file():
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)


@pytest.fixture(scope="module")
def fresh(work, clone) -> dict:
    """A venv with torch and ipykernel only, and a kernelspec pointing at it.

    Both come from the project's venv, their files hard-linked in: what ``pip install`` would
    unpack from the same wheels, in seconds rather than a minute. The setup cell's own pip run is
    what the test is about, and it runs for real.
    """
    import torch

    if torch.__version__.split("+")[0] != TORCH.split("==")[1]:
        pytest.fail(f"the project's venv has torch {torch.__version__}, requirements.txt pins {TORCH}")
    t = time.perf_counter()
    python = _venv(work / "venv")
    env = _clean_env(ATTN_EDU_PIP_SPEC=f"git+file://{clone}")
    _link_installed(_closure("torch", "ipykernel"), python)
    _run([python, "-m", "pip", "check"], env, "pip check (torch's and ipykernel's files linked in)")
    TIMES["fresh venv + torch + ipykernel"] = time.perf_counter() - t
    spec = work / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fresh venv", "language": "python"}))
    return {"python": python, "env": env, "kernels": work / "kernels", "prefix": work / "venv"}


def _execute(nb: nbformat.NotebookNode, fresh: dict, cwd: Path) -> nbformat.NotebookNode:
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(fresh["kernels"])]))
    client = store_notebooks.SlicedReplyClient(nb, km=km, timeout=300, startup_timeout=120, resources={"metadata": {"path": str(cwd)}})
    return client.execute(env=fresh["env"])


def _torch_record(prefix: Path) -> tuple:
    records = sorted(prefix.glob("lib/python*/site-packages/torch-*.dist-info/RECORD"))
    assert len(records) == 1, records
    st = records[0].stat()
    return records[0].name, records[0].parent.name, st.st_ino, st.st_mtime_ns


@pytest.fixture(scope="module")
def installed(fresh, work) -> dict:
    """Run the setup cell in a kernel of the fresh venv, then report where everything comes from."""
    torch_before = _torch_record(fresh["prefix"])
    check = ("import json, os, sys\n" + "".join(f"import {m}\n" for m in MODULES) +
             "from attn_edu.lab import store\n"
             "print(json.dumps({'cwd': os.getcwd(), 'prefix': sys.prefix, 'torch': torch.__version__,\n"
             "                  'weights': sorted(p.relative_to(store.WEIGHTS_DIR).as_posix() for p in store.WEIGHTS_DIR.rglob('*') if p.is_file()),\n"
             f"                  'files': {{m: sys.modules[m].__file__ for m in {MODULES!r}}}}}))")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(check)])
    (work / "setup").mkdir()
    t = time.perf_counter()
    nb = _execute(nb, fresh, work / "setup")
    TIMES["setup cell (pip: attn_edu from git+file and the chapters' libraries)"] = time.perf_counter() - t
    text = "".join(o.get("text", "") for o in nb.cells[1].outputs if o.output_type == "stream")
    return {**json.loads(text.strip().splitlines()[-1]), "torch_before": torch_before,
            "torch_after": _torch_record(fresh["prefix"])}


def test_setup_cell_without_torch_says_how_to_install_it(work):
    python = _venv(work / "no-torch", with_pip=False)   # no pip either: the cell must stop before any install
    r = subprocess.run([str(python), "-c", SETUP], env=_clean_env(), capture_output=True, text=True)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "ModuleNotFoundError: This book needs PyTorch; Colab has it." in r.stderr, r.stderr
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in r.stderr, r.stderr
    assert "No module named pip" not in r.stderr


def test_setup_cell_installs_what_the_chapters_import_and_keeps_torch(installed, fresh, clone):
    prefix = str(fresh["prefix"].resolve())
    outside = {m: f for m, f in installed["files"].items() if not str(Path(f).resolve()).startswith(prefix)}
    assert not outside, f"imported from outside the fresh venv: {outside}"
    assert Path(installed["prefix"]).resolve() == fresh["prefix"].resolve()
    assert installed["torch"].split("+")[0] == TORCH.split("==")[1]
    assert installed["torch_after"] == installed["torch_before"], "pip reinstalled torch"
    shipped = subprocess.run(["git", "-C", str(clone), "ls-files", "attn_edu/lab/weights"], capture_output=True,
                             text=True, check=True).stdout.split()
    assert installed["weights"] == sorted(Path(p).relative_to("attn_edu/lab/weights").as_posix() for p in shipped), \
        "package-data lost shipped weights"


def test_setup_cell_does_nothing_once_everything_is_there(installed, fresh):
    # subprocess.run = None: any pip call would raise TypeError.
    t = time.perf_counter()
    _run([fresh["python"], "-c", "import subprocess\nsubprocess.run = None\n" + SETUP], fresh["env"], "setup cell, again")
    TIMES["setup cell, again (nothing to do)"] = time.perf_counter() - t


@pytest.fixture(scope="module")
def book_copy(work, clone) -> Path:
    """HEAD's notebooks in a folder outside the repository, first cell = the setup cell."""
    folder = work / "book"
    folder.mkdir()
    for src in sorted((clone / "book").glob("*.ipynb")):
        nb = nbformat.read(src, as_version=4)
        first = nb.cells[0]
        assert "remove-cell" in first.metadata.get("tags", []) and "Colab" in first.source, f"{src.name}: no setup cell"
        first.source = SETUP
        nbformat.write(nb, folder / src.name)
    return folder


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_in_the_fresh_kernel(chapter, installed, fresh, book_copy):
    from nbclient.exceptions import CellExecutionError

    path = book_copy / f"{chapter}.ipynb"
    assert path.exists(), f"no book/{chapter}.ipynb at HEAD{_committed_note()}"
    t = time.perf_counter()
    try:
        _execute(nbformat.read(path, as_version=4), fresh, book_copy)
    except CellExecutionError as e:
        pytest.fail(f"{chapter}: {str(e)[-4000:]}{_committed_note()}", pytrace=False)
    TIMES[f"chapter {chapter}"] = time.perf_counter() - t
