#!/usr/bin/env bash
# CI: the README's first two commands, pasted into a clean checkout on a fresh Debian/Ubuntu
# machine (as root, bubblewrap NOT yet installed), must end in a sandboxed episode.
# Run it before anything installs bubblewrap; it uses its own clone and a venv that sees the
# system's packages (so after .ci/run's own pip install the README's install line only links
# the clone: seconds, not a second download).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/dojo-first-contact.XXXXXX)"
trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/dojo-nb"
cd "$work/dojo-nb"

# The commands, exactly as the README's set-up section gives them (the check fails if they drift).
install='pip install -e ".[dev]" && dojo-nb doctor --fix'
run='dojo-nb run --task penguins-species --agent baseline --out runs/penguins'
grep -qF -- "$install" README.md || { echo "README's install line changed: update .ci/first-contact.sh"; exit 1; }
grep -qF -- "$run" README.md || { echo "README's run line changed: update .ci/first-contact.sh"; exit 1; }

# A venv of its own where python3-venv exists; else the ambient Python, as .ci/run uses.
if python3 -m venv --system-site-packages "$work/venv" 2>/dev/null; then export PATH="$work/venv/bin:$PATH"; fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 DEBIAN_FRONTEND=noninteractive
export DOJO_NB_CACHE="$work/cache"
bash -c "$install"
bash -c "$run"

# Sandboxed: the kernel saw the episode at /episode/..., not at host paths.
python3 - <<'PY'
import json
meta = json.load(open("runs/penguins/trajectory.ipynb"))["metadata"]["dojo"]
paths = meta["kernel_paths"]
assert paths["INPUT_DIR"] == "/episode/input", f"the episode ran unsandboxed: {paths}"
print("first contact: a sandboxed episode,", meta["final"].get("medal") or "no medal")
PY
