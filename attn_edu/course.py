"""The teacher's edition: the chapters' exercises, the student and instructor notebooks, the guide's facts.

Everything here reads the chapters as they are stored (``book/*.ipynb``) and two files beside them:

* ``book/exercises.yml``: per chapter and exercise number, its kind, level, minutes and rubric;
* ``book/course.yml``: per chapter, the chapters it builds on, and the course plan.

A chapter's exercise is a ``### Exercise n: title`` heading (``### Exercise n (open): title`` for
one without a single checkable answer) and, for a checked one, three cells: the reader's answer
(tagged ``exercise-answer``), the check (``exercise-check``) and the solution (``solution``); see
``book/TEMPLATE.md``, "Exercises". From a chapter, :func:`student_notebook` removes the solutions
and :func:`instructor_notebook` shows them and adds each exercise's rubric. ``make course`` builds
both for every chapter (``scripts/build_course.py``); the course guide (chapter ``course``) shows
the rest.
"""

from __future__ import annotations

import copy
import math
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HEADING = re.compile(r"^### Exercise (\d+)( \(open\))?: (.+)$", re.M)
KINDS = ("implement", "compute", "derive", "open")
LEVELS = {1: "warm-up", 2: "core", 3: "stretch"}
WORDS_PER_MINUTE = 200
"""Reading speed for :func:`reading_minutes`: a careful read of technical prose (not a skim)."""
STUDENT_NOTE = (
    "*Student edition: the solutions are not included. Each check cell tells you whether your answer is "
    "right, and why not when it is not.*"
)


@dataclass(frozen=True)
class Exercise:
    """One exercise of a chapter, where its cells are, and the teacher's facts about it."""

    chapter: str
    number: int
    title: str
    open: bool
    heading: int  # index of the statement's markdown cell
    answer: int | None  # indices of the answer, check and solution cells (None for an open exercise)
    check: int | None
    solution: int | None
    kind: str = ""
    level: int = 0
    minutes: int = 0
    rubric: str = ""


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _source(cell: Any) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def book_dir(start: Path | str | None = None) -> Path:
    """The folder with the chapters: ``start`` (default: the working directory) or its ``book/``."""
    here = Path.cwd() if start is None else Path(start)
    for d in (here, here / "book"):
        if (d / "exercises.yml").is_file() and (d / "course.yml").is_file():
            return d
    raise FileNotFoundError(
        f"attn_edu.course: expected the book's chapters with exercises.yml and course.yml in {here} or "
        f"{here / 'book'}; the course guide reads the chapters beside it, so run it from a clone of the "
        "repository (its stored outputs show the tables)")


def _load_yaml(path: Path) -> Any:
    import yaml  # type: ignore[import-untyped]  # jupyter-book's dependency; no stubs installed

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def exercise_facts(book: Path | str | None = None) -> dict[str, dict[int, dict[str, Any]]]:
    """``book/exercises.yml``, checked: ``{chapter: {number: {kind, level, minutes, rubric}}}``."""
    path = book_dir(book) / "exercises.yml"
    data = _load_yaml(path)
    if not isinstance(data, dict):
        raise ValueError(f"attn_edu.course: {path} should map chapters to exercises, got {type(data).__name__}")
    for chapter, entries in data.items():
        for number, facts in entries.items():
            where = f"{path.name}: {chapter} exercise {number}"
            if not isinstance(number, int) or not isinstance(facts, dict):
                raise ValueError(f"attn_edu.course: {where}: expected an int key and a mapping of facts")
            if facts.get("kind") not in KINDS:
                raise ValueError(f"attn_edu.course: {where}: kind should be one of {KINDS}, got {facts.get('kind')!r}")
            if facts.get("level") not in LEVELS:
                raise ValueError(f"attn_edu.course: {where}: level should be 1, 2 or 3, got {facts.get('level')!r}")
            if not isinstance(facts.get("minutes"), int) or facts["minutes"] <= 0:
                raise ValueError(f"attn_edu.course: {where}: minutes should be a positive int, "
                                 f"got {facts.get('minutes')!r}")
            if not isinstance(facts.get("rubric"), str) or not facts["rubric"].strip():
                raise ValueError(f"attn_edu.course: {where}: the rubric is missing")
    return data


