"""Time to accuracy: train until the test accuracy reaches --target, --repeats times (seeds
seed, seed+1, ...), and report how long it took.

Accuracy is measured on the whole test set after every epoch (and every --eval-every
steps). Times are split into the training clock (optimizer steps only; this is the
figure in samples_s) and the evaluation clock; wall time is both plus loop overhead.
A target that is never reached within --max-epochs is a result (reached: false, with
the best accuracy), not an error. Diverging or collapsing runs are flagged.

--also-targets reads further targets off the same runs; per target the record holds the
median time over seeds with its order-statistic interval (median_ci95) and the fraction of
seeds that reached it. --check-every K checks accuracy every K steps on a fixed 2,000-image
test slice, confirmed on the full test set near a target. --init shared starts every
framework from the same weights; --all-epochs trains on after the targets (the plateau).

Example:  xbench tta --framework torch --target 0.98 --data mnist.npz --json t.json
          xbench tta --framework keras --target 0.98 --also-targets 0.97,0.975 --check-every 100 --init shared
"""

from __future__ import annotations

import sys

from xbench.commands._common import check_json_out, data_arg, framework_arg, model_arg
from xbench.errors import UserError

HELP = "time to a target test accuracy (training vs evaluation time, accuracy curve, R repeats)"
ORDER = 50


def add_arguments(p) -> None:
    framework_arg(p, help="framework to train in")
    model_arg(p)
    p.add_argument("--target", required=True, type=float, metavar="ACC", help="test accuracy to reach, in (0, 1]")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default: 32, the seed article's)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: the spec's, 1e-3)")
    p.add_argument("--max-epochs", type=int, default=10, help="give up after this many epochs (default: 10)")
    p.add_argument("--repeats", type=int, default=3,
                   help="independent runs, seeds seed..seed+R-1; the median and spread are reported (default: 3)")
    p.add_argument("--eval-every", type=int, default=None, metavar="K",
                   help="also measure test accuracy every K steps within an epoch (default: after each epoch only)")
    run_options(p, check_every=None)
    p.add_argument("--seed", type=int, default=0, help="first seed (default: 0)")
    data_arg(p)
    p.add_argument("--json", metavar="PATH", help="write the results file (xbench results schema) here")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-evaluation lines")


def targets_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UserError(f"--also-targets: expected comma-separated accuracies, e.g. 0.97,0.975, got {text!r}") from None


def run_options(p, check_every: int | None, also_targets: str = "") -> None:
    """Options shared with sweep-train: extra targets, slice checks, initial weights, training past the target."""
    from xbench.training.shared_init import HELP as INIT_HELP

    p.add_argument("--also-targets", default=also_targets, metavar="ACC,...",
                   help="further targets read off the same runs, e.g. 0.97,0.975 below a 0.98 plateau target "
                        f"(default: {also_targets or 'none'})")
    p.add_argument("--check-every", type=int, default=check_every, metavar="K",
                   help="check accuracy every K steps on a fixed 2,000-image slice of the test set and confirm on "
                        "the full test set when the slice comes within one standard error of a target not yet "
                        "reached: times to target resolved to K steps, evaluation off the training clock "
                        f"(default: {check_every or 'no checks'})")
    p.add_argument("--init", default="own", metavar="{own,shared}", help=INIT_HELP)
    p.add_argument("--all-epochs", action="store_true",
                   help="keep training to --max-epochs after the targets are reached, to measure the plateau "
                        "(accuracy at each epoch end, mean ± sd over seeds); default: stop at the last target")


def run(args) -> int:
    from xbench import machine
    from xbench.report import tta as tta_text
    from xbench.training import tta
    from xbench.data import load_mnist
    from xbench.records import results_document, write_results
    from xbench.spec import load_spec

    spec = load_spec(args.model)
    lr = spec.learning_rate if args.lr is None else args.lr
    targets = targets_list(args.also_targets)
    tta.check_settings(args.target, args.batch_size, lr, args.max_epochs, args.repeats, args.eval_every, targets,
                       args.init, args.check_every)
    check_json_out(args.json)
    data = load_mnist(args.data, allow_download=True)
    say = lambda text: print(text, file=sys.stderr)  # noqa: E731 - progress on stderr, the summary on stdout
    say(f"time to {args.target:g} test accuracy: {spec.name} in {args.framework}, batch {args.batch_size}, "
        f"Adam lr {lr:g}, at most {args.max_epochs} epochs, {args.repeats} repeat(s) from seed {args.seed}, "
        f"accuracy measured {'every %d steps and ' % args.eval_every if args.eval_every else ''}after each epoch"
        f"{', checked every %d steps on a test slice' % args.check_every if args.check_every else ''}, "
        f"init {args.init}, on {data.label}")
    if data.kind != "full":
        say("note: this is the embedded 6,000-image subset, not full MNIST; pass --data PATH to the full "
            "MNIST .npz for real time-to-accuracy figures")
    runs = tta.measure(args.framework, spec, data, args.target, args.batch_size, lr, args.max_epochs,
                       args.repeats, args.seed, args.eval_every, progress=not args.quiet,
                       log=None if args.quiet else say, targets=targets, check_every=args.check_every,
                       init=args.init, all_epochs=args.all_epochs)
    record = tta.make_record(args.framework, spec, data, runs, args.batch_size, lr, args.max_epochs,
                             args.eval_every, args.all_epochs)
    print(tta_text.summary_line(record.to_dict()))
    if args.json:
        write_results(args.json, results_document(machine.collect(), [record]))
        say(f"wrote {args.json}")
    return 0
