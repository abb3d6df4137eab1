"""Parametrise the benchmark files from xbench's registries and the --xbench-* options."""

from xbench import suite
from xbench.pytest_plugin import n_blocks, selection
from xbench.runtimes.onnxruntime import long_name


def _csv(config, name):
    return [v.strip() for v in config.getoption(name).split(",") if v.strip()]


def pytest_generate_tests(metafunc):
    if "case" not in metafunc.fixturenames:
        return
    cfg = metafunc.config
    models, fws = _csv(cfg, "xbench_models"), _csv(cfg, "xbench_frameworks")
    providers = [long_name(p) for p in _csv(cfg, "xbench_providers")]
    devices = ["cpu"] + (["cuda"] if "CUDAExecutionProvider" in providers else [])
    task = metafunc.module.TASK
    sel = selection(cfg)
    if task == "train_step":
        cases = suite.train_cases(models, fws, devices, sel=sel)
    elif task == "train_epoch":
        cases = suite.epoch_cases(models, fws, devices)
    else:
        cases = suite.inference_cases(models, fws, providers, sel=sel)
    metafunc.parametrize("case", cases, ids=[c.test_id for c in cases])
    n = n_blocks(cfg)
    if n > 1:  # blocks spread across the run; the plugin orders them block by block
        metafunc.parametrize("xbench_block", range(n), indirect=True, ids=[f"r{i}" for i in range(n)])
