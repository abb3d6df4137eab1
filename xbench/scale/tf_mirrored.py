"""The TensorFlow data-parallel worker: Keras 3 on TensorFlow under ``tf.distribute.MirroredStrategy`` over W
logical CPU devices, in one process (``xbench.scale.launch`` starts it with ``--world-size W``).

Why not ``MultiWorkerMirroredStrategy`` with ``TF_CONFIG`` (one process per worker, the path across machines):
Keras 3's compiled step fails under it in multi-worker mode (reducing the scalar loss with ``axis=0`` in
``reduce_per_replica``: "Invalid reduction dimension 0 for input with 0 dimensions", tensorflow/tensorflow#72388,
reproduced here with Keras 3.15 / TF 2.21). And Keras's ``train_on_batch`` cannot take a batch already split per
replica, so the data-parallel step is Keras's own ``fit`` on the global batch, which splits each batch across the
replicas and sums their gradients with the strategy's all-reduce (CollectiveAllReduce on CPU): the factory's
``epoch_fn`` (``xbench.bench.cases``) on a model built by ``fresh_model`` under the strategy's scope. One round is
one ``fit`` call of ``STEPS`` steps; the record's time is per step.

What this measures is not what torchrun measures: the W replicas are threads of one process sharing one intra-op
pool of W x T threads, and the all-reduce is a copy in memory. It is the all-reduce and replica overhead of Keras's
distribution, not communication between processes.

Tasks as in ``xbench.scale.torch_ddp``: ``equivalence`` (faults planted in data terms, since Keras splits the batch
itself: ``split``, the second half of the batch replaced by the first, so every replica steps on first-half samples;
``drop``, the second half's samples weighted 0, so worker 1's share adds nothing) and ``time`` (the step under the
strategy, and as the step without synchronisation the factory's plain epoch on one worker's share of each batch).
"""

from __future__ import annotations

import json

from xbench.scale.torch_ddp import FAULTS_ON, OPTIMIZERS, parse

STEPS = 5  # steps per timed fit call


def _strategy(world: int):
    import tensorflow as tf

    from xbench.bench import threads

    tf.config.threading.set_intra_op_parallelism_threads(threads.count())
    tf.config.threading.set_inter_op_parallelism_threads(1)
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * world)
    return tf.distribute.MirroredStrategy([f"/CPU:{i}" for i in range(world)])


def _epoch(fw, spec, strategy, x, y, batch: int, optimizer=None):
    from xbench.bench.cases import epoch_fn, fresh_model

    with strategy.scope():
        model = fresh_model(fw, spec, seed=0)
        return model, epoch_fn(fw, spec, x, y, batch, model=model, optimizer=optimizer, variant="fit")


def equivalence(args, fw, spec, strategy, x, y) -> None:
    import numpy as np

    from xbench.bench.cases import train_step
    from xbench.paths import atomic_savez

    faults = [f for f in args.faults.split(",") if f]
    half = len(x) // 2
    out = {}
    for opt in OPTIMIZERS:
        for fault in [None, *(faults if opt == FAULTS_ON else ())]:
            xs = np.concatenate([x[:half], x[:half]]) if fault == "split" else x
            ys = np.concatenate([y[:half], y[:half]]) if fault == "split" else y
            model, epoch = _epoch(fw, spec, strategy, xs, ys, len(x), opt)  # one fit step on the global batch
            if fault == "drop":
                weight = np.r_[np.ones(half), np.zeros(len(x) - half)].astype(np.float32)
                model.fit(xs, ys, batch_size=len(x), epochs=1, verbose=0, sample_weight=weight)
            else:
                epoch()
            for i, w in enumerate(fw.get_weights(model, spec)):
                out[f"{opt}/{fault or 'ddp'}/{i}"] = w
        model, step = train_step(fw, spec, optimizer=opt)  # one process, the whole batch, no strategy
        step(*fw.to_native(model, x, y))
        for i, w in enumerate(fw.get_weights(model, spec)):
            out[f"{opt}/single/{i}"] = w
    atomic_savez(args.out, **out)


def timing(args, fw, spec, strategy, data, world: int) -> None:
    from xbench import data as mnist
    from xbench.bench import timing as tm
    from xbench.bench.cases import epoch_fn

    doc = {"framework": "keras", "world_size": world, "threads_per_worker": args.threads,
           "backend": type(getattr(strategy.extended, "_cross_device_ops", None)).__name__,  # CollectiveAllReduce
           "launcher": f"one process, MirroredStrategy over {world} logical CPU device(s)",
           "unsynced": "the factory's plain fit (no strategy) on one worker's share of each batch: no all-reduce, "
                       "no replica threads", "steps_per_round": STEPS, "modes": {}}
    per_step = lambda samples: [s / STEPS for s in samples]  # noqa: E731
    for item in args.scaling.split(","):
        mode, global_batch = item.split(":")
        g = int(global_batch)
        x, y = mnist.batch(data, spec.input_shape, g * STEPS, split="train")
        blocks = []
        for _ in range(args.blocks):
            _, epoch = _epoch(fw, spec, strategy, x, y, g)
            first = tm.first_call(epoch)
            synced = tm.rounds(epoch, budget_s=0.0, min_rounds=args.rounds, max_rounds=args.rounds)
            local = epoch_fn(fw, spec, x[: len(x) // world], y[: len(y) // world], g // world, variant="fit")
            local()
            unsynced = tm.rounds(local, budget_s=0.0, min_rounds=args.rounds, max_rounds=args.rounds)
            blocks.append({"first_call_s": first, "synced_s": per_step(synced), "unsynced_s": per_step(unsynced)})
        doc["modes"][mode] = {"global_batch": g, "blocks": blocks, "optimizer": epoch.optimizer_info}
    from xbench.paths import atomic_write_text

    atomic_write_text(args.out, json.dumps(doc))


def main(argv=None) -> None:
    args = parse(argv)
    from xbench.bench import threads

    world = args.world_size
    threads.configure(args.threads * world)  # one process: its pool serves every replica
    strategy = _strategy(world)

    from xbench import data as mnist
    from xbench import frameworks
    from xbench.spec import load_spec

    fw, spec = frameworks.get("keras"), load_spec(args.model)
    data = mnist.load_mnist(args.data, allow_download=False)
    if args.task == "equivalence":
        x, y = mnist.batch(data, spec.input_shape, args.global_batch, split="train")
        equivalence(args, fw, spec, strategy, x, y)
    else:
        timing(args, fw, spec, strategy, data, world)


if __name__ == "__main__":
    main()
