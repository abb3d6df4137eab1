#!/usr/bin/env bash
# GPU check for a Linux machine with an NVIDIA GPU: the GPU tests, then the GPU benchmarks
# (CUDA rows, with the CPU rows at the same batch sizes beside them), in under 5 minutes.
# Uses whatever is installed: a framework or package that is missing (say TensorFlow, or
# onnxruntime-gpu) shows up as skipped with its reason, never as a silent gap.
#
#   scripts/gpu_check.sh [RESULTS.json]      (default: results/gpu-<host>-<UTC time>.json)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
out=${1:-results/gpu-$(hostname)-$(date -u +%Y%m%dT%H%M%SZ).json}
mkdir -p "$(dirname "$out")"
if ! $PY -c "import xbench" 2>/dev/null; then
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # run from the checkout without installing
fi
export PYTHONUNBUFFERED=1 XBENCH_OFFLINE=1

echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "nvidia-smi: not found"
$PY - <<'PY'
import importlib
for name in ("torch", "tensorflow", "onnxruntime", "onnx", "onnxscript", "pytest_benchmark", "jsonschema"):
    try:
        mod = importlib.import_module(name)
        extra = ""
        if name == "torch":
            extra = f" cuda={mod.cuda.is_available()}" + (f" ({mod.cuda.get_device_name(0)})" if mod.cuda.is_available() else "")
        if name == "onnxruntime":
            extra = f" providers={mod.get_available_providers()}"
        print(f"{name:17s} {getattr(mod, '__version__', '?')}{extra}")
    except Exception as exc:  # report, don't stop: the benchmarks skip what is missing
        print(f"{name:17s} missing ({type(exc).__name__}: {exc})")
PY

echo "== GPU tests"
timeout 120 $PY -m pytest -p no:cacheprovider -q -rs tests/test_gpu.py tests/test_providers.py
tests=$?

echo "== GPU benchmarks -> $out"
timeout 170 $PY -m pytest tests/benchmarks --benchmark-only -p no:cacheprovider -q -rs \
  --benchmark-max-time=0.25 --benchmark-min-rounds=5 \
  --xbench-providers cpu,cuda --xbench-json "$out" \
  -k "cuda or (onnxruntime and cpu) or (eager and cpu) or (keras-cpu-default)"
bench=$?

if [ -f "$out" ]; then
  $PY -m xbench.cli report "$out" --format md 2>/dev/null || $PY - "$out" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
print("| id | status | median ms | reason |\n|---|---|---|---|")
for r in doc["records"]:
    med = f"{r['stats']['median'] * 1e3:.3f}" if r.get("stats") else ""
    print(f"| {r['id']} | {r['status']} | {med} | {(r.get('reason') or '')[:120]} |")
PY
fi
echo "tests exit $tests, benchmarks exit $bench, results: $out"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