def exercises(nb: Any, chapter: str, facts: dict[str, dict[int, dict[str, Any]]] | None = None) -> list[Exercise]:
    """The exercises of notebook ``nb`` (named ``chapter``), in order, with their cells and facts.

    A checked exercise's answer, check and solution are the first cells with those tags after its
    heading and before the next heading. With ``facts`` (:func:`exercise_facts`), each exercise gets
    its kind, level, minutes and rubric; an exercise without facts, or facts without an exercise,
    raises ValueError, as does an open exercise whose kind is not ``open`` or the reverse.
    """
    cells = nb["cells"]
    heads = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "markdown":
            heads += [(i, m) for m in HEADING.finditer(_source(cell))]
    found = []
    for k, (i, m) in enumerate(heads):
        end = heads[k + 1][0] if k + 1 < len(heads) else len(cells)
        end = next((j for j in range(i + 1, end) if cells[j]["cell_type"] == "markdown"
                    and _source(cells[j]).lstrip().startswith("## ")), end)  # "## Summary" ends the last one

        def first(tag: str, lo: int = i, hi: int = end) -> int | None:
            return next((j for j in range(lo + 1, hi) if tag in _tags(cells[j])), None)

        number, is_open, title = int(m.group(1)), bool(m.group(2)), m.group(3).strip()
        roles = {tag: first(tag) for tag in ("exercise-answer", "exercise-check", "solution")}
        if is_open and any(v is not None for v in roles.values()):
            raise ValueError(f"attn_edu.course: {chapter} exercise {number} is marked (open) but has answer, "
                             "check or solution cells")
        if not is_open and None in roles.values():
            lacking = [t for t, v in roles.items() if v is None]
            raise ValueError(f"attn_edu.course: {chapter} exercise {number}: expected an answer, a check and a "
                             f"solution cell after its heading, found no cell tagged {', '.join(lacking)}")
        extra: dict[str, Any] = {}
        if facts is not None:
            entry = facts.get(chapter, {}).get(number)
            if entry is None:
                raise ValueError(f"attn_edu.course: {chapter} exercise {number} ({title!r}) has no entry in "
                                 "book/exercises.yml")
            if (entry["kind"] == "open") != is_open:
                raise ValueError(f"attn_edu.course: {chapter} exercise {number}: kind {entry['kind']!r} in "
                                 f"exercises.yml, but its heading {'says' if is_open else 'does not say'} (open)")
            extra = {k: entry[k] for k in ("kind", "level", "minutes", "rubric")}
        found.append(Exercise(chapter, number, title, is_open, i, roles["exercise-answer"],
                              roles["exercise-check"], roles["solution"], **extra))
    if facts is not None:
        stray = sorted(set(facts.get(chapter, {})) - {e.number for e in found})
        if stray:
            raise ValueError(f"attn_edu.course: book/exercises.yml has {chapter} exercise(s) {stray}, which the "
                             "chapter does not have")
    return found


def _markdown(text: str, cell_id: str) -> Any:
    import nbformat

    return nbformat.v4.new_markdown_cell(text, id=cell_id)  # a fixed id: the same build, the same file


def split_headings(nb: Any) -> Any:
    """A copy of ``nb`` whose Markdown cells each start at most one section or exercise: a cell is cut
    before every ``## `` heading and every exercise heading (outside code fences) after its first
    line. The text is unchanged; a new cell's id is its cell's with ``-2``, ``-3``, ... appended.
    The editions insert their notes between such cells (after ``## Exercises``, before ``## Summary``)."""
    out = copy.deepcopy(nb)
    cells = []
    for cell in out["cells"]:
        if cell["cell_type"] != "markdown":
            cells.append(cell)
            continue
        parts: list[list[str]] = [[]]
        fenced = False
        for line in _source(cell).splitlines(keepends=True):
            if line.lstrip().startswith("```"):
                fenced = not fenced
            if not fenced and parts[-1] and (line.startswith("## ") or HEADING.match(line.rstrip("\n"))):
                parts.append([])
            parts[-1].append(line)
        for k, part in enumerate(parts):
            piece = copy.deepcopy(cell) if k else cell
            text = "".join(part)
            piece["source"] = text.rstrip("\n") if k + 1 < len(parts) else text
            if k:
                piece["id"] = f"{cell.get('id', 'cell')}-{k + 1}"
                piece.get("metadata", {}).pop("slideshow", None)  # a slide mark stays with the cell's first part
            cells.append(piece)
    out["cells"] = cells
    return out


