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
    return (
        "# Colab or a fresh Jupyter: install this book's package, attn_edu, if it is missing.\n"
        "import importlib.util, subprocess, sys\n"
        "if importlib.util.find_spec(\"attn_edu\") is None:\n"
        f"    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", \"--no-deps\", \"einops\", \"git+{url}.git\"], check=True)"
    )


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
