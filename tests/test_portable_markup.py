"""What a Jupyter, Notebook 7 or Colab reader opens carries no MyST-only markup.

The site is built from the same stored notebooks, so one source serves every front-end: the
results prose is Markdown emitted by ``attn_edu.book.prose`` cells, citations are author-year links
with a reference list written from references.bib (``scripts/sync_references.py``), equations carry
their numbers with ``\\tag{}``, boxes are block quotes (the site styles them as admonitions).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest
from _raw_myst import find_raw_myst

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
_spec = importlib.util.spec_from_file_location("sync_references", ROOT / "scripts" / "sync_references.py")
refs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(refs)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_raw_myst_in_what_a_reader_opens(path):
    nb = nbformat.read(path, as_version=4)
    found = [f for where, text in refs.reader_parts(nb) for f in find_raw_myst(text, where)]
    assert not found, "MyST-only markup that Jupyter and Colab show raw:\n" + "\n".join(found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_prose_cells_are_rendered_and_hidden(path):
    nb = nbformat.read(path, as_version=4)
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and c.source.startswith("prose("):
            assert "remove-input" in c.metadata.get("tags", []), f"cell {i}: tag remove-input (the site shows the text only)"
            assert c.metadata.get("jupyter", {}).get("source_hidden"), f"cell {i}: jupyter.source_hidden (JupyterLab too)"
            assert any("text/markdown" in o.get("data", {}) for o in c.get("outputs", [])), f"cell {i}: stored without its text"


BIB = refs.load_bib()
BY_URL = {e["url"]: k for k, e in BIB.items()}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_citations_match_the_bibliography(path):
    nb = nbformat.read(path, as_version=4)
    text = refs.notebook_text(nb)
    for label, url in re.findall(r"\[([^\]]+)\]\((https://arxiv\.org/[^)\s]+)\)", text):
        assert url in BY_URL, f"{url} is not in references.bib"
        key = BY_URL[url]
        if re.search(r", \d{4}$", label):  # an author-year citation, not a title in the list
            assert label == refs.author_year(BIB[key]), f"cite {key} as [{refs.author_year(BIB[key])}]"
    assert refs.sync(path, BIB, check=True), "reference list out of date: run scripts/sync_references.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_widget_state_is_stored(path):
    """An untrusted notebook would show a stored widget as its text repr (``interactive(children=...``)."""
    nb = nbformat.read(path, as_version=4)
    assert "widgets" not in nb.metadata, "widget state stored: scripts/store_notebooks.py strips it"
    for i, c in enumerate(nb.cells):
        for o in c.get("outputs", []):
            assert "application/vnd.jupyter.widget-view+json" not in o.get("data", {}), f"cell {i}: a stored widget"
