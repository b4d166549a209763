"""Write the Colab setup cell (first cell, hidden) of every notebook from the URL in _config.yml.

The repository URL lives in one place, _config.yml; this script copies it into the notebooks and
tests/test_book_structure.py checks that they agree. Run after changing the URL or adding a chapter.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent


def setup_source(url: str) -> str:
    """The first cell: plain Python (no magics), run as is in Colab and in a fresh Jupyter.

    It installs, where missing, attn_edu (from ``url``, or from ``$ATTN_EDU_PIP_SPEC``, e.g.
    ``git+file:///path/to/clone`` in tests/test_fresh_env.py) and the libraries the chapters import
    (plus nbformat, which plotly needs to show a figure in a notebook), unpinned so that Colab keeps
    its own versions. torch is never installed or replaced: it must be there already (Colab has it;
    elsewhere the cell stops and says how to get the CPU build), and pip gets the installed version
    as a pin, so no dependency can pull another torch.
    """
    return f"""\
# Colab or a fresh Jupyter: install attn_edu and the libraries the chapters import, where missing (never torch).
import importlib.metadata, importlib.util, os, subprocess, sys
if importlib.util.find_spec("torch") is None:
    raise ModuleNotFoundError("This book needs PyTorch; Colab has it. Elsewhere install the CPU build, then rerun this cell:\\n"
                              "    pip install torch --index-url https://download.pytorch.org/whl/cpu")
spec = os.environ.get("ATTN_EDU_PIP_SPEC", "git+{url}.git")  # where attn_edu comes from
packages = {{"attn_edu": spec, "numpy": "numpy", "einops": "einops", "matplotlib": "matplotlib", "plotly": "plotly",
            "nbformat": "nbformat", "ipywidgets": "ipywidgets", "skimage": "scikit-image", "PIL": "pillow"}}  # module: pip name
missing = [name for module, name in packages.items() if importlib.util.find_spec(module) is None]
if missing:  # torch pinned to the installed version: pip may not replace it
    pin = f"torch=={{importlib.metadata.version('torch')}}"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", pin, *missing], check=True)
    importlib.invalidate_caches()"""


def repository_url() -> str:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")


def main() -> int:
    source = setup_source(repository_url())
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        first = nb.cells[0] if nb.cells else None
        if first is not None and "remove-cell" in first.metadata.get("tags", []) and "Colab" in first.source:
            if first.source == source:
                continue
            first.source = source
        else:
            cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["remove-cell"]})
            nb.cells.insert(0, cell)
        nbformat.write(nb, path)
        print(f"updated {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
