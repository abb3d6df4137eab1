#!/usr/bin/env bash
# GPU check for a Linux machine with an NVIDIA GPU, in three timed passes whose results land in OUTDIR:
#   1. the GPU tests (tests/test_gpu.py, tests/test_providers.py);
#   2. the benchmarks: CUDA rows, with the CPU rows at the same batch sizes beside them (2 blocks each);
#   3. torch.compile on CUDA in its own pass (a cold compile per shape; its own timeout);
#   4. data-parallel training over NCCL (xbench scale --device cuda) when there are 2+ GPUs, else skipped with the
#      reason (GPU_CHECK_SCALE set to an empty value leaves it out).
# Runs from a copied source tree (xbench not installed: it registers its pytest plugin itself) and
# needs no TensorFlow: what is missing here (TensorFlow, onnxruntime-gpu, a GPU) becomes `skipped`
# rows with the reason. The report is printed even when some rows fail. docs/gpu.md: how to use it.
#
#   scripts/gpu_check.sh OUTDIR
#
# OUTDIR gets main.json, compile.json, scale.json (xbench results), report.md, machine.txt and one log per pass.
# Wheels installed by scripts/device_install.sh into .whl/site (onnxruntime-gpu, jsonschema) are used first.
# GPU_CHECK_TESTS (test files of pass 1), GPU_CHECK_SELECT / GPU_CHECK_COMPILE_SELECT (pytest -k of
# passes 2 and 3) narrow the run; set to an empty value, a pass is left out.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ $# -ne 1 ]; then
  echo "usage: scripts/gpu_check.sh OUTDIR" >&2
  exit 2
fi
out=$1
if ! mkdir -p "$out" 2>/dev/null || ! probe=$(mktemp "$out/.write-test.XXXXXX" 2>/dev/null); then
  echo "gpu_check: error: results folder $out cannot be created or written" >&2
  exit 2
fi
rm -f "$probe"

export PYTHONUNBUFFERED=1 XBENCH_OFFLINE=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -d .whl/site ]; then
  export PYTHONPATH="$PWD/.whl/site:$PYTHONPATH"  # ahead of the system's packages (onnxruntime-gpu over onnxruntime)
fi
if [ -d .whl/site/onnxruntime ]; then
  # onnxruntime-gpu looks for CUDA 13 and cuDNN 9 on the loader's path; PyTorch's CUDA build brings them
  # as nvidia-* wheels. (ONNX Runtime is imported after torch as well: xbench.runtimes.onnxruntime.ort.)
  nv=$("$PY" -c 'import site, pathlib; print(":".join(str(d) for s in site.getsitepackages()
    for d in sorted(pathlib.Path(s).glob("nvidia/**/lib")) if any(d.glob("*.so*"))))' 2>/dev/null)
  [ -n "$nv" ] && export LD_LIBRARY_PATH="$nv${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# The plugin is registered by the pytest11 entry point of an installed xbench; from a copied tree
