"""tests/_raw_myst.py: each pattern finds its construct, in source and in rendered form, and clean Markdown passes."""

from __future__ import annotations

import pytest

from _raw_myst import RAW_MYST_PATTERNS, find_raw_myst


@pytest.mark.parametrize("text, name", [
    ("the class explains {glue:text}`se_eta_1:.2f` of it", "{glue:...} role"),
    ("the class explains {glue:text}se_eta_1:.2f of it", "{glue:...} role"),     # as JupyterLab renders it
    ("the SE block {cite:p}`hu2018squeeze` lets", "{cite...} role"),
    ("Eq. {eq}se-excite", "{eq} role"),
    ("({ref}`channel-family`)", "{ref} role"),
    ("see {doc}`cost`", "{doc} role"),
    (":::{admonition} Faithfulness\n:class: note\n:::", ":::{...} directive"),
    ("```{bibliography}\n:filter: docname in docnames\n```", "```{...} directive"),
    ("text\n\n(channel-family)=\n\nThe family", "(label)= target"),
    ("$$\nz_c = F_{sq}(u_c)\n$$ (se-squeeze)", "$$ (label) equation label"),
    ("\n$$ (se-squeeze)", "$$ (label) equation label"),                          # typeset math, then the label
    ("```{bibliography}\n:filter: docname in docnames\n```", ":option: of a directive"),
    ("between-class SD {{se_between_4:.3f}}", "unfilled {{placeholder}}"),
    ("see {numref}`fig-maps`", "any {role}`...` in source"),
    ("text\n:::\nmore", "::: colon fence"),
])
def test_each_construct_is_found(text, name):
    assert name in RAW_MYST_PATTERNS
    found = find_raw_myst(text, "cell 3")
    assert any(f.startswith(f"cell 3: {name}: ") for f in found), found


def test_plain_markdown_passes():
    text = ("# Squeeze-and-Excitation\n\nThe SE block ([Hu et al., 2018](https://arxiv.org/abs/1709.01507)) gates\n"
            "each channel: $s = \\sigma(W_2 \\delta(W_1 z))$, with\n\n$$\nz_c = \\frac{1}{HW} \\sum_{i,j} u_c(i, j)"
            " \\tag{1}\n$$\n\n> **Faithfulness**\n>\n> | paper | code |\n> |---|---|\n> | (a) | {x} |\n\n"
            "```python\nd = {'a': 1}\nprint(f\"{d['a']}\")\n```\n")
    assert find_raw_myst(text) == []