def student_notebook(nb: Any, chapter: str) -> Any:
    """A copy of chapter ``nb`` for students: every solution cell (and its output) removed.

    The answer cells (``...``) and the checks stay, stored saying "not answered yet", so a student
    checks each answer in place; a note under ``## Exercises`` says the solutions are not included.
    Everything else is the reader's notebook as stored: figures, outputs, the setup cell.
    """
    out = split_headings(nb)
    drop = {e.solution for e in exercises(out, chapter) if e.solution is not None}
    cells = []
    for i, cell in enumerate(out["cells"]):
        if i in drop:
            continue
        cells.append(cell)
        if drop and cell["cell_type"] == "markdown" and _source(cell).lstrip().startswith("## Exercises"):
            cells.append(_markdown(STUDENT_NOTE, "student-edition-note"))
    out["cells"] = cells
    return out


def rubric_markdown(e: Exercise) -> str:
    """The instructor's note for exercise ``e``: kind, level, time and rubric, as Markdown."""
    head = f"**Rubric, exercise {e.number}** ({e.kind}, {LEVELS[e.level]}, about {e.minutes} min)."
    return f"{head} {' '.join(e.rubric.split())}"


def instructor_notebook(nb: Any, chapter: str, facts: dict[str, dict[int, dict[str, Any]]]) -> Any:
    """A copy of chapter ``nb`` for instructors: the solutions shown, and each exercise's rubric.

    A solution cell loses its ``hide-cell`` tag and its hidden source and output (it is visible on
    opening); the rubric (:func:`rubric_markdown`) follows the exercise's last cell: its solution,
    or the statement of an open exercise.
    """
    out = split_headings(nb)
    after = {}
    for e in exercises(out, chapter, facts):
        after[e.solution if e.solution is not None else e.heading] = e
    cells = []
    for i, cell in enumerate(out["cells"]):
        if i in after and "solution" in _tags(cell):
            tags = [t for t in _tags(cell) if t != "hide-cell"]
            cell["metadata"]["tags"] = tags
            cell["metadata"].pop("jupyter", None)
        cells.append(cell)
        if i in after:
            cells.append(_markdown(rubric_markdown(after[i]), f"rubric-{after[i].number}"))
    out["cells"] = cells
    return out


def reading_minutes(nb: Any) -> int:
    """Minutes to read a chapter: the words of its Markdown (cells and Markdown outputs) at
    :data:`WORDS_PER_MINUTE`, rounded up to 5 minutes. Code, figures and exercises not counted."""
    texts = [_source(c) for c in nb["cells"] if c["cell_type"] == "markdown"]
    for c in nb["cells"]:
        for o in c.get("outputs", []):
            md = o.get("data", {}).get("text/markdown")
            if md:
                texts.append("".join(md) if isinstance(md, list) else md)
    words = sum(len(re.findall(r"[A-Za-z0-9][\w'-]*", t)) for t in texts)
    return max(5, 5 * math.ceil(words / WORDS_PER_MINUTE / 5))


