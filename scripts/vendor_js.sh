#!/usr/bin/env bash
# Vendor the JavaScript the book's pages need into book/_vendor (git-ignored, copied to the site's
# _static by Sphinx's html_static_path), so that no page requests anything from the internet. All
# of it from the npm registry, at pinned versions:
# - MathJax 3 as separate components (startup, core, TeX input, CommonHTML output, assistive
#   MathML for screen readers), without the context menu: 0.7 MB a page instead of the 1.2 MB of
#   tex-mml-chtml.js. _config.yml's mathjax3_config names what is loaded.
# - plotly.js as a custom bundle of the traces the book draws (scatter, bar, heatmap, image:
#   scripts/plotly_bundle/index.js), built with esbuild as plotly.js builds its own dist files
#   (its CUSTOM_BUNDLE.md): 1.33 MB, where the cartesian partial bundle is 1.5 MB and the full one
#   4.8 MB. At the version the installed plotly.py carries, so that the figures it writes are drawn
#   by the plotly.js they were written for. attn_edu.sphinxext fails the build on a figure with a
#   trace type the bundle lacks.
# - GitHub's mark from @primer/octicons (MIT), an inline SVG in the header's repository button:
#   the theme draws it with Font Awesome's brands font, 0.12 MB a page for one icon.
# - axe-core, for the accessibility check of the browser test (tests/test_browser.py), into
#   .vendor/axe (outside the site: no page loads it).
# - reveal.js, for the teacher's edition's slides (scripts/course_slides.py copies it beside the
#   decks), into .vendor/reveal, outside the site too: the script, its CSS and the white theme
#   (whose fonts are inlined as data: URLs), 0.7 MB, without the plugins the decks do not load.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
MATHJAX=3.2.2
AXE=4.14.1
ESBUILD=0.25.0
OCTICONS=19.15.5
REVEAL=6.0.2
PLOTLYJS=$("$PY" -c "import plotly.offline; print(plotly.offline.get_plotlyjs_version())")
dest=book/_vendor
stamp="mathjax $MATHJAX, plotly.js $PLOTLYJS (bar heatmap image scatter, esbuild $ESBUILD), octicons $OCTICONS, axe-core $AXE, reveal.js $REVEAL"
if [ -f "$dest/VERSIONS" ] && [ "$(cat "$dest/VERSIONS")" = "$stamp" ] && [ -f .vendor/axe/axe.min.js ] \
  && [ -f .vendor/reveal/dist/reveal.js ]; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# plotly.js's build dependencies at the versions its package.json asks for (buffer and the esbuild plugins)
(cd "$tmp" && npm install --silent --no-audit --no-fund --ignore-scripts \
  "mathjax@$MATHJAX" "plotly.js@$PLOTLYJS" "axe-core@$AXE" "@primer/octicons@$OCTICONS" "esbuild@$ESBUILD" "reveal.js@$REVEAL" \
  buffer@6.0.3 esbuild-plugin-environment@0.5.0 esbuild-plugin-glsl@1.4.2 esbuild-plugin-inline-css@0.0.1 >/dev/null)
rm -rf "$dest"
rm -rf .vendor/axe .vendor/reveal
mkdir -p "$dest/mathjax/output" "$dest/plotly" .vendor/axe .vendor/reveal/dist/theme
src="$tmp/node_modules/mathjax/es5"
cp "$src/startup.js" "$src/core.js" "$dest/mathjax/"
cp -r "$src/input" "$src/a11y" "$dest/mathjax/"
cp -r "$src/output/chtml" "$src/output/chtml.js" "$dest/mathjax/output/"
cp "$tmp/node_modules/mathjax/LICENSE" "$dest/mathjax/"
cp scripts/plotly_bundle/index.js scripts/plotly_bundle/build.js "$tmp/"   # beside its node_modules
node "$tmp/build.js" "$dest/plotly/plotly-book.min.js"
cp "$tmp/node_modules/plotly.js/LICENSE" "$dest/plotly/"
mkdir -p "$dest/octicons"
cp "$tmp/node_modules/@primer/octicons/build/svg/mark-github-16.svg" "$tmp/node_modules/@primer/octicons/LICENSE" "$dest/octicons/"
cp "$tmp/node_modules/axe-core/axe.min.js" "$tmp/node_modules/axe-core/LICENSE" .vendor/axe/
src="$tmp/node_modules/reveal.js"
cp "$src/dist/reveal.js" "$src/dist/reveal.css" .vendor/reveal/dist/
cp "$src/dist/theme/white.css" .vendor/reveal/dist/theme/
cp "$src/LICENSE" .vendor/reveal/
echo "$stamp" > "$dest/VERSIONS"
echo "vendored $stamp into $dest ($(du -sh "$dest" | cut -f1)), .vendor/axe and .vendor/reveal"
