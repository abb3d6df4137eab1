"""A stand-in interpreter for `xbench ab` tests: a block in milliseconds instead of half a minute.

`-c CODE` runs CODE with the real interpreter (the side check); `--collect-only` says 3 benchmarks (none when
the arguments contain "nothingmatches"). `-m pytest ... --xbench-json PART` writes a
results file like one block of the suite would: three benchmarks whose times follow a machine that drifts
from pair to pair (the same factor for both blocks of a pair), times FAKE_FACTOR for the benchmarks whose id
contains FAKE_SLOW (default: all). FAKE_ERROR: every benchmark fails with that message. FAKE_INTERRUPT=N:
the block at position N interrupts `xbench ab` (SIGINT to its parent) instead of finishing.
"""

import json
import os
import random
import signal
import sys
from pathlib import Path

if sys.argv[1] == "-c":
    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])

if "--collect-only" in sys.argv:
    if "nothingmatches" in sys.argv:
        print("no tests collected (3 deselected) in 0.01s")
        sys.exit(5)
    print("3 tests collected in 0.01s")
    sys.exit(0)

from xbench.records import Record, results_document, write_results  # noqa: E402

args = sys.argv[1:]
part = Path(args[args.index("--xbench-json") + 1])
position = int(part.name.split("-")[0])
if Path(os.environ["XBENCH_CEILING_FILE"]) != part.parent.parent / "ceiling.json":
    sys.exit("the block did not get the A/B run's ceiling")
if os.environ.get("FAKE_INTERRUPT") == str(position):
    part.write_text("{half a file")
    os.kill(os.getppid(), signal.SIGINT)
    sys.exit(130)
drift = [1.0, 1.6, 0.8, 2.2, 1.1, 1.4, 0.9, 1.8][(position // 2) % 8]  # both blocks of a pair share it
rng = random.Random(position)
factor = float(os.environ.get("FAKE_FACTOR", "1"))
slow = os.environ.get("FAKE_SLOW", "")
env = {"python": "3.11", "os": "Linux", "cpu": {}, "threads": {"intra_op": int(os.environ.get("FAKE_THREADS", "2"))},
       "versions": {}, "ceiling": json.loads(Path(os.environ["XBENCH_CEILING_FILE"]).read_text())}
records = []
for batch, base_s in ((1, 1e-4), (32, 1e-3), (128, 4e-3)):
    identity = dict(task="inference", framework="torch", runtime="onnxruntime", provider="CPUExecutionProvider",
                    model="seed_cnn", batch_size=batch)
    if os.environ.get("FAKE_ERROR"):
        records.append(Record(status="error", reason=os.environ["FAKE_ERROR"], **identity))
        continue
    rec_id = Record(**identity).id
    f = factor if slow in rec_id else 1.0
    samples = [base_s * drift * f * (1 + 0.01 * rng.random()) for _ in range(20)]
    rec = Record.measured([samples], 1, **identity)
    rec.extra["blocks"] = [{"rounds": 20, "iterations": 1, "median_s": sorted(samples)[10], "first_call_s": 0.1,
                            "started_at": 1.0 + batch / 100}]
    records.append(rec)
write_results(part, results_document(env, records))
print(f"fake block {position}: {len(records)} records")
sys.exit(1 if os.environ.get("FAKE_ERROR") else 0)
