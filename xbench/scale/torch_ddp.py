"""The PyTorch data-parallel worker, one process per rank, started by torchrun (``xbench.scale.launch``).

The model and the step are the suite's own (``xbench.bench.cases``: ``fresh_model``, ``train_step``), the module
wrapped in ``DistributedDataParallel`` before the step is built, so the loss, optimizer and learning rate are the
factory's. Each rank steps on its ``1 / world_size`` slice of the global batch; DDP averages the gradients
(gloo on CPU, NCCL on CUDA) during ``backward``, so one step equals the single-process step on the whole batch.

Two tasks:

* ``equivalence``: one step per optimizer (SGD and Adam) from the same initial weights, on rank 0 also the
  single-process step with the whole batch; rank 0 writes all weights to ``--out`` (npz). ``--faults`` adds the
  same SGD step with a planted fault, so a test sees the comparison catch it: ``drop`` (rank 1's gradient is zeroed
  before the all-reduce: a worker's gradient is lost), ``split`` (every rank steps on the first slice: the batch
  split wrongly).
* ``time``: blocks (a fresh model each) of the synchronised step and of the same step under ``no_sync()`` (no
  all-reduce), a fixed number of rounds each so the ranks' collectives pair up; rank 0 writes the rounds (JSON).
* ``both``: ``equivalence`` (weights to ``--out``.npz), then ``time`` (one launch for a test that also kills a
  worker mid-run).

Run as ``python -m torch.distributed.run ... -m xbench.scale.torch_ddp ARGS``.
"""

from __future__ import annotations

import argparse
import json
import os

OPTIMIZERS = ("sgd", "adam")
# The planted faults run with SGD only: its update is linear in the gradient, so a lost or mis-split share shows in
# every weight; Adam's first step is about lr * sign(gradient) per weight and hides a gradient scaled by 1/2.
FAULTS_ON = "sgd"
PID_DIR_ENV = "XBENCH_SCALE_PID_DIR"  # when set, each worker writes rank<N>.pid there once its group is up


def parse(argv=None):
    p = argparse.ArgumentParser(prog="xbench.scale.torch_ddp")
    p.add_argument("task", choices=("equivalence", "time", "both"), help="both: equivalence, then time")
    p.add_argument("--model", default="seed_cnn")
    p.add_argument("--data", default=None)
    p.add_argument("--global-batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads of this worker")
    p.add_argument("--world-size", type=int, default=1, help="replicas in this process (TensorFlow only)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cuda: one GPU per rank, NCCL")
    p.add_argument("--out", required=True)
    p.add_argument("--faults", default="", help="equivalence: comma-separated planted faults to add (drop, split)")
    p.add_argument("--scaling", default="strong:128", help="time: MODE:GLOBAL_BATCH,... (strong:128,weak:256)")
    p.add_argument("--blocks", type=int, default=3)
    p.add_argument("--rounds", type=int, default=10)
    return p.parse_args(argv)


def shard(x, y, rank: int, world: int, fault: str | None = None):
    """Rank ``rank``'s contiguous slice of the global batch; ``split`` gives every rank the first slice."""
    n = len(x) // world
    i = 0 if fault == "split" else rank
    return x[i * n:(i + 1) * n], y[i * n:(i + 1) * n]


def _drop_hook(rank: int, world: int):
    """DDP's all-reduce-and-average, with rank 1's bucket zeroed first: its gradient is lost."""
    import torch.distributed as dist

    def hook(state, bucket):
        grad = bucket.buffer()
        if rank == 1:
            grad.zero_()
        grad.div_(world)
        return dist.all_reduce(grad, async_op=True).get_future().then(lambda fut: fut.value()[0])

    return hook


def _ddp(fw, spec, fault: str | None = None, device: str = "cpu"):
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from xbench.bench.cases import fresh_model

    model = fresh_model(fw, spec, seed=0)
    if device == "cuda":  # the rank's own GPU (torch.cuda.set_device in main)
        model.to(torch.device("cuda", torch.cuda.current_device()))
        ddp = DistributedDataParallel(model, device_ids=[torch.cuda.current_device()])
    else:
        ddp = DistributedDataParallel(model)  # broadcasts rank 0's weights
    if fault == "drop":
        ddp.register_comm_hook(None, _drop_hook(dist.get_rank(), dist.get_world_size()))
    return ddp


