#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "the benchmark needs root (loop devices): sudo npm run bench" >&2; exit 1; }
bash scripts/deps.sh btrbk
node "dist/bench/${1:-bench}.js"
