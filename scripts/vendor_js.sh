#!/usr/bin/env bash
# Vendor the JavaScript the book's pages need into book/_vendor (git-ignored, copied to the site's
# _static by Sphinx's html_static_path), so that no page requests anything from the internet. All
# of it from the npm registry, at pinned versions:
# - MathJax 3 as separate components (startup, core, TeX input, CommonHTML output, assistive
#   MathML for screen readers), without the context menu: 0.7 MB a page instead of the 1.2 MB of
#   tex-mml-chtml.js. _config.yml's mathjax3_config names what is loaded.
# - plotly.js's cartesian partial bundle (heatmap, image, scatter, bar and the other 2-D traces:
#   1.5 MB instead of the full bundle's 4.8 MB), at the version the installed plotly.py carries, so
#   that the figures it writes are drawn by the plotly.js they were written for. attn_edu.sphinxext
#   fails the build on a figure with a trace type the bundle lacks.
# - axe-core, for the accessibility check of the browser test (tests/test_browser.py), into
#   .vendor/axe (outside the site: no page loads it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
MATHJAX=3.2.2
AXE=4.14.1
PLOTLYJS=$("$PY" -c "import plotly.offline; print(plotly.offline.get_plotlyjs_version())")
dest=book/_vendor
stamp="mathjax $MATHJAX, plotly.js-cartesian-dist-min $PLOTLYJS, axe-core $AXE"
if [ -f "$dest/VERSIONS" ] && [ "$(cat "$dest/VERSIONS")" = "$stamp" ] && [ -f .vendor/axe/axe.min.js ]; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm install --silent --no-audit --no-fund --ignore-scripts \
  "mathjax@$MATHJAX" "plotly.js-cartesian-dist-min@$PLOTLYJS" "axe-core@$AXE" >/dev/null)
rm -rf "$dest"
rm -rf .vendor/axe
mkdir -p "$dest/mathjax/output" "$dest/plotly" .vendor/axe
src="$tmp/node_modules/mathjax/es5"
cp "$src/startup.js" "$src/core.js" "$dest/mathjax/"
cp -r "$src/input" "$src/a11y" "$dest/mathjax/"
cp -r "$src/output/chtml" "$src/output/chtml.js" "$dest/mathjax/output/"
cp "$tmp/node_modules/mathjax/LICENSE" "$dest/mathjax/"
cp "$tmp/node_modules/plotly.js-cartesian-dist-min/plotly-cartesian.min.js" "$dest/plotly/"
cp "$tmp/node_modules/plotly.js-cartesian-dist-min/README.md" "$dest/plotly/"
cp "$tmp/node_modules/axe-core/axe.min.js" "$tmp/node_modules/axe-core/LICENSE" .vendor/axe/
echo "$stamp" > "$dest/VERSIONS"
echo "vendored $stamp into $dest ($(du -sh "$dest" | cut -f1)) and .vendor/axe"
