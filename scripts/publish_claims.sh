#!/usr/bin/env bash
# Regenerates the published evidence for the seed article's claims (issue 15, docs/claims.md):
#   results/tta/{keras,torch}-b32-lr0.001-{own,shared}.json  the seed recipe, 6 seeds, <= 4 epochs, own vs shared init
#   results/sweep-train/                                     the cells that carry claims 2 and 3, 3 seeds, 3 epochs
#   results/sweep-train/seeds-3-8/                           the same cells, seeds 3-8 (issue 21: paired verdicts need
#                                                            >= 6 seeds); each seed stops at its last target
#   results/sweep-train/seeds-9-32/                          the lr-1e-3 and lr-3e-3 cells at batch 32, seeds 9-32, <= 4
#                                                            epochs (issue 21: "halves" needs more pairs)
#   results/sweep-train/step_time_{keras,torch}.json         time per step of batch 32 and 128, alternating blocks
#   results/claims.json                                      every verdict (scripts/claims_numbers.py --write)
# and results/sweep-train/load.log: the load average before and after every run (the machine may be shared).
#
# usage: scripts/publish_claims.sh MNIST.npz [THREADS]     (OUT=DIR writes DIR/tta, DIR/sweep-train, DIR/claims.json)
# THREADS defaults to 1: on a 2-core machine shared with other jobs, PyTorch's two spinning OpenMP threads
# slowed its steps several-fold in a dry run, one thread per framework did not. About 25-30 minutes on 2
# shared cores (load average ~5-7 from other jobs) for the tta and 3-seed sweep parts; the seeds 3-8 part took
# about 45 minutes at a load average of 10-12; the measured times are in load.log.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?usage: scripts/publish_claims.sh MNIST.npz [THREADS]}
THREADS=${2:-1}
SEEDS=3       # per sweep cell
TTA_SEEDS=6   # per framework x init in the ranking runs: 6 seeds are the fewest whose interval reaches 95 %
TARGETS=(--target 0.98 --also-targets 0.97,0.975 --check-every 100 --data "$DATA")
OUT=${OUT:-results}
LOG=$OUT/sweep-train/load.log
mkdir -p "$OUT/sweep-train" "$OUT/tta"
PART=${PART:-all}  # all | tta | backends | sweep | more | more9 | steptime | verdicts
[ "$PART" = all ] && : > "$LOG"
XB=("${PYTHON:-python}" -m xbench.cli)
mark() { echo "$(date -u +%FT%TZ) $1 loadavg $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$LOG"; }

