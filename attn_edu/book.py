"""Helpers the chapters use: equation-to-code maps and computed numbers in the prose."""

from __future__ import annotations

import inspect
import re
from pathlib import Path


def equation_lines(obj: object) -> dict[str, tuple[str, int, str]]:
    """Find the ``# Eq. (n)`` comments in ``obj``'s source.

    Returns ``{"Eq. (n)": (file relative to the package, line number of the code, code line)}``:
    the line right below each comment, i.e. the line that implements the equation.
    """
    lines, start = inspect.getsourcelines(obj)
    path = Path(inspect.getsourcefile(obj)).resolve()
    pkg = Path(__file__).resolve().parent.parent
    rel = path.relative_to(pkg).as_posix() if path.is_relative_to(pkg) else path.name
    found: dict[str, tuple[str, int, str]] = {}
    for i, line in enumerate(lines):
        for eq in re.findall(r"Eq\. \((\w+)\)", line) if line.strip().startswith("#") else []:
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or lines[j].strip().startswith("#")):
                j += 1
            if j < len(lines):
                found.setdefault(f"Eq. ({eq})", (rel, start + j, lines[j].strip()))
    return found


def show_code_for_equations(obj: object, equations: list[str] | None = None) -> None:
    """Print, for each equation, the file, line and code that implements it.

    Args:
        obj: a class or function of attn_edu.
        equations: e.g. ``["Eq. (1)", "Eq. (2)"]``; all found ones if None. A requested
            equation that the source does not mark raises ValueError (the map must not go stale).
    """
    found = equation_lines(obj)
    wanted = list(found) if equations is None else equations
    if not wanted:
        raise ValueError(f"show_code_for_equations: {getattr(obj, '__name__', obj)} has no '# Eq. (n)' comments")
    missing = [e for e in wanted if e not in found]
    if missing:
        raise ValueError(f"show_code_for_equations: {getattr(obj, '__name__', obj)} marks no {missing}; found {list(found)}")
    width = max(len(e) for e in wanted)
    for e in wanted:
        rel, line, code = found[e]
        print(f"{e:<{width}}  {rel}:{line}   {code}")


def glue(name: str, value: object, display: bool = True) -> None:
    """Make ``value`` available to the prose as ``{glue:}`name``` (myst-nb), else just show it.

    In Colab or plain Jupyter, where myst-nb is not installed, the value is printed.
    """
    try:
        from myst_nb import glue as _glue
    except ImportError:  # Colab: no book toolchain
        if display:
            print(f"{name} = {value}")
        return
    _glue(name, value, display=display)
