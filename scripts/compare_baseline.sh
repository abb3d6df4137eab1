#!/usr/bin/env bash
# Judge a results file against the committed baseline of the machine it ran on.
#
# Usage: scripts/compare_baseline.sh NEW.json [xbench compare options...]
#   The machine id comes from NEW's own env (CPU name, family and model, ISA tier, cores, GPUs;
#   `python -m xbench.machine NEW.json`), the baseline is results/baselines/<machine-id>.json.gz (written by
#   scripts/publish_baseline.sh). No baseline for that machine: says there is nothing to gate against yet, names
#   the baselines there are, and exits 0 (a baseline published under an older, best-effort id such as
#   amd-epyc-2c-nogpu cannot say which CPU generation it ran on, so it gates no run of a newer id). Otherwise the exit
#   status is xbench compare's (1 on a regression). Under GitHub Actions the output also goes to the job summary.
#   Python comes from $PYTHON, else python3 on PATH.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
new="${1:?usage: scripts/compare_baseline.sh NEW.json [xbench compare options...]}"
shift
py="${PYTHON:-python3}"
summary="${GITHUB_STEP_SUMMARY:-/dev/null}"

machine="$("$py" -m xbench.machine "$new")"
base=""
for candidate in "$root/results/baselines/$machine.json.gz" "$root/results/baselines/$machine.json"; do
    if [[ -f "$candidate" ]]; then base="$candidate"; break; fi
done
if [[ -z "$base" ]]; then
    echo "No baseline for machine $machine (results/baselines/$machine.json.gz): nothing to gate against yet." \
         "This run's results are kept as the job's artifact; publish a baseline on this machine with" \
         "scripts/publish_baseline.sh and commit it." | tee -a "$summary"
    shopt -s nullglob
    have=("$root"/results/baselines/*.json.gz "$root"/results/baselines/*.json)
    if (( ${#have[@]} )); then
        have=("${have[@]##*/}") && have=("${have[@]%.gz}") && have=("${have[@]%.json}")
        echo "Baselines of other machine ids: ${have[*]}." | tee -a "$summary"
    fi
    exit 0
fi
echo "baseline for machine $machine: ${base#"$root"/}" >&2
"$py" -m xbench.cli compare "$base" "$new" "$@" | tee -a "$summary"