def equivalence(args, fw, spec, x, y, rank: int, world: int) -> None:
    from xbench.bench.cases import train_step
    from xbench.paths import atomic_savez

    faults = [f for f in args.faults.split(",") if f]
    out = {}
    for opt in OPTIMIZERS:
        for fault in [None, *(faults if opt == FAULTS_ON else ())]:
            ddp = _ddp(fw, spec, fault, args.device)
            _, step = train_step(fw, spec, model=ddp, optimizer=opt, device=args.device)
            xn, yn = fw.to_native(ddp.module, *shard(x, y, rank, world, fault), device=args.device)
            step(xn, yn)
            for i, w in enumerate(fw.get_weights(ddp.module, spec)):
                out[f"{opt}/{fault or 'ddp'}/{i}"] = w
        if rank == 0:
            model, step = train_step(fw, spec, optimizer=opt, device=args.device)  # one process, the whole batch
            step(*fw.to_native(model, x, y, device=args.device))
            for i, w in enumerate(fw.get_weights(model, spec)):
                out[f"{opt}/single/{i}"] = w
    if rank == 0:
        atomic_savez(args.out + ".npz" if args.task == "both" else args.out, **out)  # a test polls for it


def timing(args, fw, spec, data, rank: int, world: int) -> None:
    import torch.distributed as dist

    from xbench import data as mnist
    from xbench.bench import timing as tm
    from xbench.bench.cases import train_step

    doc = {"framework": "torch", "world_size": world, "threads_per_worker": args.threads, "device": args.device,
           "backend": dist.get_backend(), "launcher": "torchrun", "modes": {}}
    for item in args.scaling.split(","):
        mode, global_batch = item.split(":")
        x, y = mnist.batch(data, spec.input_shape, int(global_batch), split="train")
        blocks = []
        for _ in range(args.blocks):
            ddp = _ddp(fw, spec, device=args.device)
            _, step = train_step(fw, spec, model=ddp, device=args.device)  # loss.item(): synchronises the GPU
            xn, yn = fw.to_native(ddp.module, *shard(x, y, rank, world), device=args.device)

            def unsynced():
                with ddp.no_sync():  # gradients stay local: the step without its all-reduce
                    return step(xn, yn)

            first = tm.first_call(lambda: step(xn, yn))
            synced = tm.rounds(lambda: step(xn, yn), budget_s=0.0, min_rounds=args.rounds, max_rounds=args.rounds)
            local = tm.rounds(unsynced, budget_s=0.0, min_rounds=args.rounds, max_rounds=args.rounds)
            dist.barrier()
            blocks.append({"first_call_s": first, "synced_s": synced, "unsynced_s": local})
        doc["modes"][mode] = {"global_batch": int(global_batch), "blocks": blocks,
                              "optimizer": step.optimizer_info}
    if rank == 0:
        from xbench.paths import atomic_write_text

        atomic_write_text(args.out, json.dumps(doc))


def main(argv=None) -> None:
    args = parse(argv)
    from xbench.bench import threads

    threads.configure(args.threads)  # before torch is imported
    import torch.distributed as dist

    from xbench import data as mnist
    from xbench import frameworks
    from xbench.spec import load_spec

    if args.device == "cuda":
        import torch

        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group("nccl" if args.device == "cuda" else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    pid_dir = os.environ.get(PID_DIR_ENV)
    if pid_dir:  # tests kill one worker mid-run
        with open(os.path.join(pid_dir, f"rank{rank}.pid"), "w") as f:
            f.write(str(os.getpid()))
    try:
        fw, spec = frameworks.get("torch"), load_spec(args.model)
        data = mnist.load_mnist(args.data, allow_download=False)
        if args.task in ("equivalence", "both"):
            x, y = mnist.batch(data, spec.input_shape, args.global_batch, split="train")
            equivalence(args, fw, spec, x, y, rank, world)
        if args.task in ("time", "both"):
            timing(args, fw, spec, data, rank, world)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
