"""A result sentence cannot state a direction that its numbers contradict.

The chapters write their results prose once, in ``prose(r\"\"\"...\"\"\")`` cells (attn_edu.book),
whose ``{{name:fmt}}`` placeholders are filled with the numbers of the run. A sentence that sets
such a number beside a word that compares, ranks, gives a direction or a verdict ("faster",
"less than", "close to", "holds") must take those words from the run too: a ``{{name}}``
placeholder without a format, glued as a string chosen from the values (``attn_edu.book.choose``,
``verdict``, which says "undecided" when an interval covers the threshold) or guarded
(``claim(condition, words)``, which raises and fails the build, and strict nbval, when the numbers
stop supporting them). Fixed verdict words next to a measured number are what this test finds.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))

VERDICT = re.compile(
    r"\b(holds?|fails?|faster|slower|larger|smaller|higher|lower|more than|less than|fewer|close to|far from|"
    r"times as|exceed\w*|below|above|better|worse|steeper|flatter|linear(?:ly)?|quadratic(?:ally)?|nearly|most|"
    r"least|undecided)\b", re.I)
THRESHOLD = re.compile(r"\bat (least|most)\b( \{\{[^{}]*\}\})?( times as)?", re.I)  # a criterion, not a verdict
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*(:[^{}]*)?\}\}")
SENTENCE_END = re.compile(r"(?<=[.;:!?])\s+(?=[A-Z*(])|\n\s*\n|\n\s*\* ")


def unguarded(template: str) -> list[str]:
    """The sentences of a prose template with a verdict word and a measured number but no words
    chosen by the run (no format-less placeholder)."""
    text = re.sub(r"\$[^$]*\$", "", template)  # math is notation, not a verdict
    found = []
    for sentence in SENTENCE_END.split(text):
        specs = [spec for _, spec in PLACEHOLDER.findall(sentence)]
        if specs and all(specs) and VERDICT.search(THRESHOLD.sub("", sentence)):
            found.append(" ".join(sentence.split()))
    return found


def prose_templates(path: Path) -> list[tuple[int, str]]:
    nb = nbformat.read(path, as_version=4)
    return [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code" and "prose(" in c.source]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_fixed_verdict_beside_a_measured_number(path):
    bad = [(i, s) for i, t in prose_templates(path) for s in unguarded(t)]
    assert not bad, "verdict words next to measured numbers, not chosen by the run (cell, sentence):\n" + \
        "\n".join(f"  cell {i}: {s[:200]}" for i, s in bad)


@pytest.mark.parametrize("template, n", [
    ("At $N = 4096$ it was {{speedup:.0f}} times faster. The claim holds.", 1),
    ("The fused path is {{ratio:.1f}} times as fast.", 1),
    ("It was {{ratio:.1f}} times {{faster_or_slower}}.", 0),  # the words come from the run
    ("The claim {{holds_or_not}}: {{ratio:.2f}} below the bound.", 0),
    ("The module has {{params:,d}} parameters.", 0),  # a number, no verdict
    ("Self-attention grows quadratically.", 0),  # a verdict, no number of the run: the paper's statement
    ("Fitted where a call takes at least {{k:d}} times as long as the fixed cost.", 0),  # a criterion
    ("At least {{k:d}} of them were faster.", 1),
])
def test_the_detector(template, n):
    assert len(unguarded(template)) == n
