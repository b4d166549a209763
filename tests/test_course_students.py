"""The teacher's edition's notebooks and site without solutions (``make course``, scripts/build_course.py).

* No solution's code or printed answer is in a student notebook or on a page of the site without
  solutions, while the public site has them (so the search can find what it looks for).
* Each student notebook executes top to bottom in a fresh kernel, and at every exercise its check
  says "not answered yet"; the chapter's solution, run next in the same kernel, makes the same check
  say "correct".
* The instructor notebooks show every solution and a rubric after every exercise.

Needs ``make course`` (``_build/course``; ``ATTN_EDU_COURSE`` points at another one). Locally it skips
without it; with CI set it fails.
"""

from __future__ import annotations

import functools
import html
import os
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from _chromium import missing

from attn_edu import course

ROOT = Path(__file__).resolve().parent.parent
COURSE = Path(os.environ.get("ATTN_EDU_COURSE", ROOT / "_build" / "course"))
BOOK = ROOT / "book"
sys.path.insert(0, str(ROOT / "scripts"))

FACTS = course.exercise_facts(BOOK)
CHAPTERS = [p.stem for p in course.toc_notebooks(ROOT) if course.exercises(nbformat.read(p, as_version=4), p.stem)]
pytestmark = pytest.mark.course


def need(path: Path) -> Path:
    if not path.exists():
        missing(f"{path} not found: run `make course`")
    return path


@functools.cache
def reader(chapter: str):
    """The chapter as stored (read once; the tests only read it)."""
    return nbformat.read(BOOK / f"{chapter}.ipynb", as_version=4)


def code_lines(source: str) -> set[str]:
    """The lines of ``source`` without indentation and trailing comments, as a set."""
    return {re.sub(r"\s+#.*$", "", line).strip() for line in source.splitlines()}


def solution_lines(chapter: str) -> list[str]:
    """The solutions' own lines: each non-blank line of a solution cell that no other cell of the chapter
    has (a check may share a setup line, e.g. ``with torch.no_grad():``, which the statement's reader
    sees anyway), less the final ``exercise(...)`` call, which repeats the check's."""
    nb = reader(chapter)
    solutions = {e.solution for e in course.exercises(nb, chapter) if e.solution is not None}
    others = set().union(*(code_lines(c.source) for i, c in enumerate(nb.cells) if i not in solutions))
    own = []
    for i in sorted(solutions):
        for s in sorted(code_lines(nb.cells[i].source)):
            if len(s) >= 8 and s not in others and not re.match(r"_ = exercise\(|exercise\(", s):
                own.append(s)
    return own


def printed_answers(chapter: str) -> list[str]:
    """What the solutions print: "Exercise n: correct (detail)", the detail being the answer."""
    out = []
    for e in course.exercises(reader(chapter), chapter):
        for o in reader(chapter).cells[e.solution].get("outputs", []) if e.solution is not None else []:
            out += [line for line in "".join(o.get("text", "")).splitlines() if "correct" in line]
    return out


def test_every_exercise_has_its_facts():
    for chapter in CHAPTERS:
        assert course.exercises(reader(chapter), chapter, FACTS), chapter  # raises on a mismatch
    assert set(FACTS) == set(CHAPTERS)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_student_notebook_has_no_solution(chapter):
    text = need(COURSE / "student" / f"{chapter}.ipynb").read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    assert not [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    body = set().union(*(code_lines(c.source) for c in nb.cells))
    lines = solution_lines(chapter)
    assert lines, f"{chapter}: no solution lines to look for"
    leaked = [s for s in lines if s in body]
    assert not leaked, f"student/{chapter}.ipynb keeps lines of the solutions: {leaked[:3]}"
    shown = "\n".join("".join(o.get("text", "")) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    for line in printed_answers(chapter):
        assert line not in shown, f"student/{chapter}.ipynb prints a solution's answer: {line}"
    checks = [c for c in nb.cells if "exercise-check" in c.metadata.get("tags", [])]
    assert len(checks) == sum(not e.open for e in course.exercises(reader(chapter), chapter))
    for c in checks:
        assert "not answered yet" in "".join(o.get("text", "") for o in c.outputs), c.source[:80]


class _Text(HTMLParser):
    """A page's text, as a reader can select it (code spans of the highlighter joined)."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self.skip -= tag in ("script", "style") and self.skip > 0

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def page_lines(page: Path) -> set[str]:
    p = _Text()
    p.feed(page.read_text(encoding="utf-8"))
    return code_lines(html.unescape("".join(p.parts)))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_site_without_solutions_shows_none(chapter):
    page = need(COURSE / "site" / "book" / f"{chapter}.html")
    public = need(ROOT / "_build" / "html" / "book" / f"{chapter}.html")
    lines = solution_lines(chapter)
    on_public = [s for s in lines if s in page_lines(public)]
    absent = [s for s in lines if s not in on_public]
    assert not absent, f"{chapter}: the public site lacks solution lines, so the search is off: {absent[:3]}"
    on_course = [s for s in on_public if s in page_lines(page)]
    assert not on_course, f"site/book/{chapter}.html shows lines of the solutions: {on_course[:3]}"
    assert "not answered yet" in page.read_text(encoding="utf-8")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_instructor_notebook_shows_solutions_and_rubrics(chapter):
    nb = nbformat.read(need(COURSE / "instructor" / f"{chapter}.ipynb"), as_version=4)
    found = course.exercises(reader(chapter), chapter, FACTS)
    rubrics = [c.source for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("**Rubric, exercise")]
    assert len(rubrics) == len(found)
    for e, text in zip(found, rubrics, strict=True):
        assert text.startswith(f"**Rubric, exercise {e.number}**") and " ".join(e.rubric.split()) in text
    for c in nb.cells:
        if "solution" in c.metadata.get("tags", []):
            assert "hide-cell" not in c.metadata.tags and "jupyter" not in c.metadata
    key = need(COURSE / "instructor" / "answer-key.md").read_text(encoding="utf-8")
    assert all(s in key for s in solution_lines(chapter))


def _text(outputs) -> str:
    return "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_student_notebook_runs_and_each_check_fails_until_its_solution_runs(chapter):
    """Execute the student notebook cell by cell; after each check, run the reader's solution in the
    same kernel and the check again."""
    from store_notebooks import CELL_TIMEOUT_S, SlicedReplyClient

    path = need(COURSE / "student" / f"{chapter}.ipynb")
    nb = nbformat.read(path, as_version=4)
    solutions = {e.number: reader(chapter).cells[e.solution].source
                 for e in course.exercises(reader(chapter), chapter) if not e.open}
    client = SlicedReplyClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=False,
                               resources={"metadata": {"path": str(path.parent)}})
    checked = []
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            client.execute_cell(cell, index)
            if "exercise-check" not in cell.metadata.get("tags", []):
                continue
            said = _text(cell.outputs)
            number = int(re.match(r"Exercise (\d+):", said).group(1))
            assert "not answered yet" in said, f"{chapter} exercise {number} before its answer: {said}"
            solution = nbformat.v4.new_code_cell(solutions[number])
            client.execute_cell(solution, index)
            assert f"Exercise {number}: correct" in _text(solution.outputs), _text(solution.outputs)
            again = nbformat.v4.new_code_cell(cell.source)
            client.execute_cell(again, index)
            assert f"Exercise {number}: correct" in _text(again.outputs), \
                f"{chapter} exercise {number}: the check after the solution said {_text(again.outputs)}"
            checked.append(number)
    assert checked == sorted(solutions), (checked, sorted(solutions))
