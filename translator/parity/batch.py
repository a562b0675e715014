"""Checks many scripts quickly: warm workers import the frameworks once and fork one child per run."""

# A parity check starts two Python processes, and importing TensorFlow and torch costs seconds
# each, far more than checking a small model. A worker (`python -m translator.parity.batch worker
# keras|torch`) imports its framework and the runner once, then forks a fresh child for every run,
# so each script still starts from a clean interpreter state. The parent talks to a worker over
# its stdin/stdout in JSON lines: a job in; the child's pid, then its exit status, out.

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import sandbox

RUNNERS = {"keras": "translator.parity.keras_runner", "torch": "translator.parity.torch_runner"}
FILE_BYTES_CAP = 256 * 1024 * 1024  # a child writing more than this has gone wrong
GRACE_S = 30.0  # how long a worker may take to report after its child was killed


# --- the worker process -------------------------------------------------------------------------

def _preload(side: str) -> None:
    """Imports what every run of this side needs, without running any op (no thread pools yet)."""
    import numpy  # noqa: F401

    if side == "keras":
        import keras  # noqa: F401

        from . import keras_runner  # noqa: F401
    else:
        import torch
        import torch.nn.functional  # noqa: F401

        from . import torch_runner  # noqa: F401


def _child(job: dict) -> None:
    """Runs one job in the forked child, never returning: output to files, then the runner."""
    code = 70
    try:
        os.setsid()
        cwd = job["cwd"]
        os.chdir(cwd)
        empty = sandbox.closed_input()  # the job list is on stdin: never the script's
        os.dup2(empty, 0)
        os.close(empty)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - no job line left in a buffer
        for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
            os.close(target)
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_BYTES_CAP, FILE_BYTES_CAP))
        sys.path[0] = cwd  # as `python -m runner` run from the script's folder would have it
        import importlib

        runner = importlib.import_module(RUNNERS[job["side"]])
        runner.main(job["args"])  # leaves through os._exit once it has what parity needs
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - the child must end here whatever happened
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _reply(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def serve(side: str) -> None:
    """The worker's loop: one job per line on stdin until it closes."""
    _preload(side)
    _reply({"ready": side})
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(job)
        _reply({"pid": pid})
        # the parent kills the child on its own deadline; this one only stops a child that
        # would outlive a parent which died
        deadline = time.monotonic() + float(job["timeout"]) + GRACE_S
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                _kill_group(pid)
            time.sleep(0.005)
        _reply({"returncode": os.waitstatus_to_exitcode(status)})


def _kill_group(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


# --- the parent's side --------------------------------------------------------------------------

class WorkerDied(RuntimeError):
    """A worker stopped answering (killed, or out of memory while importing)."""


class Worker:
    """One warm worker process for one side."""

    def __init__(self, side: str, env: Mapping[str, str], memory_mb: int) -> None:
        self.side = side
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        limit = memory_mb * 1024 * 1024 if memory_mb else 0
        self.process = subprocess.Popen(
            [sys.executable, str(sandbox.GUARD), str(limit), "", "0", sys.executable, "-m",
             "translator.parity.batch", "worker", side],
            env=sandbox.child_env(env), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log, start_new_session=True)
        self.buffer = b""
        if self.read(time.monotonic() + 300) is None:
            self.close()
            raise WorkerDied(f"the {side} worker did not start: {self.log_tail()}")

    def log_tail(self) -> str:
        self.log.seek(0)
        return sandbox._last_line(self.log.read().decode("utf-8", "replace"))

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, job: dict) -> None:
        try:
            self.process.stdin.write((json.dumps(job) + "\n").encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerDied(f"the {self.side} worker is gone: {exc}") from None

    def read(self, deadline: float) -> dict | None:
        """The next message, or None at the deadline or when the worker has died."""
        stream = self.process.stdout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([stream], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(stream.fileno(), 65536)
                if not chunk:
                    return None
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(line)

    def close(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.log.close()


@dataclass
class Job:
    """A run in a worker's child; quacks like `sandbox.Running` for `check.run_parity`."""

    worker: Worker
    pid: int
    limits: sandbox.Limits
    started: float
    stdout_path: Path
    stderr_path: Path
    deadline: float | None = None
    _result: sandbox.RunResult | None = field(default=None, repr=False)

    def kill(self) -> None:
        if self._result is None:  # once reaped, the pid may belong to someone else
            _kill_group(self.pid)

    def poll(self) -> int | None:
        return None if self._result is None else self._result.returncode

    def wait(self, deadline: float | None = None) -> sandbox.RunResult:
        if self._result is not None:
            return self._result
        deadline = deadline if deadline is not None else (
            self.deadline if self.deadline is not None else self.started + self.limits.timeout_s)
        message = self.worker.read(deadline)
        timed_out = message is None and self.worker.alive()
        if message is None:
            self.kill_now()
            message = self.worker.read(time.monotonic() + GRACE_S) or {}
        returncode = None if timed_out else message.get("returncode")
        stdout = _read_capped(self.stdout_path, self.limits.output_bytes)
        stderr = _read_capped(self.stderr_path, self.limits.output_bytes)
        if returncode is None and not timed_out:
            stderr += f"\nthe {self.worker.side} worker died: {self.worker.log_tail()}"
            returncode = -signal.SIGKILL
        self._result = sandbox.RunResult(
            returncode=returncode, timed_out=timed_out, stdout=stdout, stderr=stderr,
            duration_s=time.monotonic() - self.started,
            output_bytes=_size(self.stdout_path) + _size(self.stderr_path),
            error=sandbox.describe_failure(returncode, timed_out, stderr, self.limits))
        return self._result

    def kill_now(self) -> None:
        _kill_group(self.pid)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _read_capped(path: Path, limit: int) -> str:
    """The first and last `limit / 2` bytes of a log, as the sandbox keeps them."""
    half = max(limit // 2, 1)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size <= 2 * half:
                data = f.read()
            else:
                head = f.read(half)
                f.seek(size - half)
                data = head + f"\n[... {size - 2 * half} bytes of output left out ...]\n".encode() \
                    + f.read()
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")


class WarmWorkers:
    """A Keras worker and a torch worker, started on first use and restarted if one dies.

    Pass `starter=workers.start` to `check.run_parity`; close (or use as a context manager) when
    done.
    """

    def __init__(self, env: Mapping[str, str], memory_mb: int = sandbox.DEFAULT_MEMORY_MB) -> None:
        self.env = dict(env)
        self.memory_mb = memory_mb
        self.workers: dict[str, Worker] = {}

    def __enter__(self) -> WarmWorkers:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()
        self.workers.clear()

    def _worker(self, side: str) -> Worker:
        worker = self.workers.get(side)
        if worker is None or not worker.alive():
            if worker is not None:
                worker.close()
            worker = self.workers[side] = Worker(side, self.env, self.memory_mb)
        return worker

    def start(self, argv: Sequence[str], cwd: Path, limits: sandbox.Limits | None = None,
              env: Mapping[str, str] | None = None) -> Job:
        """`sandbox.start` for `[python, -m, translator.parity.<side>_runner, *args]`."""
        limits = limits or sandbox.Limits()
        module = argv[2] if len(argv) > 2 and argv[1] == "-m" else ""
        side = next((s for s, m in RUNNERS.items() if m == module), None)
        if side is None:
            raise ValueError(f"a warm worker runs only the parity runners, not {list(argv)!r}")
        cwd = Path(cwd)
        logs = cwd.parent
        job = {"side": side, "args": list(argv[3:]), "cwd": str(cwd), "timeout": limits.timeout_s,
               "stdout": str(logs / f".{side}.stdout"), "stderr": str(logs / f".{side}.stderr")}
        for attempt in range(2):
            worker = self._worker(side)
            try:
                worker.send(job)
                reply = worker.read(time.monotonic() + GRACE_S)
            except WorkerDied:
                reply = None
            if reply is not None and "pid" in reply:
                return Job(worker, int(reply["pid"]), limits, time.monotonic(),
                           Path(job["stdout"]), Path(job["stderr"]))
            worker.close()
            self.workers.pop(side, None)
        raise WorkerDied(f"the {side} worker does not answer")


def check_many(cases: Iterable[tuple[Path, str, Sequence]], options=None) -> Iterator:
    """Parity for each (Keras script, its translation, its models), with warm workers.

    Each script should sit in a folder of its own (the folder is copied for each run).
    """
    from .check import ParityOptions, child_environment, error_result, run_parity

    options = options or ParityOptions()
    with WarmWorkers(child_environment(options), options.memory_mb) as workers:
        for source, code, models in cases:
            try:
                yield run_parity(source, code, models, options, starter=workers.start)
            except WorkerDied as exc:
                yield error_result(str(exc), options)
            except Exception as exc:  # noqa: BLE001 - a bug in the checker: this case errs, go on
                yield error_result(f"internal error in the parity checker: "
                                   f"{type(exc).__name__}: {exc}", options)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "worker" and args[1] in RUNNERS:
        serve(args[1])
        return 0
    print("usage: python -m translator.parity.batch worker keras|torch", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
