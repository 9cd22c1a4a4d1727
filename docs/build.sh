#!/usr/bin/env bash
# Build the docs site (Jupyter Book 2) into OUT (default out/docs); the site is OUT/html.
#   docs/build.sh [OUT]        `make docs` runs it; tests/docs/test_docs.py runs it into a temp folder
# Offline: Jupyter Book's HTML build normally downloads its book theme at build time. This one builds the same
# theme (myst-theme 1.3.1's book theme, vendored in docs/_theme) from npm packages, once, into THEME (cached
# under the venv), and points the site at it (myst.yml: site.template).
# JUPYTER_BOOK, DOCS_THEME and DOCS_PYTHON override the venv's jupyter-book, theme folder and python.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(realpath -m "${1:-$ROOT/out/docs}")
JB=${JUPYTER_BOOK:-$ROOT/.venv/bin/jupyter-book}
THEME=${DOCS_THEME:-$ROOT/.venv/docs-theme}
[[ $JB == */* ]] && JB=$(realpath -m "$JB") && THEME=$(realpath -m "$THEME")
[ -x "$JB" ] || command -v "$JB" >/dev/null || {
  echo "docs: no $JB: install the docs extra, \`.venv/bin/pip install -e '.[test,docs]'\` (\`make docs\` does)"; exit 1; }
cd "$ROOT"

# 1. The theme: rebuilt when any file in docs/_theme changed (its hash is stamped in THEME/.stamp)
stamp=$(cd docs/_theme && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
if [ "$(cat "$THEME/.stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "docs: building the book theme into $THEME (npm ci + remix build, once)"
  rm -rf "$THEME" && mkdir -p "$THEME" && cp -r docs/_theme/. "$THEME/"
  (cd "$THEME" && npm ci --loglevel=error && npm run --silent build >/dev/null && npm prune --omit=dev --loglevel=error)
  echo "$stamp" > "$THEME/.stamp"
fi

# 2. The sources, staged in OUT/docs: the pages, ARCHITECTURE.md (OUT/ARCHITECTURE.md, included by a page), the
#    topic notebooks: CI's executed copies (out/executed, from `make notebooks` or tests/notebooks) when all are there
rm -rf "$OUT" && mkdir -p "$OUT/docs/notebooks"
cp docs/myst.yml docs/*.md docs/favicon.svg "$OUT/docs/" && cp ARCHITECTURE.md "$OUT/"
ln -s "$THEME" "$OUT/docs/_site_theme"
"${DOCS_PYTHON:-$ROOT/.venv/bin/python}" - >"$OUT/docs/_settings.md" <<'PY'   # the settings table, from the code's own
from kubelab.settings import VARIABLES
cell = lambda text: text.replace("|", "\\|")
print("| variable | what it does | default |\n|---|---|---|")
for name, (_field, what, default) in VARIABLES.items():
    print(f"| `{name}` | {cell(what)} | {cell(default)} |")
PY
executed=yes
for nb in notebooks/*.ipynb; do [ -f "out/executed/$(basename "$nb")" ] || executed=no; done
if [ $executed = yes ]; then
  echo "docs: notebooks from out/executed (the executed copies, with outputs and plots)"
  cp out/executed/*.ipynb "$OUT/docs/notebooks/"
else
  echo "docs: notebooks from notebooks/ (stored without outputs; \`make notebooks\` executes them into out/executed)"
  cp notebooks/*.ipynb "$OUT/docs/notebooks/"
fi

# 3. The HTML: static files in OUT/html (the notebooks are never executed here)
(cd "$OUT/docs" && "$JB" build --html --ci >"$OUT/build.log" 2>&1) || { tail -40 "$OUT/build.log"; echo "docs: the build failed (log: $OUT/build.log)"; exit 1; }
mv "$OUT/docs/_build/html" "$OUT/html"
echo "docs: $OUT/html/index.html"
