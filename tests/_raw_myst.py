"""Raw MyST markup that Jupyter, Colab and GitHub would show as text: one list of patterns.

The book's notebooks are plain Markdown (they open anywhere); these are the MyST constructs that
must not appear in a rendered cell or output (tests/test_jupyterlab.py), nor in a notebook's
Markdown source.
"""

from __future__ import annotations

import re

# name shown in a finding -> pattern
RAW_MYST_PATTERNS: dict[str, re.Pattern[str]] = {
    "{glue:...} role": re.compile(r"\{glue:"),
    "{cite...} role": re.compile(r"\{cite"),
    "{eq} role": re.compile(r"\{eq\}"),
    "{ref} role": re.compile(r"\{ref\}"),
    "{doc} role": re.compile(r"\{doc\}"),
    "any {role}`...` in source": re.compile(r"\{(?!glue:|cite|eq\}|ref\}|doc\})[a-z][\w:-]*\}`"),
    "::: colon fence": re.compile(r"^[ \t]*:{3,}[ \t]*$", re.MULTILINE),
    ":::{...} directive": re.compile(r":::\{"),
    "```{...} directive": re.compile(r"```\{"),
    "(label)= target": re.compile(r"^[ \t]*\(.+\)=[ \t]*$", re.MULTILINE),
    "$$ (label) equation label": re.compile(r"\$\$[ \t]*\("),
    ":option: of a directive": re.compile(r"^[ \t]*:(class|name|filter|label|width|align):[ \t]", re.MULTILINE),
    "unfilled {{placeholder}}": re.compile(r"\{\{\s*\w+"),       # an attn_edu.book.prose name left in an output
}


def find_raw_myst(text: str, where: str = "") -> list[str]:
    """Every raw-MyST match in ``text``, as ``"where: pattern name: '...context...'"`` (empty if clean)."""
    found = []
    for name, pattern in RAW_MYST_PATTERNS.items():
        for m in pattern.finditer(text):
            a, b = max(0, m.start() - 30), min(len(text), m.end() + 30)
            context = text[a:b].replace("\n", "\\n")
            found.append(f"{where + ': ' if where else ''}{name}: '{context}'")
    return found
