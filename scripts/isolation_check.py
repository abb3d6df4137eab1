"""Does running Keras and PyTorch in one process change their timings?

Runs the CPU suite twice in one process (`pytest --benchmark-only`, both
frameworks) and twice with one process per framework (`xbench run`),
alternating, then compares per-benchmark medians: the shift between the two
modes against the run-to-run noise within each mode. Writes a markdown table.

    python scripts/isolation_check.py [OUT.md]   (about 5 minutes on 2 cores)
"""

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARGS = ["-q", "-k", "cpu and not cuda", "--xbench-providers", "cpu", "--benchmark-max-time=0.5"]


def suite(mode: str, out: Path) -> dict:
    if mode == "one process":
        cmd = [sys.executable, "-m", "pytest", "xbench/bench/suite", "--benchmark-only", "-p", "no:cacheprovider",
               "--xbench-json", str(out), *ARGS]
    else:
        cmd = [sys.executable, "-m", "xbench.cli", "run", "--json", str(out), "--", *ARGS]
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    doc = json.loads(out.read_text())
    return {r["id"]: r["stats"]["median"] for r in doc["records"] if r["status"] == "ok"}


def main() -> None:
    out_md = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    runs = {"one process": [], "per framework": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(2):
            for mode in runs:
                print(f"run {i + 1}: {mode}", file=sys.stderr, flush=True)
                runs[mode].append(suite(mode, Path(tmp) / f"{mode.replace(' ', '_')}{i}.json"))
    ids = sorted(set.intersection(*(set(r) for rs in runs.values() for r in rs)))
    lines = ["| benchmark | one process (ms) | per framework (ms) | shift | noise within one process | noise per framework |",
             "|---|---:|---:|---:|---:|---:|"]
    shifts, noises = [], []
    for i in ids:
        a = [r[i] for r in runs["one process"]]
        b = [r[i] for r in runs["per framework"]]
        shift = statistics.fmean(a) / statistics.fmean(b) - 1
        na, nb = abs(a[0] / a[1] - 1), abs(b[0] / b[1] - 1)
        shifts.append(abs(shift))
        noises.append(max(na, nb))
        lines.append(f"| {i} | {statistics.fmean(a) * 1e3:.3f} | {statistics.fmean(b) * 1e3:.3f} | {shift:+.1%} | "
                     f"{na:.1%} | {nb:.1%} |")
    summary = (f"\nMedian |shift| between modes: {statistics.median(shifts):.1%}; median run-to-run noise: "
               f"{statistics.median(noises):.1%}; benchmarks whose shift exceeds twice their noise and 10%: "
               f"{sum(s > max(2 * n, 0.10) for s, n in zip(shifts, noises))} of {len(ids)}.")
    text = "\n".join(lines) + "\n" + summary + "\n"
    print(text)
    if out_md:
        out_md.write_text(text)


if __name__ == "__main__":
    main()
