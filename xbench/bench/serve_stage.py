"""The suite's serve stage (``--xbench-serve``, off by default): after every case of a timed run, each where-model's
inference rows behind MLPerf LoadGen, as ``xbench serve --model NAME`` runs them with its defaults (ONNX Runtime and
OpenVINO, fp32 and int8, on the PyTorch export; SingleStream, Offline, the Server QPS search with and without the
batcher, accuracy mode, the no-op SUT; CI-sized LoadGen settings), into the session's results file. LoadGen's logs
are kept beside that file (``<results stem>.serve-<model>.loadgen/``), so the report's where table gains its load
column from the same file. The rows run in processes of their own (``xbench.serve.launch``), never in the pytest
process, whose frameworks stay loaded.
"""

from __future__ import annotations

import argparse


OWN = ("--model", "--json", "--data")  # the stage's own: each where-model, the session's file and data


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        from xbench.errors import UserError

        raise UserError(f"--xbench-serve: {message} (its value takes `xbench serve` options; see xbench serve --help)")


def serve_args(model: str, data: str | None, extra: str = "") -> argparse.Namespace:
    """``xbench serve``'s options for ``model``: its defaults, or ``extra`` (the option's value) over them; the
    stage runs exactly what the command would. Bad options raise ``UserError`` (checked when the session starts)."""
    import shlex

    from xbench.commands import serve
    from xbench.errors import UserError

    words = shlex.split(extra or "")
    own = [w.split("=", 1)[0] for w in words if w.split("=", 1)[0] in OWN]
    if own:
        raise UserError(f"--xbench-serve: {', '.join(own)} is the stage's own (the where-models, the session's "
                        "results file and --xbench-data); give the other `xbench serve` options")
    parser = _Parser(prog="--xbench-serve")
    serve.add_arguments(parser)
    args = parser.parse_args(["--model", model, *(["--data", data] if data else []), *words])
    try:
        serve.options(args)  # its own checks (scenarios, QPS range)
    except UserError as exc:
        raise UserError(f"--xbench-serve: {exc}") from None
    return args


def share_weights(recorder) -> None:
    """Keep the weights this session trains (``xbench.training.weights``' reuse folder, a temporary one unless the
    environment names one) so that the stage's processes load them instead of training again; the records say the
    same either way."""
    import os
    import tempfile

    from xbench.training.weights import REUSE_ENV

    if not os.environ.get(REUSE_ENV):
        recorder.serve_weights = os.environ[REUSE_ENV] = tempfile.mkdtemp(prefix="xbench-serve-weights-")


def unshare_weights(recorder) -> None:
    import os
    import shutil

    from xbench.training.weights import REUSE_ENV

    folder = recorder.serve_weights
    if folder:
        os.environ.pop(REUSE_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)


def run(recorder, models: list[str], data: str | None, extra: str = "", say=print) -> list[str]:
    """Serve each of ``models`` and merge the records into ``recorder``'s file; returns one summary line per model.
    A model whose serve run fails leaves a line saying why (the suite's own records are already written)."""
    from xbench.commands import serve
    from xbench.serve import launch

    lines = []
    for model in models:
        args = serve_args(model, data, extra)
        name, rows, opts = serve.plan(args)
        side = recorder.path.with_name(f"{recorder.path.stem}.serve-{name}.json")
        say(f"xbench serve stage: {name}, {len(rows)} rows on {args.framework}'s export behind MLPerf LoadGen")
        try:
            doc = launch.serve(rows, opts, model=name, data=data, noop=not args.no_noop, json_path=str(side),
                               progress=lambda line: line.startswith("wrote ") or say(line))  # (the side file goes)
        except Exception as exc:  # the suite's records stand; the stage says why it has none
            lines.append(f"serve stage, {name}: failed ({type(exc).__name__}: {str(exc)[:200]})")
            continue
        finally:
            side.unlink(missing_ok=True)  # its records join the session's file; the logs stay beside it
        recorder.merge_serve(doc, name)
        ok = sum(r["status"] == "ok" for r in doc["records"])
        lines.append(f"serve stage, {name}: {ok} of {len(doc['records'])} serve records ok; LoadGen logs in "
                     f"{doc['env']['serve']['logs']}/")
    return lines
