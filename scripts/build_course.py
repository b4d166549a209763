"""Build the teacher's edition's notebooks and its site without solutions (``make course``, first step).

    .venv/bin/python scripts/build_course.py _build/course

Writes, from the stored chapters (``book/*.ipynb``, nothing is executed):

* ``student/``: every notebook of the book with its solutions removed (:func:`attn_edu.course.student_notebook`);
* ``instructor/``: every notebook with its solutions shown and a rubric after each exercise
  (:func:`attn_edu.course.instructor_notebook`), and ``answer-key.md``, all exercises in one file:
  statement's title, kind, level, time, rubric and the solution's code;
* ``site/``: the site built from the student notebooks, for a course that does not want the
  answers one click away (the public site, ``make book``, keeps them hidden for self-learners);
* ``README.md``: what is where, including the slides and the PDF that ``make course`` adds next.

Fails on a chapter whose exercises and ``book/exercises.yml`` disagree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from attn_edu import course

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
SITE_FILES = ["_config.yml", "_toc.yml", "references.bib"]  # what the site build reads besides book/


def write(nb, path: Path) -> None:
    nbformat.validate(nb)
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def answer_key(chapters, facts) -> str:
    """Every exercise of ``chapters`` (``(path, notebook)`` pairs, in the book's order): title,
    kind, level, time, rubric, solution."""
    lines = ["# Answer key", "",
             "Every exercise of the book with its rubric and, for a checked one, the solution's code (the same",
             "as in the instructor notebooks beside this file). Kinds, levels, times and rubrics come from",
             "`book/exercises.yml`; the statements are in the chapters.", ""]
    for path, nb in chapters:
        found = course.exercises(nb, path.stem, facts)
        if not found:
            continue
        lines += [f"## {course.title(nb)} (`{path.name}`)", ""]
        for e in found:
            lines += [f"### Exercise {e.number}{' (open)' if e.open else ''}: {e.title}", "",
                      f"*{e.kind}, {course.LEVELS[e.level]}, about {e.minutes} min.*", "",
                      " ".join(e.rubric.split()), ""]
            if e.solution is not None:
                lines += ["```python", nb.cells[e.solution].source.rstrip(), "```", ""]
    return "\n".join(lines)


def build_site(students: Path, out: Path) -> None:
    """The site from the student notebooks: the repository's pages and configuration with those
    notebooks in place of the chapters, built as strictly as ``make book``."""
    src = out.parent / ".site-src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    for name in SITE_FILES:
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(BOOK, src / "book", ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    for nb in students.glob("*.ipynb"):
        shutil.copy2(nb, src / "book" / nb.name)
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(src), "--path-output", str(src), "-W", "-n", "--keep-going", "-q"]
    code = subprocess.call(cmd, cwd=src)
    if code:
        raise SystemExit(f"build_course: the site without solutions failed to build ({' '.join(cmd)}: exit {code})")
    shutil.move(src / "_build" / "html", out)
    shutil.rmtree(src)


README = """# The teacher's edition

Built by `make course` from the book's stored chapters (nothing here is edited by hand).

| what | where |
|---|---|
| Student notebooks: the chapters without their solutions; each check says whether an answer is right | `student/` |
| Instructor notebooks: the solutions shown, a rubric after each exercise | `instructor/` |
| The answer key: every exercise's rubric and solution in one file | `instructor/answer-key.md` |
| The site without solutions (open `site/index.html`, or serve it: `python -m http.server -d site`) | `site/` |
| Slides, one reveal.js deck per chapter, offline (open `slides/index.html`) | `slides/` |
| The whole book as one PDF, with contents and page numbers (`.json`: its pages, chapters, size) | `attn-edu-book.pdf` |
| The one-page HTML the PDF is printed from (Sphinx's singlehtml build) | `.pdf-build/` |

The course guide (the chapter "Teaching with this book") says how to use them in a course.
"""


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0]).resolve()
    t0 = time.perf_counter()
    facts = course.exercise_facts(BOOK)
    student, instructor = out / "student", out / "instructor"
    for d in (student, instructor):
        d.mkdir(parents=True, exist_ok=True)
    chapters = [(path, nbformat.read(path, as_version=4)) for path in course.toc_notebooks(ROOT)]
    n_ex = 0
    for path, nb in chapters:
        n_ex += len(course.exercises(nb, path.stem, facts))
        write(course.student_notebook(nb, path.stem), student / path.name)
        write(course.instructor_notebook(nb, path.stem, facts), instructor / path.name)
    stray = sorted(set(facts) - {path.stem for path, _ in chapters})
    if stray:
        raise SystemExit(f"build_course: book/exercises.yml names chapters the book does not have: {stray}")
    (instructor / "answer-key.md").write_text(answer_key(chapters, facts), encoding="utf-8")
    (out / "README.md").write_text(README, encoding="utf-8")
    print(f"build_course: {len(chapters)} notebooks, {n_ex} exercises: student/ and instructor/ "
          f"({time.perf_counter() - t0:.1f} s)", flush=True)
    build_site(student, out / "site")
    print(f"build_course: site without solutions in {out / 'site'} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
