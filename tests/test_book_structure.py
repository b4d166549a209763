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
    # (lab.channel_examples runs a channel-gate model on the class photos too)
    loaders = ("load_photo", "class_photos", "object_photo", "channel_examples")
    assert any(f"{loader}(" in code for loader in loaders), "a real photograph"
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


MAX_FIGURE_PX = 900
"""The widest stored figure: the site's text column is 757 px wide in a 1366 px window (790 px at
1920), so a figure up to 900 px is shown at 0.84 of its size or more, and 9-point text at
matplotlib's 100 dpi stays above 10 px. Wider figures were shrunk to 0.55 and their titles and
colour-bar ticks to about 5 px. Keep ``figsize`` at most 9 inches wide."""


@pytest.mark.parametrize("f", NOTEBOOKS)
def test_figures_fit_the_column(f):
    import base64
    import io

    from PIL import Image

    wide = []
    for i, c in enumerate(load(f).cells):
        for o in c.get("outputs", []) if c.cell_type == "code" else []:
            for mime in ("image/png", "image/jpeg"):
                if mime in o.get("data", {}):
                    width = Image.open(io.BytesIO(base64.b64decode(o["data"][mime]))).size[0]
                    if width > MAX_FIGURE_PX:
                        wide.append((i, width))
    assert not wide, f"figures wider than {MAX_FIGURE_PX} px (cell, px): {wide}; make figsize at most 9 inches wide"


@pytest.mark.parametrize("f", CHAPTERS)
def test_faithfulness_box(f):
    assert "\n> **Faithfulness**\n" in "\n" + markdown(load(f)) + "\n"


EXERCISE = re.compile(r"^### Exercise (\d+)( \(open\))?:", re.M)
WITH_EXERCISES = [f for f in NOTEBOOKS if "## Exercises" in markdown(load(f))]


def stored_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


@pytest.mark.parametrize("f", WITH_EXERCISES)
def test_every_exercise_not_marked_open_has_an_answer_cell_a_check_and_a_hidden_solution(f):
    """The protocol of book/TEMPLATE.md, "Exercises": the reader's answer cell (``...`` to fill in),
    the check under it, whose stored output says "not answered yet", and the hidden solution, which
    ends with the same check and says "correct". Strict nbval re-executes the notebook and compares
    those outputs, so every test run proves that each check fails without its solution and passes
    with it."""
    nb = load(f)
    found = [(int(m.group(1)), bool(m.group(2)), i) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
             for m in EXERCISE.finditer(c.source)]
    if f in CHAPTERS:
        assert len(found) >= 3, "at least three exercises"
    assert [n for n, _, _ in found] == list(range(1, len(found) + 1)), "exercises numbered 1, 2, ... in order"
    starts = [i for _, _, i in found]
    for (n, is_open, start), end in zip(found, starts[1:] + [len(nb.cells)]):
        if is_open:
            continue
        assert starts.count(start) == 1, f"Exercise {n}: give an exercise with a check its own Markdown cell"
        cells = nb.cells[start + 1:end]
        kinds = [next((t for t in ("exercise-answer", "exercise-check", "solution") if t in tags(c)), None)
                 for c in cells]
        assert [k for k in kinds if k] == ["exercise-answer", "exercise-check", "solution"], \
            f"Exercise {n}: an answer cell, its check, then the solution (tags), got {kinds}"
        answer, check, solution = (cells[kinds.index(k)] for k in ("exercise-answer", "exercise-check", "solution"))
        assert "..." in answer.source, f"Exercise {n}: the answer cell leaves ... for the reader to fill in"
        call = f"exercise({n}, "
        assert call in check.source and call in solution.source, f"Exercise {n}: both cells call {call}...)"
        assert f"Exercise {n}: not answered yet" in stored_text(check), f"Exercise {n}: the check, stored"
        assert f"Exercise {n}: correct" in stored_text(solution), f"Exercise {n}: the solution's check, stored"
        assert "hide-cell" in tags(solution), f"Exercise {n}: the solution and its output hidden on the site"
        hidden = solution.metadata.get("jupyter", {})
        assert hidden.get("source_hidden") and hidden.get("outputs_hidden"), \
            f"Exercise {n}: the solution collapsed in JupyterLab and Notebook 7 (metadata.jupyter)"


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
