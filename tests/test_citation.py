"""The book says how to reuse and cite it, in one version: CITATION.cff, pyproject.toml, the intro's
BibTeX entry and the site's footer agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_citation_cff_intro_and_package_give_one_version():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    for key in ("cff-version", "message", "title", "authors", "version", "license"):
        assert key in cff, key
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert cff["version"] == version
    assert set(cff["license"]) == {"MIT", "CC-BY-4.0"}
    intro = nbformat.read(ROOT / "book" / "intro.ipynb", as_version=4)
    cite = [c.source for c in intro.cells if c.cell_type == "markdown" and c.source.startswith("## Reuse and cite")]
    assert len(cite) == 1, "the intro has one 'Reuse and cite' section"
    assert re.search(r"version\s*=\s*\{" + re.escape(version) + r"\}", cite[0]), "the BibTeX entry's version"
    assert cff["title"] in cite[0] and "CC BY 4.0" in cite[0] and "MIT" in cite[0]


def test_the_footer_and_the_licence_files_name_both_licences():
    footer = yaml.safe_load((ROOT / "_config.yml").read_text())["html"]["extra_footer"]
    assert "CC BY 4.0" in footer and "MIT" in footer
    assert "CC BY 4.0" in (ROOT / "LICENSE-text.md").read_text()
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
