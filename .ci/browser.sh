#!/usr/bin/env bash
# What the browser tests (tests/browser) need: Debian's chromium + chromium-driver, the
# JupyterLab extension built from source (labextension/, npm registry), and that extension
# installed into this Python environment. Idempotent; fast when everything is already there.
#
#   bash .ci/browser.sh            # then: DOJO_REQUIRE_BROWSER=1 python3 -m pytest tests/browser
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
PY="${PYTHON:-python3}"

echo "::: chromium (Debian) for the browser tests"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
chromium --version 2>/dev/null | head -1

echo "::: node for the JupyterLab extension build"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
node --version

echo "::: labextension/: npm ci + build (skipped when dist/ is newer than the sources)"
cd labextension
stamp=dist/static/style.js
newest_src=$(find src style package.json package-lock.json tsconfig.json install.json -type f -newer "$stamp" 2>/dev/null | head -1 || true)
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
  newest_src=rebuild
fi
if [ ! -f "$stamp" ] || [ -n "$newest_src" ]; then
  npm run --silent build:prod
else
  echo "up to date: $(ls dist/static | wc -l) files in labextension/dist"
fi
cd ..

echo "::: the extension in this Python environment (wheel shared-data -> share/jupyter/labextensions/dojo-nb-lab)"
installed="$("$PY" - <<'PY'
import os, sys, filecmp
from jupyter_core.paths import jupyter_path
want = os.path.join("labextension", "dist", "package.json")
for d in jupyter_path("labextensions"):
    p = os.path.join(d, "dojo-nb-lab", "package.json")
    if os.path.isfile(p) and filecmp.cmp(p, want, shallow=False):
        print(p); break
PY
)"
# The wheel's other shared data: the kernelspecs trajectories name, the Compare server extension.
shared_ok="$("$PY" - <<'PY'
import os
from jupyter_core.paths import jupyter_config_path, jupyter_path
kernels = any(os.path.isfile(os.path.join(d, "dojo-local", "kernel.json")) for d in jupyter_path("kernels"))
server = any(os.path.isfile(os.path.join(d, "jupyter_server_config.d", "dojo_nb.json")) for d in jupyter_config_path())
print("yes" if kernels and server else "")
PY
)"
if [ -z "$installed" ] || [ -z "$shared_ok" ]; then
  # Same as CI's install; the hatch hook finds labextension/dist up to date and only copies it.
  "$PY" -m pip install -q -e ".[dev]"
fi
"$PY" -m jupyter labextension list 2>&1 | grep -E "dojo-nb-lab.*enabled.*OK" \
  || { echo "!!! dojo-nb-lab is not enabled in JupyterLab"; "$PY" -m jupyter labextension list; exit 1; }
"$PY" -m jupyter server extension list 2>&1 | grep -E "dojo_nb.views.lab.*enabled" \
  || { echo "!!! the dojo_nb.views.lab server extension is not enabled"; exit 1; }
"$PY" -c "import playwright.sync_api" || { echo "!!! playwright (Python) missing: pip install -e '.[dev]'"; exit 1; }
