"""Every chapter follows book/TEMPLATE.md; every notebook is stored executed with the Colab cell.

The rules checked here are the ones marked (checked) in book/TEMPLATE.md.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from attn_edu.registry import MECHANISMS

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("sync_setup_cells", ROOT / "scripts" / "sync_setup_cells.py")
sync = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sync)


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part["chapters"]]
    return files


STORED = sorted(p.relative_to(ROOT).with_suffix("").as_posix() for p in (ROOT / "book").glob("*.ipynb"))
NOTEBOOKS = sorted(set(STORED) | {f for f in toc_files() if (ROOT / f"{f}.ipynb").exists()})
# Mechanism chapters follow the template (checked as soon as the notebook exists, before it is
# listed in the toc); other pages (intro, comparison, cost, statistics) need not.
CHAPTERS = [m.chapter for m in MECHANISMS.values() if m.chapter in NOTEBOOKS]
HEADINGS = ["## Learning objectives", "## The paper", "## Implementation, step by step", "## On real photographs",
            "## A claim of the paper, checked", "## What it costs", "## Faithfulness", "## Exercises", "## Summary",
            "## References"]


def load(f: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / f"{f}.ipynb", as_version=4)


def markdown(nb) -> str:
    """The chapter's prose: its Markdown cells and the templates of its prose cells."""
    return "\n".join(c.source for c in nb.cells
                     if c.cell_type == "markdown" or (c.cell_type == "code" and c.source.startswith("prose(")))


def tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


def test_toc_lists_only_existing_pages():
    for f in toc_files():
        assert (ROOT / f"{f}.ipynb").exists() or (ROOT / f"{f}.md").exists(), f


def test_every_notebook_is_in_the_toc():
    assert set(STORED) <= set(toc_files()), f"not in _toc.yml: {sorted(set(STORED) - set(toc_files()))}"


@pytest.mark.parametrize("f", NOTEBOOKS)
def test_first_cell_installs_attn_edu_from_the_configured_repository(f):
    first = load(f).cells[0]
    assert "remove-cell" in tags(first)
    assert first.source == sync.setup_source(sync.repository_url()), "run scripts/sync_setup_cells.py"


@pytest.mark.parametrize("f", NOTEBOOKS)
def test_notebook_is_stored_executed(f):
    code = [c for c in load(f).cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "store it executed: make store-notebooks"


@pytest.mark.parametrize("f", CHAPTERS)
def test_chapter_has_the_template_parts_in_order(f):
    text = markdown(load(f))
    assert re.search(r"^# \S", text, re.M), "a title"
    positions = [text.find(h + "\n") for h in HEADINGS]
    missing = [h for h, p in zip(HEADINGS, positions) if p < 0]
    assert not missing, f"missing headings {missing}"
    assert positions == sorted(positions), "the template's parts are out of order"


@pytest.mark.parametrize("f", CHAPTERS)
def test_equations_are_numbered_referenced_and_mapped_to_code(f):
    nb = load(f)
    text = markdown(nb)
    tags = re.findall(r"\\tag\{([^}]+)\}", text)
    assert tags, "at least one numbered equation: $$ ... \\tag{n} $$"
    assert len(tags) == len(set(tags)), f"an equation number is used twice: {tags}"
    unreferenced = [t for t in tags if f"({t})" not in text.replace(f"\\tag{{{t}}}", "")]
    assert not unreferenced, f"equations never referenced as (n) in the text: {unreferenced}"
    assert any("show_code_for_equations(" in c.source for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("f", CHAPTERS)
def test_real_photographs_shown_interactively(f):
    nb = load(f)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    # a real photograph: attn_edu.images.load_photo, or the lab's photo of each class / of its object
    assert any(f"{loader}(" in code for loader in ("load_photo", "class_photos", "object_photo")), "a real photograph"
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs), "an interactive plotly figure"
    for c in nb.cells:
        if c.cell_type == "code" and "widgets.interact" in c.source:
            assert {"remove-output", "nbval-ignore-output"} <= set(tags(c)), "widget cells need a live kernel"


@pytest.mark.parametrize("f", NOTEBOOKS)
def test_every_figure_has_alt_text(f):
    # issue #15: myst-nb puts cell metadata mystnb.image.alt on the <img> of the cell's image outputs;
    # without it the site's alt is the image's file path
    missing, bad = [], []
    for i, c in enumerate(load(f).cells):
        if c.cell_type != "code" or not any({"image/png", "image/jpeg"} & set(o.get("data", {}))
                                            for o in c.get("outputs", [])):
            continue
        alt = c.metadata.get("mystnb", {}).get("image", {}).get("alt")
        if not isinstance(alt, str):
            missing.append(i)
        elif len(alt.strip()) < 20 or alt.strip().lower().endswith((".png", ".jpg", ".jpeg")) or "/" in alt:
            bad.append((i, alt))
    assert not missing, f"code cells {missing} show a figure without cell metadata mystnb.image.alt"
    assert not bad, f"alt text should say what the figure shows, not be short or a file name: {bad}"


@pytest.mark.parametrize("f", CHAPTERS)
def test_faithfulness_box(f):
    assert "\n> **Faithfulness**\n" in "\n" + markdown(load(f)) + "\n"


@pytest.mark.parametrize("f", CHAPTERS)
def test_exercises_with_a_checked_hidden_solution(f):
    nb = load(f)
    assert len(re.findall(r"^### Exercise", markdown(nb), re.M)) >= 3
    checked = 0
    for prev, cell in zip(nb.cells, nb.cells[1:]):
        if cell.cell_type == "code" and "exercise-check" in tags(cell):
            assert "assert" in cell.source
            assert prev.cell_type == "code" and {"solution", "hide-input"} <= set(tags(prev)), \
                "a check follows its solution cell, tagged solution + hide-input"
            checked += 1
    assert checked >= 1


@pytest.mark.parametrize("f", NOTEBOOKS)
def test_references_come_from_the_bibliography(f):
    text = markdown(load(f))
    # tests/test_portable_markup.py checks each citation against references.bib
    if f in CHAPTERS:
        assert re.search(r"\(\[[^\]]+, \d{4}\]\(https://", text), "cite the paper: ([Author et al., Year](url))"
        assert re.search(r"^## References\n\n- ", text, re.M), "a reference list (scripts/sync_references.py)"


@pytest.mark.parametrize("f", CHAPTERS)
def test_built_page_stays_under_2_mb(f):
    page = ROOT / "_build" / "html" / f"{f}.html"
    if not page.exists():
        pytest.skip("book not built")
    assert page.stat().st_size <= 2 * 1024 * 1024


@pytest.mark.parametrize("f", CHAPTERS)
def test_built_page_draws_the_faithfulness_box_as_an_admonition(f):
    page = ROOT / "_build" / "html" / f"{f}.html"
    if not page.exists():
        pytest.skip("book not built")
    html = page.read_text(encoding="utf-8")
    assert re.search(r'<div class="admonition note">\s*<p class="admonition-title">Faithfulness</p>', html), \
        "the '> **Faithfulness**' block quote should be an admonition on the site (attn_edu.sphinxext)"
