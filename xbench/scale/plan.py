"""Which launches ``xbench scale`` makes, checked before any starts (pure: no framework, no process).

A launch is one framework at one world size W with T threads per worker; it times every scaling mode:

* ``strong``: the global batch B fixed, each worker steps on B / W;
* ``weak``: the batch per worker fixed at B / max(W), the global batch growing with W.

Unless ``threads_per_worker`` is given, T = total threads // W (total: ``--threads`` or the cores), so every world
size uses the same total threads (on 2 cores: 1 x 2 threads, 2 x 1 thread). Scaling efficiency compares each
launch with world size 1 at W x T threads (``xbench.scale.efficiency``); when that launch is not among the world
sizes asked for, it is added.
"""

from __future__ import annotations

from dataclasses import dataclass

from xbench.errors import UserError

MODES = ("strong", "weak")


@dataclass(frozen=True)
class Launch:
    framework: str
    world_size: int
    threads_per_worker: int
    batches: tuple[tuple[str, int], ...]  # (mode, global batch)
    device: str = "cpu"  # cuda: one GPU per worker (PyTorch, NCCL)


def plan(frameworks: list[str], world_sizes: list[int], batch: int, cores: int, *, total_threads: int | None = None,
         threads_per_worker: int | None = None, modes=MODES, device: str = "cpu",
         gpus: int = 0) -> list[Launch]:
    """The launches, or one UserError naming what is wrong and what is valid. ``device`` cuda: one GPU per worker,
    PyTorch only."""
    top = max(world_sizes)
    if top > cores:
        raise UserError(f"--world-sizes: {top} workers on {cores} cores; the largest world size here is {cores}")
    if device == "cuda" and top > gpus:
        raise UserError(f"--world-sizes: {top} workers need {top} GPUs; this machine has {gpus}")
    if device == "cuda" and set(frameworks) - {"torch"}:
        raise UserError("--device cuda: data-parallel training on GPUs is measured for torch only (NCCL); "
                        "leave keras out")
    for w in world_sizes:
        if batch % w:
            raise UserError(f"--batch-size {batch} is not divisible by world size {w}; "
                            f"give a multiple of {top if batch % top else w}")
    per_worker = batch // top
    total = total_threads or cores
    configs: list[tuple[int, int]] = []
    for w in world_sizes:
        t = threads_per_worker or max(1, total // w)
        if w * t > cores:
            raise UserError(f"world size {w} x {t} threads per worker = {w * t} threads on {cores} cores; "
                            f"at most {cores} (lower --threads-per-worker or the world size)")
        for cfg in ((w, t), (1, w * t)):
            if cfg not in configs:
                configs.append(cfg)
    configs.sort()
    out = []
    for fw in frameworks:
        for w, t in configs:
            batches = tuple((m, batch if m == "strong" else per_worker * w) for m in modes)
            out.append(Launch(fw, w, t, batches, device))
    return out


def schedule(launches: list[Launch], blocks: int, passes: int) -> list[tuple[Launch, int]]:
    """(launch, blocks in it) in run order: ``passes`` passes over the launches, every other one reversed
    (A B B A ...), the blocks shared out over the passes. A slow spell of a shared machine then falls on both sides
    of a comparison instead of on whichever ran second."""
    out = []
    for p in range(min(passes, blocks)):
        n = blocks // passes + (1 if p < blocks % passes else 0)
        out += [(item, n) for item in (launches if p % 2 == 0 else launches[::-1])]
    return out
