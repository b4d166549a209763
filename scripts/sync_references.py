"""Citations and reference lists of the chapters, from references.bib (one source).

Chapters cite as plain Markdown links, ``[Hu et al., 2018](https://arxiv.org/abs/1709.01507)``,
which every front-end renders (site, JupyterLab, Notebook 7, Colab). The ``## References`` cell of
each notebook lists the works its Markdown links to, written by this script from references.bib.
``tests/test_portable_markup.py`` checks that every citation's text matches its entry and that
every list is up to date. Run after citing a new work:

    .venv/bin/python scripts/sync_references.py          # rewrite the lists
    .venv/bin/python scripts/sync_references.py --check  # exit 1 if a list is out of date
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
BIB = ROOT / "references.bib"
HEADING = "## References"


def _field(body: str, name: str) -> str | None:
    m = re.search(rf"^\s*{name}\s*=\s*\{{(.*)\}},?\s*$", body, re.M)
    return m.group(1).strip() if m else None


def _latex(text: str) -> str:
    text = text.replace(r"{\L}", "Ł").replace(r"\L{}", "Ł")
    return re.sub(r"[{}]", "", text)


def load_bib(path: Path = BIB) -> dict[str, dict[str, object]]:
    """``{key: {"authors": [(last, first)], "year", "title", "venue", "url"}}`` from a plain BibTeX file."""
    entries: dict[str, dict[str, object]] = {}
    for m in re.finditer(r"@(\w+)\{([^,\s]+),(.*?)\n\}", path.read_text(encoding="utf-8"), re.S):
        key, body = m.group(2), m.group(3)
        authors = []
        for a in _latex(_field(body, "author") or "").split(" and "):
            last, _, first = a.partition(",")
            authors.append((last.strip(), first.strip()))
        entries[key] = {
            "authors": authors,
            "year": _field(body, "year"),
            "title": _latex(_field(body, "title") or ""),
            "venue": _latex(_field(body, "booktitle") or _field(body, "journal") or ""),
            "url": _field(body, "url"),
        }
        if not entries[key]["url"]:
            raise ValueError(f"references.bib: entry {key} has no url (citations link to it)")
    return entries


def author_year(entry: dict[str, object]) -> str:
    lasts = [last for last, _ in entry["authors"]]  # type: ignore[union-attr]
    who = lasts[0] if len(lasts) == 1 else f"{lasts[0]} and {lasts[1]}" if len(lasts) == 2 else f"{lasts[0]} et al."
    return f"{who}, {entry['year']}"


def cite(keys: list[str], bib: dict[str, dict[str, object]], parenthetical: bool = True) -> str:
    """Markdown for a citation of ``keys``: ``([Hu et al., 2018](url); [Wang et al., 2020](url))``."""
    links = "; ".join(f"[{author_year(bib[k])}]({bib[k]['url']})" for k in keys)
    return f"({links})" if parenthetical else links


def reference(entry: dict[str, object]) -> str:
    names = [f"{last}, {''.join(p[0] + '.' for p in first.replace('-', ' ').split() if p)}".rstrip(", ")
             for last, first in entry["authors"]]  # type: ignore[union-attr]
    who = names[0] if len(names) == 1 else " and ".join(names) if len(names) == 2 else \
        ", ".join(names[:-1]) + ", and " + names[-1]
    return f"{who} ({entry['year']}). [{entry['title']}]({entry['url']}). *{entry['venue']}*."


def cited_keys(text: str, bib: dict[str, dict[str, object]]) -> list[str]:
    """The entries ``text`` links to, in the order of the reference list (first author, year)."""
    by_url = {str(e["url"]): k for k, e in bib.items()}
    keys = {by_url[u] for u in re.findall(r"\]\((https?://[^)\s]+)\)", text) if u in by_url}
    return sorted(keys, key=lambda k: (bib[k]["authors"][0][0].lower(), bib[k]["year"], k))  # type: ignore[index]


def reference_cell(text: str, bib: dict[str, dict[str, object]]) -> str:
    keys = cited_keys(text, bib)
    return HEADING + "\n\n" + "\n".join(f"- {reference(bib[k])}" for k in keys)


def reader_parts(nb) -> list[tuple[str, str]]:
    """(where, text) of what a reader sees as rendered text: Markdown cells and Markdown outputs."""
    out = []
    for i, c in enumerate(nb.cells):
        if c.cell_type == "markdown":
            out.append((f"cell {i} (markdown)", c.source))
        elif c.cell_type == "code":
            for o in c.get("outputs", []):
                md = o.get("data", {}).get("text/markdown")
                if md:
                    out.append((f"cell {i} (Markdown output)", "".join(md)))
    return out


def notebook_text(nb) -> str:
    """What a reader reads (:func:`reader_parts`), without the References cell this script writes."""
    return "\n".join(text for _, text in reader_parts(nb) if not text.startswith(HEADING))


def sync(path: Path, bib: dict[str, dict[str, object]], check: bool) -> bool:
    """Rewrite (or check) the References cell of one notebook; True if it was up to date."""
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "markdown" and c.source.startswith(HEADING)]
    if not cells:
        return True
    want = reference_cell(notebook_text(nb), bib)
    if cells[0].source == want:
        return True
    if not check:
        cells[0].source = want
        nbformat.write(nb, path)
    return False


def main(argv: list[str]) -> int:
    check = "--check" in argv
    bib = load_bib()
    stale = [p.name for p in sorted((ROOT / "book").glob("*.ipynb")) if not sync(p, bib, check)]
    if stale:
        print(("out of date: " if check else "updated: ") + ", ".join(stale))
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
