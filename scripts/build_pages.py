"""Build only some pages of the book (plus the intro), for authors working on a chapter.

    python scripts/build_pages.py book/se book/eca     # -> _build_pages/se+eca/_build/html

Same configuration and strictness as `make book` (-W -n --keep-going), but with a table of
contents that lists just these pages, into a folder of its own, so several chapters can be
worked on at once without re-executing the whole book. Check the result in a browser with
`ATTN_EDU_SITE=_build_pages/se+eca/_build/html pytest tests/test_browser.py`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def main(pages: list[str]) -> int:
    if not pages:
        print(__doc__, file=sys.stderr)
        return 2
    pages = [p.removesuffix(".ipynb").removesuffix(".md") for p in pages]
    for p in pages:
        if not any((ROOT / f"{p}{ext}").exists() for ext in (".ipynb", ".md")):
            raise SystemExit(f"build_pages: no page {p}.ipynb or {p}.md under {ROOT}")
    root = yaml.safe_load((ROOT / "_toc.yml").read_text())["root"]
    out = ROOT / "_build_pages" / "+".join(Path(p).name for p in pages)
    out.mkdir(parents=True, exist_ok=True)
    toc = out / "_toc.yml"
    toc.write_text(yaml.safe_dump({"format": "jb-book", "root": root,
                                   "parts": [{"caption": "Pages", "chapters": [{"file": p} for p in pages]}]}))
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(ROOT), "--toc", str(toc), "--path-output", str(out), "-W", "-n", "--keep-going"]
    print(" ".join(cmd), flush=True)
    code = subprocess.call(cmd, cwd=ROOT)
    print(f"site: {out / '_build' / 'html'}")
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