# Framework ranking, own vs shared initial weights: batch 32, lr 1e-3 (the seed recipe); each seed stops at 98 %
# (4 epochs at most: the budget did not allow training every seed on for the plateau; the sweep does, for 3 epochs).
# ABBA order (keras, torch, torch, keras) so that a drift in the machine's load hits both frameworks alike.
case $PART in all|tta) ;; *) SKIP_TTA=1 ;; esac
[ -n "${SKIP_TTA:-}" ] || for run in keras:own torch:own torch:shared keras:shared; do
  fw=${run%%:*}; init=${run##*:}
  mark "start tta $fw init $init"
  "${XB[@]}" --threads "$THREADS" tta --framework "$fw" --batch-size 32 --lr 1e-3 --max-epochs 4 --init "$init" \
    "${TARGETS[@]}" --repeats "$TTA_SEEDS" --quiet --json "$OUT/tta/$fw-b32-lr0.001-$init.json"
  mark "end tta $fw init $init"
done

[ "$PART" = tta ] && exit 0
# Keras's other backends in the ranking (issue 23): the same recipe, own initial weights (steps to 98 % do not
# depend on the machine's load, so these ran beside other work).
if [ "$PART" = backends ]; then
  for fw in keras-jax keras-torch; do
    mark "start tta $fw init own"
    "${XB[@]}" --threads "$THREADS" tta --framework "$fw" --batch-size 32 --lr 1e-3 --max-epochs 4 --init own \
      "${TARGETS[@]}" --repeats "$TTA_SEEDS" --quiet --json "$OUT/tta/$fw-b32-lr0.001-own.json"
    mark "end tta $fw init own"
  done
  exit 0
fi
# Claim 2 (batch 32 vs 128 at lr 1e-3) and claim 3 (lr 1e-3, 3e-3, 3e-2 at batch 32), both frameworks, shared init.
if [ "$PART" = all ] || [ "$PART" = sweep ]; then
  mark "start sweep-train"
  "${XB[@]}" --threads "$THREADS" sweep-train --frameworks keras,torch --cells 32:0.001,128:0.001,32:0.003,32:0.03 \
    --max-epochs 3 --all-epochs --init shared "${TARGETS[@]}" --repeats "$SEEDS" --quiet --out "$OUT/sweep-train"
  mark "end sweep-train"
fi
# Seeds 3-8 of the same cells (issue 21): a sign test among the page's ~17 verdicts needs 9 paired seeds. Steps to
# target do not depend on the load, so the runs go side by side (the published files: one process per cell);
# each seed stops at its last target (no --all-epochs: the time did not allow it), so only seeds 0-2 carry the
# 3-epoch accuracy measures. The lr-1e-3 cell's seeds 3-5 are the ranking runs' (tta, shared init): 6-8 only.
if [ "$PART" = all ] || [ "$PART" = more ]; then
  mark "start sweep-train seeds 3-8"
  MORE=(--max-epochs 3 --init shared "${TARGETS[@]}" --quiet)
  for fw in keras torch; do
    for c in 32:0.003 128:0.001 32:0.03; do
      mkdir -p "$OUT/sweep-train/parts/$fw-$c"
      "${XB[@]}" --threads "$THREADS" sweep-train --frameworks "$fw" --cells "$c" --seed 3 --repeats 6 "${MORE[@]}" \
        --out "$OUT/sweep-train/parts/$fw-$c" &
    done
    mkdir -p "$OUT/sweep-train/parts/$fw-lr1e-3"
    "${XB[@]}" --threads "$THREADS" sweep-train --frameworks "$fw" --cells 32:0.001 --seed 6 --repeats 3 "${MORE[@]}" \
      --out "$OUT/sweep-train/parts/$fw-lr1e-3" &
  done
  wait
  "${PYTHON:-python}" scripts/merge_sweeps.py "$OUT/sweep-train/seeds-3-8" "$OUT"/sweep-train/parts/*-*:*/sweep.json
  "${PYTHON:-python}" scripts/merge_sweeps.py "$OUT/sweep-train/seeds-6-8-lr0.001" \
    "$OUT"/sweep-train/parts/*-lr1e-3/sweep.json
  rm -r "$OUT/sweep-train/parts"
  mark "end sweep-train seeds 3-8"
fi
# Seeds 9-32 of the learning-rate cells (lr 1e-3 and 3e-3 at batch 32; issue 21): "lr 3e-3 at least halves the steps
# to 98 %" has pairs on both sides of 0.5, and 9 pairs could not decide it. One process per framework, side by side
# (steps do not depend on the load); 4 epochs at most, so that every lr-1e-3 seed reaches 98 % (one took 3.0 epochs).
if [ "$PART" = all ] || [ "$PART" = more9 ]; then
  mark "start sweep-train seeds 9-32"
  for fw in keras torch; do
    mkdir -p "$OUT/sweep-train/parts9/$fw"
    "${XB[@]}" --threads "$THREADS" sweep-train --frameworks "$fw" --cells 32:0.001,32:0.003 --seed 9 --repeats 24 \
      --max-epochs 4 --init shared "${TARGETS[@]}" --quiet --out "$OUT/sweep-train/parts9/$fw" &
  done
  wait
  "${PYTHON:-python}" scripts/merge_sweeps.py "$OUT/sweep-train/seeds-9-32" "$OUT"/sweep-train/parts9/*/sweep.json
  rm -r "$OUT/sweep-train/parts9"
  mark "end sweep-train seeds 9-32"
fi
# Time per step of each claim cell: alternating batch-32 / batch-128 blocks, one process per framework.
if [ "$PART" = all ] || [ "$PART" = steptime ]; then
  for fw in keras torch; do
    mark "start step time $fw"
    "${PYTHON:-python}" scripts/claims_step_time.py "$fw" --threads "$THREADS" --data "$DATA" --pairs 16 \
      --block-images 4800 --json "$OUT/sweep-train/step_time_$fw.json"
    mark "end step time $fw"
  done
fi
"${PYTHON:-python}" scripts/claims_numbers.py --write --sweep "$OUT/sweep-train/sweep.json" \
  --more "$OUT/sweep-train/seeds-3-8/sweep.json" "$OUT/sweep-train/seeds-6-8-lr0.001/sweep.json" "$OUT/sweep-train/seeds-9-32/sweep.json" --tta "$OUT/tta" --step-time "$OUT/sweep-train/step_time_*.json" \
  --out "$OUT/claims.json" > /dev/null
