"""Train a model spec on real MNIST in one framework, printing loss, test accuracy and
seconds per epoch. Both frameworks see the same data order, seed and hyperparameters;
the trained weights are saved where `xbench export` picks them up.

The clock per epoch counts the optimizer steps only; evaluation is timed separately.
"""

from __future__ import annotations

import sys

from xbench.commands._common import (check_json_out, data_arg, framework_arg, model_arg, positive_float,
                                     positive_int, write_json)

HELP = "train a model on MNIST in Keras or PyTorch"
ORDER = 10


def add_arguments(p) -> None:
    framework_arg(p, help="framework to train in")
    model_arg(p)
    p.add_argument("--epochs", type=positive_int, default=3, help="epochs (default: 3)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="batch size (default: 32, the seed article's)")
    p.add_argument("--lr", type=positive_float, default=None, help="learning rate (default: the spec's, 1e-3 for Adam)")
    data_arg(p)
    p.add_argument("--seed", type=int, default=0, help="seed for initialisation and data order (default: 0)")
    p.add_argument("--json", metavar="PATH", help="write a JSON summary here")
    p.add_argument("--no-save", action="store_true", help="do not save the trained weights")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from xbench import frameworks
    from xbench.data import load_mnist
    from xbench.paths import weights_path
    from xbench.spec import load_spec
    from xbench.training.train import train
    from xbench.training.weights import save_sidecar

    spec = load_spec(args.model)
    check_json_out(args.json)
    data = load_mnist(args.data, allow_download=True)
    lr = args.lr or spec.learning_rate
    print(f"training {spec.name} ({spec.num_params:,} parameters) in {args.framework}: {args.epochs} epochs, "
          f"batch {args.batch_size}, Adam lr {lr:g}, seed {args.seed}, on {data.label}", file=sys.stderr)
    if data.kind != "full":
        print("note: this is the embedded subset; pass --data PATH to the full MNIST .npz for real accuracy figures",
              file=sys.stderr)
    result, model = train(args.framework, spec, data, args.epochs, args.batch_size, lr, args.seed,
                          progress=not args.quiet, log=print)
    if not args.no_save:
        fw = frameworks.get(args.framework)
        path = weights_path(spec.name, fw.name, fw.weights_suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        fw.save(model, path)
        save_sidecar(path, result)
        result.weights_path = str(path)
        print(f"saved trained weights to {path}", file=sys.stderr)
    print(f"final test accuracy {result.test_accuracy:.4f} after {len(result.epoch_seconds)} epochs "
          f"({sum(result.epoch_seconds):.1f} s of training)")
    write_json(args.json, result.to_dict())
    return 0
