"""``xbench``: a thin shell over the library. Each subcommand is one module in xbench/commands/.

Every problem the user can fix ends as one line on stderr and exit code 2,
without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from xbench import commands
from xbench.commands._common import positive_int
from xbench.errors import UserError

DESCRIPTION = """\
Why does a simple CNN take so long to train, and which framework and runtime
should run it? xbench trains and times the same CNN in Keras and PyTorch,
exports it to ONNX and times ONNX Runtime, on real MNIST.

The benchmark suite runs under pytest:  xbench bench  (in a checkout also: pytest --benchmark-only)
"""


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(prog="xbench", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=positive_int, metavar="N",
                        help="intra-op threads for every framework (default: physical cores)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    handlers = {}
    modules = [importlib.import_module(f"{commands.__name__}.{m.name}")
               for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")]
    for module in sorted(modules, key=lambda m: (getattr(m, "ORDER", 50), m.__name__)):
        name = getattr(module, "NAME", module.__name__.rsplit(".", 1)[1].replace("_", "-"))
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(passthrough=getattr(module, "PASSTHROUGH", False))
        handlers[name] = module.run
    return parser, handlers


def main(argv: list[str] | None = None) -> int:
    parser, handlers = build_parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "passthrough", False):  # a command whose arguments are pytest's (xbench bench)
        args.pytest_args = extra[1:] if extra[:1] == ["--"] else extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not args.command:
        parser.print_help()
        return 2
    try:
        from xbench.bench import threads
        from xbench.runtimes.onnxruntime import check_single_distribution

        clash = check_single_distribution()  # metadata only: nothing heavy is imported
        if clash:
            raise UserError(clash)
        threads.configure(args.threads)  # before any framework is imported
        return int(handlers[args.command](args) or 0)
    except UserError as exc:
        print(f"xbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"xbench {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
