#!/usr/bin/env bash
# Vendor the JavaScript the book's pages need into book/_vendor (git-ignored), so that no page
# requests anything from the internet: MathJax 3 from the npm registry. plotly.js comes from the
# installed plotly package (attn_edu/sphinxext.py copies it).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=book/_vendor
if [ -f "$dest/mathjax/tex-mml-chtml.js" ]; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm install --silent --no-audit --no-fund --ignore-scripts mathjax@3.2.2 >/dev/null)
src="$tmp/node_modules/mathjax/es5"
mkdir -p "$dest/mathjax/output"
cp "$src/tex-mml-chtml.js" "$dest/mathjax/"
cp -r "$src/input" "$src/ui" "$src/a11y" "$src/adaptors" "$dest/mathjax/"
cp -r "$src/output/chtml" "$src/output/chtml.js" "$dest/mathjax/output/"
echo "vendored MathJax 3.2.2 into $dest ($(du -sh "$dest" | cut -f1))"
