"""Argument helpers shared by subcommands (validated types give argparse's exit code 2)."""

from __future__ import annotations

import argparse
import json
import sys

from xbench.errors import UserError


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _between(text: str, low: float, high: float, what: str) -> float:
    """A number strictly between ``low`` and ``high`` (argparse's error, so exit 2)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what} between {low:g} and {high:g}, got {text!r}") from None
    if not low < value < high:
        raise argparse.ArgumentTypeError(f"must be {what} between {low:g} and {high:g} (exclusive), got {text}")
    return value


def alpha(text: str) -> float:
    """A one-sided significance level: a number strictly between 0 and 0.5 (0.5 and above is no test at all)."""
    return _between(text, 0, 0.5, "a number")


def percent(text: str) -> float:
    """A threshold in percent: strictly between 0 and 100."""
    return _between(text, 0, 100, "a percentage")


def framework_choice(text: str) -> str:
    from xbench import frameworks

    try:
        return frameworks.get(text).name
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def framework_arg(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    """``--framework NAME``, checked against the framework registry (one module per framework)."""
    from xbench import frameworks

    parser.add_argument("--framework", required=True, type=framework_choice,
                        metavar="{" + ",".join(frameworks.names()) + "}", help=help)


def model_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="seed_cnn", metavar="NAME",
                        help="model spec: a name from models/ or a path to a spec .json (default: seed_cnn)")


def data_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", metavar="PATH",
                        help="MNIST .npz (Keras layout). Default: $XBENCH_MNIST, then ~/.cache/xbench/mnist.npz or "
                             "~/.keras/datasets/mnist.npz, then a verified download, then the embedded 6,000-image subset")


def check_json_out(path: str | None) -> None:
    if path:
        from xbench.paths import check_output_path

        check_output_path(path, "--json")


def write_json(path: str | None, doc: dict) -> None:
    if path:
        from xbench.paths import atomic_write_text

        atomic_write_text(path, json.dumps(doc, indent=2) + "\n")
        print(f"wrote {path}", file=sys.stderr)
