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


# --- claims: a sentence that states a direction is computed with the numbers it rests on -------


class ClaimFailed(ValueError):
    """A chapter's sentence no longer matches the numbers of its run (raised by :func:`claim`)."""


def claim(holds: object, sentence: str) -> str:
    """``sentence``, if ``holds`` is true; else raise :class:`ClaimFailed`, which fails the build.

    For the fixed words of a result paragraph that the run must bear out, e.g.
    ``glue("verdict", claim(speedup > 1, "the fused path was faster"))``. Where the run may go either
    way, choose the words from the numbers instead (:func:`choose`, :func:`verdict`).
    """
    if not isinstance(sentence, str) or not sentence:
        raise TypeError(f"claim: expected the sentence as a non-empty str, got {sentence!r}")
    if not bool(holds):
        raise ClaimFailed(f"claim: the numbers of this run no longer support {sentence!r}")
    return sentence


def choose(value: float, cases: list[tuple[float, str]], otherwise: str) -> str:
    """The words for ``value``: the text of the first ``(bound, text)`` with ``value < bound``, else
    ``otherwise``. E.g. ``choose(ratio, [(0.9, "faster"), (1.1, "about as fast")], "slower")``."""
    if not isinstance(value, numbers.Real):
        raise TypeError(f"choose: expected a real number, got {type(value).__name__} {value!r}")
    bounds = [b for b, _ in cases]
    if bounds != sorted(bounds):
        raise ValueError(f"choose: the bounds must increase, got {bounds}")
    for bound, text in cases:
        if value < bound:
            return text
    return otherwise


def verdict(interval: Any, threshold: float, *, above: str, below: str, undecided: str) -> str:
    """Words for an estimate with its uncertainty (an :class:`attn_edu.stats.Interval`) against
    ``threshold``: ``above`` if the whole interval lies above it, ``below`` if below, ``undecided``
    if the interval covers it. The run decides the sentence, and says so when it cannot."""
    lo, hi = float(interval.lo), float(interval.hi)
    if not lo <= hi:
        raise ValueError(f"verdict: expected an interval with lo <= hi, got {interval!r}")
    if lo > threshold:
        return above
    if hi < threshold:
        return below
    return undecided


GROWTH = [(1.25, "about linearly"), (1.75, "faster than linearly but slower than quadratically"),
          (2.25, "about quadratically")]
"""The bounds :func:`growth` chooses its words with: an exponent within 0.25 of 1 or 2 is "about" it."""


def growth(exponent: float) -> str:
    """Words for a fitted exponent ``p`` of a cost that grows as ``N^p`` (a log-log slope,
    :func:`attn_edu.measure.loglog_slope`): "about linearly" below 1.25, "faster than linearly but
    slower than quadratically" below 1.75, "about quadratically" below 2.25, else "faster than
    quadratically". E.g. ``glue("mem_words", growth(slope))``, then "its memory grows {{mem_words}}"."""
    return choose(exponent, GROWTH, "faster than quadratically")


# --- exercises: a check reports on the reader's own answer ---------------------------------------


def exercise(number: int, check: Callable[..., object], /, **answers: object) -> None:
    """Check the reader's answer to exercise ``number`` and print one line that says how it went.

    ``answers`` are the names the exercise asks for, with the values the reader's cell gave them;
    without them, the names are ``check``'s parameters, looked up where ``check`` was defined (the
    notebook), so that a check cell run before its answer cell says what to define instead of
    ending in a NameError. The answer cell starts them as ``...``: while one still is, or is not
    defined yet, this prints "Exercise n: not answered yet". Else it calls ``check(**answers)``,
    which asserts what a right answer satisfies: if it raises, "Exercise n: not yet" with the
    reason; if it returns, "Exercise n: correct", followed by what it returns when that is a string.
    Returns None, so that a call at the end of a cell prints its line and nothing else.

    A chapter calls it twice: in the check cell, under the reader's answer cell (on the stored page:
    "not answered yet"), and at the end of the hidden solution (there: "correct"). Strict nbval
    re-executes both, so every test run shows that each check rejects the empty answer and accepts
    the solution. See ``book/TEMPLATE.md``, "Exercises".
    """
    if not isinstance(number, int) or isinstance(number, bool):
        raise TypeError(f"exercise: expected the exercise number as an int, got {number!r}")
    if not callable(check):
        raise TypeError(f"exercise {number}: expected a check function, got {type(check).__name__}")
    if not answers:
        names = list(inspect.signature(check).parameters)
        if not names:
            raise ValueError(f"exercise {number}: the check takes no answers; give it a parameter per answer "
                             f"the exercise asks for, e.g. def check(r): ..., then exercise({number}, check)")
        where = getattr(check, "__globals__", {})
        undefined = [n for n in names if n not in where]
        if undefined:
            listed = ", ".join(f"`{n}`" for n in undefined)
            print(f"Exercise {number}: not answered yet. Define {listed} in the answer cell above (replace its ...), "
                  "run it, then run this cell again.")
            return
        answers = {n: where[n] for n in names}
    empty = [name for name, value in answers.items() if value is Ellipsis]
    if empty:
        listed = ", ".join(f"`{n}`" for n in empty)
        print(f"Exercise {number}: not answered yet. Replace the ... of {listed} in the cell above, run it, "
              "then run this cell again.")
        return
    try:
        detail = check(**answers)
    except Exception as err:  # the reader's answer may fail in any way; report it, do not stop the notebook
        reason = str(err) or type(err).__name__
        if not isinstance(err, AssertionError):
            reason = f"{type(err).__name__}: {reason}"
        print(f"Exercise {number}: not yet. {reason}")
        return
    print(f"Exercise {number}: correct" + (f" ({detail})" if isinstance(detail, str) and detail else ""))
