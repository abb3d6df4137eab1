#!/usr/bin/env bash
# Run ON THE GPU MACHINE (no network): install the wheels brought by scripts/device_prepare.sh into
# .whl/site, which scripts/gpu_check.sh puts first on PYTHONPATH. Nothing is installed system-wide and
# nothing needs uninstalling: onnxruntime-gpu in .whl/site shadows the machine's CPU onnxruntime whole.
#
#   scripts/device_install.sh WHEELDIR [--onnxruntime-gpu]
#
# WHEELDIR: e.g. .whl/py312. --onnxruntime-gpu: first join the parts in WHEELDIR-onnxruntime-gpu/ (every
# part must be there and match its onnxruntime-gpu.sha256) and install that wheel too. On any failure: one line, exit 1,
# and .whl/site is left as it was.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
fail() { echo "device_install: error: $*" >&2; exit 1; }
[ $# -ge 1 ] && [ $# -le 2 ] && { [ $# -eq 1 ] || [ "$2" = --onnxruntime-gpu ]; } ||
  { echo "usage: scripts/device_install.sh WHEELDIR [--onnxruntime-gpu]" >&2; exit 2; }
wheels=$1
ls "$wheels"/*.whl >/dev/null 2>&1 || fail "wheel folder $wheels is missing or holds no wheels (run scripts/device_prepare.sh here first)"
extra=()
if [ $# -eq 2 ]; then
  manifest=$wheels-onnxruntime-gpu/onnxruntime-gpu.sha256
  scripts/join_parts.sh "$manifest" .whl/joined || exit 1
  extra=(".whl/joined/$(tail -n 1 "$manifest" | awk '{print $2}')")  # the wheel just verified, no other
fi
rm -rf .whl/site.new
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target .whl/site.new \
  "$wheels"/*.whl "${extra[@]}" || { rm -rf .whl/site.new; fail "pip could not install the wheels in $wheels ${extra[*]}"; }
rm -rf .whl/site && mv .whl/site.new .whl/site
echo "installed into .whl/site: $(ls .whl/site | grep -c dist-info) packages ($(ls .whl/site | sed -n 's/\.dist-info$//p' | tr '\n' ' '))"