def run_seconds(nb: Any) -> float:
    """The seconds the stored run of ``nb`` took (``scripts/store_notebooks.py`` records them)."""
    try:
        return float(nb["metadata"]["attn_edu"]["execution"]["seconds"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("attn_edu.course: the notebook has no stored run (metadata.attn_edu.execution); "
                         "store it with scripts/store_notebooks.py") from None


def course_facts(book: Path | str | None = None) -> dict[str, Any]:
    """``book/course.yml``, checked against the chapters: what each builds on, and the course plan."""
    d = book_dir(book)
    data = _load_yaml(d / "course.yml")
    chapters = {p.stem for p in d.glob("*.ipynb")}
    deps = data.get("builds_on", {})
    for chapter, before in deps.items():
        unknown = [c for c in [chapter, *before] if c not in chapters]
        if unknown:
            raise ValueError(f"attn_edu.course: course.yml, builds_on: no chapter {', '.join(unknown)} in {d}")
    facts = exercise_facts(d)
    for k, session in enumerate(data.get("plan", []), 1):
        for chapter, numbers in session.get("in_class", {}).items():
            if chapter not in session["chapters"]:
                raise ValueError(f"attn_edu.course: course.yml, session {k}: exercises of {chapter}, which the "
                                 "session does not read")
            missing = [n for n in numbers if n not in facts.get(chapter, {})]
            if missing:
                raise ValueError(f"attn_edu.course: course.yml, session {k}: {chapter} has no exercise {missing}")
    return data


def title(nb: Any) -> str:
    """The chapter's title: its first ``# `` heading."""
    for c in nb["cells"]:
        if c["cell_type"] == "markdown":
            for line in _source(c).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise ValueError("attn_edu.course: the notebook has no '# ' title")


# ---- the course guide's tables and graph (book/course.ipynb) --------------------------------------


def toc_pages(root: Path | str) -> list[str]:
    """The pages of ``root/_toc.yml`` in reading order, as paths without suffix (``book/se``)."""
    toc = _load_yaml(Path(root) / "_toc.yml")
    return [toc["root"], *(c["file"] for part in toc.get("parts", []) for c in part["chapters"])]


def toc_notebooks(root: Path | str) -> list[Path]:
    """The notebooks among :func:`toc_pages`, in reading order (the .md pages left out)."""
    return [Path(root) / f"{p}.ipynb" for p in toc_pages(root) if (Path(root) / f"{p}.ipynb").exists()]


def chapters(book: Path | str | None = None) -> list[str]:
    """The chapters of ``course.yml``'s ``builds_on``, in the order of the book's ``_toc.yml``."""
    d = book_dir(book)
    deps = course_facts(d)["builds_on"]
    if (d.parent / "_toc.yml").is_file():
        order = [Path(p).name for p in toc_pages(d.parent)]
        return sorted(deps, key=lambda c: order.index(c) if c in order else len(order))
    return list(deps)


def _read(d: Path, chapter: str) -> Any:
    import nbformat

    return nbformat.read(d / f"{chapter}.ipynb", as_version=4)


def short_title(d: Path, chapter: str) -> str:
    """The chapter's title up to its colon ("CBAM", "The lab"); the root page of the book, whose title
    is the book's, is "Introduction"."""
    if (d.parent / "_toc.yml").is_file() and Path(toc_pages(d.parent)[0]).name == chapter:
        return "Introduction"
    return title(_read(d, chapter)).split(":")[0].strip()


def _link(d: Path, chapter: str) -> str:
    return f"[{short_title(d, chapter)}]({chapter}.ipynb)"


def chapter_rows(book: Path | str | None = None) -> list[dict[str, Any]]:
    """Per chapter: title, what it builds on, reading minutes, stored run seconds, exercises and their minutes."""
    d = book_dir(book)
    facts, deps = exercise_facts(d), course_facts(d)["builds_on"]
    rows = []
    for c in chapters(d):
        nb = _read(d, c)
        ex = exercises(nb, c, facts)
        rows.append({"chapter": c, "title": title(nb), "builds_on": deps[c], "reading_min": reading_minutes(nb),
                     "run_s": run_seconds(nb), "exercises": len(ex), "open": sum(e.open for e in ex),
                     "exercise_min": sum(e.minutes for e in ex)})
    return rows


def chapter_table(book: Path | str | None = None) -> str:
    """:func:`chapter_rows` as a Markdown table, with a total row."""
    d = book_dir(book)
    rows = chapter_rows(d)
    out = ["| chapter | builds on | reading (min) | run time (s) | exercises (open) | exercise time (min) |",
           "|---|---|--:|--:|--:|--:|"]
    for r in rows:
        before = ", ".join(_link(d, b) for b in r["builds_on"]) or "nothing"
        out.append(f"| {_link(d, r['chapter'])} | {before} | {r['reading_min']} | {r['run_s']:.0f} | "
                   f"{r['exercises']} ({r['open']}) | {r['exercise_min']} |")
    out.append(f"| **all** | | {sum(r['reading_min'] for r in rows)} | {sum(r['run_s'] for r in rows):.0f} | "
               f"{sum(r['exercises'] for r in rows)} ({sum(r['open'] for r in rows)}) | "
               f"{sum(r['exercise_min'] for r in rows)} |")
    return "\n".join(out)


def exercise_table(book: Path | str | None = None) -> str:
    """Every exercise of the book: chapter, number, title, kind, level and minutes, as a Markdown table."""
    d = book_dir(book)
    facts = exercise_facts(d)
    out = ["| chapter | exercise | kind | level | minutes |", "|---|---|---|---|--:|"]
    for c in chapters(d):
        link = _link(d, c)
        for e in exercises(_read(d, c), c, facts):
            name = link if e.number == 1 else ""  # the chapter once, on its first exercise
            out.append(f"| {name} | {e.number}. {e.title} | {e.kind} | {LEVELS[e.level]} | {e.minutes} |")
    return "\n".join(out)


def plan_rows(book: Path | str | None = None) -> list[dict[str, Any]]:
    """The course plan of ``course.yml``: per session its chapters, reading minutes before it, the
    exercises in class and their minutes, and the homework's exercises and minutes. Raises
    ValueError when a session's exercises in class do not fit its exercise block, or a chapter of
    the book is in no session."""
    d = book_dir(book)
    data, facts = course_facts(d), exercise_facts(d)
    rows, seen = [], []
    for k, s in enumerate(data["plan"], 1):
        in_class: list[Exercise] = []
        homework: list[Exercise] = []
        nbs = {c: _read(d, c) for c in s["chapters"]}
        for c, nb in nbs.items():
            for e in exercises(nb, c, facts):
                (in_class if e.number in s.get("in_class", {}).get(c, []) else homework).append(e)
        row = {"session": k, "title": s["title"], "chapters": s["chapters"],
               "reading_min": sum(reading_minutes(nb) for nb in nbs.values()),
               "in_class": in_class, "in_class_min": sum(e.minutes for e in in_class),
               "homework": homework, "homework_min": sum(e.minutes for e in homework)}
        if row["in_class_min"] > data["exercise_block_minutes"]:
            raise ValueError(f"attn_edu.course: session {k}'s exercises in class take {row['in_class_min']} min, "
                             f"more than the {data['exercise_block_minutes']} min block of course.yml")
        rows.append(row)
        seen += s["chapters"]
    left = [c for c in chapters(d) if c not in seen]
    if left:
        raise ValueError(f"attn_edu.course: course.yml's plan reads no session's chapters {left}")
    return rows


def plan_table(book: Path | str | None = None) -> str:
    """:func:`plan_rows` as a Markdown table."""
    d = book_dir(book)
    out = ["| session | read before | reading (min) | in class | (min) | homework | (min) |",
           "|---|---|--:|---|--:|---|--:|"]

    def names(ex: list[Exercise]) -> str:
        return ", ".join(f"{e.chapter.replace('_', ' ')} {e.number}" for e in ex) or "none"

    for r in plan_rows(d):
        out.append(f"| {r['session']}. {r['title']} | {', '.join(_link(d, c) for c in r['chapters'])} | "
                   f"{r['reading_min']} | {names(r['in_class'])} | {r['in_class_min']} | {names(r['homework'])} | "
                   f"{r['homework_min']} |")
    return "\n".join(out)


def dependency_graph(book: Path | str | None = None, ax: Any = None) -> Any:
    """Draw the chapters as a graph, an arrow from each chapter to those that build on it; columns are
    the length of the longest chain of prerequisites. Returns the matplotlib Axes."""
    import matplotlib.pyplot as plt

    d = book_dir(book)
    deps = course_facts(d)["builds_on"]
    order = chapters(d)
    depth: dict[str, int] = {}

    def level(c: str, trail: tuple[str, ...] = ()) -> int:
        if c in trail:
            raise ValueError(f"attn_edu.course: course.yml's builds_on has a cycle: {' -> '.join((*trail, c))}")
        if c not in depth:
            depth[c] = 1 + max((level(b, (*trail, c)) for b in deps[c]), default=-1)
        return depth[c]

    columns: dict[int, list[str]] = {}
    for c in order:
        columns.setdefault(level(c), []).append(c)
    pos = {c: (1.3 * x, -1.1 * (i - (len(cs) - 1) / 2)) for x, cs in columns.items() for i, c in enumerate(cs)}
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 5.4))
    boxes = {}
    for c, (x, y) in pos.items():
        label = textwrap.fill(short_title(d, c), 11, break_long_words=False)
        boxes[c] = ax.text(x, y, label, ha="center", va="center", fontsize=9,
                           bbox={"boxstyle": "round,pad=0.35", "fc": "#eef3fb", "ec": "#4a6fa5"})
    for c, before in deps.items():
        for b in before:  # from the prerequisite's box to the chapter's box, clipped at both
            ax.annotate("", xy=pos[c], xytext=pos[b], arrowprops={
                "arrowstyle": "-|>", "color": "0.45", "lw": 1, "patchA": boxes[b].get_bbox_patch(),
                "patchB": boxes[c].get_bbox_patch(), "shrinkA": 2, "shrinkB": 2})
    ax.set_xlim(-0.7, 1.3 * max(columns) + 0.7)
    ax.set_ylim(min(y for _, y in pos.values()) - 0.8, max(y for _, y in pos.values()) + 0.8)
    ax.axis("off")
    return ax
