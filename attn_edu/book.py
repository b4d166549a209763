"""Helpers the chapters use: equation-to-code maps and computed numbers in the prose.

A chapter's results prose is written once, in a code cell that calls :func:`prose`. The cell's
output is Markdown, so the same sentence, with the numbers of the run that produced it, is what a
reader sees on the site, in JupyterLab, Notebook 7 and Colab (no MyST-only markup; see
``tests/test_portable_markup.py``).
"""

from __future__ import annotations

import inspect
import numbers
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

_GLUED: dict[str, Any] = {}
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*(?::([^{}]*))?\}\}")


def equation_lines(obj: type | Callable[..., Any]) -> dict[str, tuple[str, int, str]]:
    """Find the ``# Eq. (n)`` comments in ``obj``'s source.

    Returns ``{"Eq. (n)": (file relative to the package, line number of the code, code line)}``:
    the line right below each comment, i.e. the line that implements the equation.
    """
    lines, start = inspect.getsourcelines(obj)
    path = Path(inspect.getsourcefile(obj) or inspect.getfile(obj)).resolve()
    pkg = Path(__file__).resolve().parent.parent
    rel = path.relative_to(pkg).as_posix() if path.is_relative_to(pkg) else path.name
    found: dict[str, tuple[str, int, str]] = {}
    for i, line in enumerate(lines):
        for eq in re.findall(r"Eq\. \(([\w-]+)\)", line) if line.strip().startswith("#") else []:
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or lines[j].strip().startswith("#")):
                j += 1
            if j < len(lines):
                found.setdefault(f"Eq. ({eq})", (rel, start + j, lines[j].strip()))
    return found


def show_code_for_equations(obj: type | Callable[..., Any], equations: list[str] | None = None) -> None:
    """Print, for each equation, the line of code that implements it.

    The listing names the file and the function (not line numbers, which move with every edit of
    the file above them), then one row per equation with the code line below its ``# Eq. (n)``
    comment.

    Args:
        obj: a class or function of attn_edu.
        equations: e.g. ``["Eq. (1)", "Eq. (2)"]``; all found ones if None. A requested
            equation that the source does not mark raises ValueError (the map must not go stale).
    """
    found = equation_lines(obj)
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
    wanted = list(found) if equations is None else equations
    if not wanted:
        raise ValueError(f"show_code_for_equations: {name} has no '# Eq. (n)' comments")
    missing = [e for e in wanted if e not in found]
    if missing:
        raise ValueError(f"show_code_for_equations: {name} marks no {missing}; found {list(found)}")
    files = sorted({found[e][0] for e in wanted})
    print(f"{name} in {', '.join(files)}:")
    width = max(len(e) for e in wanted)
    for e in wanted:
        print(f"  {e:<{width}}  {found[e][2]}")


def glue(name: str, value: object) -> None:
    """Keep ``value`` under ``name`` for the prose of this chapter (see :func:`prose`).

    A float is kept as computed; the prose rounds it with the format it asks for, e.g.
    ``{{se_eta_1:.3f}}``, so that what is stored and compared never depends on its last bits.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"glue: expected a Python identifier as the name, got {name!r}")
    _GLUED[name] = value


def glued(name: str) -> object:
    """The value kept under ``name`` by :func:`glue`."""
    if name not in _GLUED:
        raise KeyError(f"glue: nothing is kept under {name!r}; glued so far: {sorted(_GLUED)}")
    return _GLUED[name]


def _fill(match: re.Match[str]) -> str:
    name, spec = match.group(1), match.group(2)
    value = glued(name)
    if spec is None:
        if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
            raise ValueError(f"prose: {{{{{name}}}}} is a float ({value!r}); give it a format, e.g. {{{{{name}:.3f}}}}")
        return str(value)
    return format(value, spec)


def prose(text: str):
    """Markdown from ``text`` with every ``{{name}}`` or ``{{name:format}}`` filled in from :func:`glue`.

    Returns an ``IPython.display.Markdown`` object: the last expression of a cell, it renders as
    formatted text on the site, in JupyterLab, Notebook 7 and Colab alike. A float must be given
    a format (``{{x:.2f}}``), so no sentence prints a number's noisy last digits.
    """
    from IPython.display import Markdown

    return Markdown(_PLACEHOLDER.sub(_fill, inspect.cleandoc(text)))
