#!/usr/bin/env bash
# Run HERE (where PyPI is reachable), before a slot on a GPU machine that has no network: download the
# wheels that machine lacks into the git-ignored .whl/ folder and say how big they are. docs/gpu.md.
#
#   scripts/device_prepare.sh [--onnxruntime-gpu]
#
#   .whl/py<VER>/   jsonschema and its dependencies (small: carried in the slot's first call)
#   .whl/py<VER>-onnxruntime-gpu/   with --onnxruntime-gpu: its wheel cut into parts of PART_MIB (default
#                   50) MiB, one part per call, plus onnxruntime-gpu.sha256 (each part and the whole
#                   wheel), which scripts/device_install.sh checks before it joins them there
#
# PYVER (default 3.12, the GPU machine's Python) picks the wheels' Python; the CPU dry run here on
# Python 3.11 uses PYVER=3.11. ORT_GPU_VERSION (default 1.31.1) picks onnxruntime-gpu's version.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
ver=${PYVER:-3.12}
ort_gpu=${ORT_GPU_VERSION:-1.31.1}
part_mib=${PART_MIB:-50}
with_ort=0
case "${1:-}" in
  "") ;;
  --onnxruntime-gpu) with_ort=1 ;;
  *) echo "usage: scripts/device_prepare.sh [--onnxruntime-gpu]" >&2; exit 2 ;;
esac
platforms=(--platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_27_x86_64
           --platform manylinux_2_28_x86_64)
fetch=(download -q --only-binary=:all: --python-version "$ver" --implementation cp "${platforms[@]}")
dest=.whl/py${ver/./}
mkdir -p .whl
tmp=$(mktemp -d .whl/.tmp.XXXXXX)  # nothing half-downloaded is left in place
trap 'rm -rf "$tmp"' EXIT

# jsonschema reads and validates xbench's results files; the GPU machine's image does not have it.
"$PY" -m pip "${fetch[@]}" -d "$tmp/py" "jsonschema>=4.20"
rm -rf "$dest" && mv "$tmp/py" "$dest"
echo "$dest: $(ls "$dest" | wc -l) wheels, $(du -sk "$dest" | cut -f1) KiB: $(ls "$dest" | tr '\n' ' ')"

if [ "$with_ort" -eq 1 ]; then
  "$PY" -m pip "${fetch[@]}" --no-deps -d "$tmp/ort" "onnxruntime-gpu==$ort_gpu"
  wheel=$(cd "$tmp/ort" && ls onnxruntime_gpu-*.whl)
  mkdir "$tmp/parts"
  (cd "$tmp/parts" && split -b "${part_mib}M" -d -a 2 "../ort/$wheel" "$wheel.part-" &&
   sha256sum "$wheel".part-* > onnxruntime-gpu.sha256 &&
   (cd ../ort && sha256sum "$wheel") >> onnxruntime-gpu.sha256)
  parts=$dest-onnxruntime-gpu
  rm -rf "$parts" && mv "$tmp/parts" "$parts"
  echo "$wheel: $(stat -c %s "$tmp/ort/$wheel") bytes, in $(ls "$parts"/*.part-* | wc -l) parts of at most $part_mib MiB:"
  ls -l "$parts" | tail -n +2
fi
