"""Launching data-parallel workers with the frameworks' own launchers, as one process group that a timeout ends.

PyTorch: ``python -m torch.distributed.run`` (torchrun: its elastic agent starts the workers and hosts the c10d
rendezvous at ``--rdzv-endpoint``; across machines, the same command with ``--nnodes N`` and one node's address
as the endpoint). TensorFlow: one process whose ``MirroredStrategy`` runs W replicas (``xbench.scale.tf_mirrored``
says why not ``TF_CONFIG`` and ``MultiWorkerMirroredStrategy``).

Every process of a launch shares one new process group: a timeout or an interrupt kills
the group, so no worker outlives its launch. Imports no ML framework.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from xbench.errors import UserError

HOST = "127.0.0.1"
GRACE_S = 3.0  # after SIGTERM to the group, before SIGKILL


@dataclass
class Finished:
    returncode: int
    output: str  # stdout and stderr together (the tail goes into an error record)
    timed_out: bool = False
    retried: list[str] = field(default_factory=list)  # why each earlier attempt failed (see ``workers``)


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick; another process could still take it before we do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def check_port(port: int) -> None:
    """UserError when ``port`` on localhost cannot be bound (in use, or privileged)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError as exc:
            raise UserError(f"--port {port}: cannot listen on {HOST}:{port} ({exc.strerror}); "
                            "give a free port or leave --port out to pick one") from None


def torchrun_command(world_size: int, port: int, module: str, args: list[str]) -> list[str]:
    """torchrun with a c10d rendezvous on localhost, no restarts: a worker that dies fails the launch."""
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(world_size),
            "--rdzv-backend", "c10d", "--rdzv-endpoint", f"{HOST}:{port}", "--max-restarts", "0",
            "--monitor-interval", "0.2", "-m", module, *args]


def descendants(pid: int) -> list:
    """The processes below ``pid`` now (psutil), e.g. torchrun's workers, which it starts in sessions of their own
    (a signal to our group does not reach them)."""
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _running(family: list, wait_s: float) -> list:
    """Those of ``family`` still running after up to ``wait_s`` (a zombie, dead but not yet reaped by whoever
    adopted it, does not count)."""
    import psutil

    def alive(q) -> bool:
        try:
            return q.is_running() and q.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    end = time.monotonic() + wait_s
    left = [q for q in family if alive(q)]
    while left and time.monotonic() < end:
        time.sleep(0.05)
        left = [q for q in left if alive(q)]
    return left


def _end(procs: list[subprocess.Popen], pgid: int) -> None:
    """SIGTERM to every process of the launch and everything below it, SIGKILL to what is left after ``GRACE_S``."""
    import psutil

    below = [q for p in procs for q in descendants(p.pid)]
    for target in [*procs, *below]:
        try:
            target.terminate()
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
    for p in procs:
        try:
            p.wait(GRACE_S)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for q in _running(below, GRACE_S):
        try:
            q.kill()
        except psutil.NoSuchProcess:
            pass
    try:
        os.killpg(pgid, signal.SIGKILL)  # anything else that joined the group
    except (ProcessLookupError, PermissionError):
        pass


def run_group(commands: list[list[str]], envs: list[dict], timeout_s: float) -> Finished:
    """Start ``commands`` (each with its env) in one new process group; wait for all of them, at most
    ``timeout_s``; on timeout, on the first failure or on an interrupt, end the whole group. The output of all is
    returned (stdout and stderr, interleaved per process)."""
    import tempfile

    procs, logs = [], []
    pgid = None
    try:
        for cmd, env in zip(commands, envs):
            log = tempfile.TemporaryFile(mode="w+")
            logs.append(log)
            kw = {"process_group": 0 if pgid is None else pgid}  # one new group; an interrupt here ends it
            procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, **kw))
            pgid = pgid or procs[0].pid
        end = time.monotonic() + timeout_s
        timed_out = False
        while any(p.poll() is None for p in procs):
            if time.monotonic() > end:
                timed_out = True
                break
            if any(p.poll() not in (None, 0) for p in procs):
                break  # one failed: the others would wait for it forever in their collectives
            time.sleep(0.05)
    finally:
        if pgid is not None:
            _end(procs, pgid)
    output = ""
    for log in logs:
        log.seek(0)
        output += log.read()
        log.close()
    code = next((p.returncode for p in procs if p.returncode), 0)
    return Finished(124 if timed_out else code, output, timed_out)


WORKERS = {"torch": "xbench.scale.torch_ddp", "keras": "xbench.scale.tf_mirrored"}


def worker_env(threads: int, extra: dict | None = None) -> dict:
    """The parent's environment with the worker's thread count (read before any framework is imported)."""
    env = dict(os.environ)
    env.update({"XBENCH_THREADS": str(threads), "OMP_NUM_THREADS": str(threads), **(extra or {})})
    return env


CRASH_RETRIES = {"torch": 0, "keras": 2}


def workers(framework: str, world_size: int, threads: int, args: list[str], out, timeout_s: float,
            port: int | None = None, env: dict | None = None) -> Finished:
    """Run ``framework``'s worker at ``world_size`` with ``threads`` intra-op threads per worker; rank 0 writes
    ``out``. PyTorch: torchrun starts ``world_size`` processes (``port``: the rendezvous port, None picks a free
    one). TensorFlow: one process with ``world_size`` replicas (``xbench.scale.tf_mirrored`` says why).

    The TensorFlow worker is started again (up to twice) when it dies by a signal (``CRASH_RETRIES``): seen here, a SIGSEGV
    now and then inside Keras's ``fit`` (``epoch_iterator.reset``) under MirroredStrategy, in about one launch of
    five of the 1-replica worker. The retry and its reason are kept (``retried``) and go into the records."""
    retried: list[str] = []
    while True:
        done = _start(framework, world_size, threads, args, out, timeout_s, port, env)
        if done.returncode >= 0 or done.timed_out or len(retried) >= CRASH_RETRIES[framework]:
            done.retried = retried
            return done
        retried.append(f"killed by signal {-done.returncode}")


def _start(framework, world_size, threads, args, out, timeout_s, port, env) -> Finished:
    module = WORKERS[framework]
    args = [*args, "--threads", str(threads), "--out", str(out)]
    if framework == "torch":
        cmd = torchrun_command(world_size, port or free_port(), module, args)
        return run_group([cmd], [worker_env(threads, env)], timeout_s)
    cmd = [sys.executable, "-m", module, *args, "--world-size", str(world_size)]
    return run_group([cmd], [worker_env(threads * world_size, env)], timeout_s)