# pytest must be told (-p). Both at once would register it twice, which pytest refuses.
plugin=()
if ! (cd / && "$PY" -c 'import sys; from importlib.metadata import entry_points
sys.exit(not any(e.value == "xbench.bench.options" for e in entry_points(group="pytest11")))') 2>/dev/null; then
  plugin=(-p xbench.bench.options)
fi

{
  echo "== machine ($(date -u +%FT%TZ), $(uname -m), tree $PWD, plugin: ${plugin[*]:-installed entry point})"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "nvidia-smi: not found"
  "$PY" - <<'PY'
import importlib
import sys

print(f"python            {sys.version.split()[0]} ({sys.executable})")
for name in ("torch", "tensorflow", "onnxruntime", "onnx", "onnxscript", "pytest_benchmark", "jsonschema"):
    try:
        mod = importlib.import_module(name)  # torch first: ONNX Runtime's CUDA build wants it that way
        extra = ""
        if name == "torch":
            extra = f" cuda={mod.cuda.is_available()}" + (f" ({mod.cuda.get_device_name(0)})" if mod.cuda.is_available() else "")
        if name == "onnxruntime":
            extra = f" providers={mod.get_available_providers()} from {mod.__file__}"
        print(f"{name:17s} {getattr(mod, '__version__', '?')}{extra}")
    except Exception as exc:  # report, don't stop: the benchmarks skip what is missing
        print(f"{name:17s} missing ({type(exc).__name__}: {exc})")
PY
} 2>&1 | tee "$out/machine.txt"

common=(-p no:cacheprovider -q -rs "${plugin[@]}")
# 2 blocks of 0.25 s; rounds of at least 0.5 ms (several calls each for fast rows) keep a results file
# of ~100 records to a few MB. The CPU-only precisions (int8, bf16) stay out of the short GPU slot;
# fp16 (CUDA, TensorRT) stays in.
bench=(xbench/bench/suite --benchmark-only "${common[@]}" --benchmark-max-time=0.5 --benchmark-min-time=0.0005
       --benchmark-min-rounds=5 --xbench-blocks 2 --xbench-providers cpu,cuda --xbench-dtypes float32,float16)
status=0

tests=${GPU_CHECK_TESTS-tests/test_gpu.py tests/test_providers.py}
if [ -n "$tests" ]; then
  echo "== GPU tests"
  # shellcheck disable=SC2086  # a list of test files
  timeout 120 "$PY" -m pytest "${common[@]}" $tests 2>&1 | tee "$out/tests.log"
  rc=${PIPESTATUS[0]}; echo "GPU tests exit $rc"; [ "$rc" -eq 0 ] || status=1
fi

select=${GPU_CHECK_SELECT-not compile and not train_epoch and (cuda or (onnxruntime and cpu) or (eager and cpu) or keras-cpu-default)}
if [ -n "$select" ]; then
  echo "== GPU benchmarks -> $out/main.json"
  timeout 240 "$PY" -m pytest "${bench[@]}" --xbench-json "$out/main.json" -k "$select" 2>&1 | tee "$out/main.log"
  rc=${PIPESTATUS[0]}; echo "benchmarks exit $rc"; [ "$rc" -eq 0 ] || status=1
fi

select=${GPU_CHECK_COMPILE_SELECT-torch-cuda-compile}
if [ -n "$select" ]; then
  echo "== torch.compile on CUDA, one cold compile per shape -> $out/compile.json"
  timeout 180 "$PY" -m pytest "${bench[@]}" --xbench-json "$out/compile.json" --xbench-models seed_cnn \
    --xbench-blocks 1 -k "$select" 2>&1 | tee "$out/compile.log"
  rc=${PIPESTATUS[0]}; echo "compile exit $rc"; [ "$rc" -eq 0 ] || status=1
fi

# Data-parallel training over NCCL (xbench scale, docs/scaling.md): needs two GPUs or more.
ngpu=$(nvidia-smi -L 2>/dev/null | grep -c "^GPU" || true)
if [ "${GPU_CHECK_SCALE-1}" != "" ] && [ "${ngpu:-0}" -ge 2 ]; then
  echo "== data-parallel training, torchrun + DDP over NCCL on 1..$ngpu GPUs -> $out/scale.json"
  sizes=1; n=2; while [ "$n" -le "$ngpu" ]; do sizes="$sizes,$n"; n=$((n * 2)); done
  timeout 300 "$PY" -m xbench.cli scale --device cuda --frameworks torch --world-sizes "$sizes" \
    --threads-per-worker 1 --timeout 240 --json "$out/scale.json" 2>&1 | tee "$out/scale.log"
  rc=${PIPESTATUS[0]}; echo "scale exit $rc"; [ "$rc" -eq 0 ] || status=1
elif [ "${GPU_CHECK_SCALE-1}" != "" ]; then
  echo "== data-parallel training over NCCL: skipped: it needs 2 or more GPUs, this machine has ${ngpu:-0}"
fi

files=()
for f in "$out/main.json" "$out/compile.json" "$out/scale.json"; do [ -f "$f" ] && files+=("$f"); done
if [ ${#files[@]} -gt 0 ]; then
  echo "== report"
  { "$PY" -m xbench.cli report "${files[@]}" --format md 2>/dev/null || "$PY" - "${files[@]}" <<'PY'
import json
import sys

print("| id | status | median ms | reason |\n|---|---|---|---|")
for path in sys.argv[1:]:
    for r in json.load(open(path))["records"]:
        med = f"{r['stats']['median'] * 1e3:.3f}" if r.get("stats") else ""
        print(f"| {r['id']} | {r['status']} | {med} | {(r.get('reason') or '')[:160]} |")
PY
  } | tee "$out/report.md"
  "$PY" - "${files[@]}" <<'PY' || status=1
import json
import sys

records = [r for path in sys.argv[1:] for r in json.load(open(path))["records"]]
counts = {s: sum(r["status"] == s for r in records) for s in ("ok", "skipped", "error")}
print(f"records: {counts['ok']} ok, {counts['skipped']} skipped, {counts['error']} error")
for r in records:
    if r["status"] == "error":
        print(f"error: {r['id']}: {r.get('reason')}")
sys.exit(1 if counts["error"] else 0)
PY
else
  echo "no results were written"
  status=1
fi
echo "gpu_check: exit $status, results in $out"
exit $status
