"""Runs a user's script in a subprocess inside a scratch copy of its folder, with hard limits."""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_MEMORY_MB = 8192  # TensorFlow alone maps about 2.5 GiB of address space on import
DEFAULT_OUTPUT_BYTES = 256 * 1024  # kept per stream: the first half and the last half
DEFAULT_MAX_PROCESSES = 64
SCRATCH_PREFIX = "keras2torch-"
GUARD = Path(__file__).with_name("guard.py")

# Never copied: version control, caches and environments are not part of what a script reads.
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".venv", "venv", ".tox", ".nox",
                       "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache",
                       ".ipynb_checkpoints", ".idea", ".vscode"})
# Large data is linked, not copied: the script can still read it, and copying gigabytes of
# images per run would dominate the check.
LARGE_FILE_BYTES = 16 * 1024 * 1024
COPY_BUDGET_BYTES = 128 * 1024 * 1024
LARGE_DIR_ENTRIES = 2000

@dataclass(frozen=True)
class Limits:
    """What a script may use: wall-clock seconds, address space and output kept."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB  # 0: no cap
    output_bytes: int = DEFAULT_OUTPUT_BYTES
    max_processes: int = DEFAULT_MAX_PROCESSES  # new processes the script may start, in all


@dataclass(frozen=True)
class RunResult:
    """How a sandboxed run ended; `error` is one line a person can read, None on exit status 0."""

    returncode: int | None
    timed_out: bool
    stdout: str
    stderr: str
    duration_s: float
    output_bytes: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def seconds(value: float) -> str:
    """5.0 -> "5", 0.25 -> "0.25": how a timeout reads in a message."""
    return f"{value:g}"


class _Capture:
    """Drains one pipe in a thread, keeping its first and last bytes so memory stays bounded."""

    def __init__(self, stream, limit: int):
        self.half = max(limit // 2, 1)
        self.head = bytearray()
        self.tail: collections.deque[bytes] = collections.deque()
        self.tail_bytes = 0
        self.total = 0
        self.thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self.thread.start()

    def _drain(self, stream) -> None:
        try:
            while chunk := stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536):
                self.total += len(chunk)
                room = self.half - len(self.head)
                if room > 0:
                    self.head += chunk[:room]
                    chunk = chunk[room:]
                if chunk:
                    self.tail.append(chunk)
                    self.tail_bytes += len(chunk)
                    while self.tail_bytes - len(self.tail[0]) >= self.half:
                        self.tail_bytes -= len(self.tail.popleft())
        except (OSError, ValueError):
            pass  # the pipe closed under us: the process is gone
        finally:
            stream.close()

    def text(self) -> str:
        self.thread.join(timeout=5)
        tail = b"".join(self.tail)
        kept = len(self.head) + len(tail)
        if kept < self.total:
            tail = tail[-self.half:]
            dropped = self.total - len(self.head) - len(tail)
            middle = f"\n[... {dropped} bytes of output left out ...]\n".encode()
            data = bytes(self.head) + middle + tail
        else:
            data = bytes(self.head) + tail
        return data.decode("utf-8", errors="replace")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def describe_failure(returncode: int | None, timed_out: bool, stderr: str, limits: Limits) -> str | None:
    """The one-line reason a run failed, or None when it exited with status 0."""
    if timed_out:
        return f"timed out after {seconds(limits.timeout_s)} s"
    if returncode == 0:
        return None
    memory = ("MemoryError", "std::bad_alloc", "Cannot allocate memory", "out of memory")
    if limits.memory_mb and any(m in stderr for m in memory):
        return f"ran out of memory (limit {limits.memory_mb} MiB)"
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    last = _last_line(stderr)
    return f"exited with status {returncode}" + (f": {last}" if last else "")


@dataclass
class Running:
    """A started sandboxed process; `wait` enforces the deadline and always reaps the group."""

    process: subprocess.Popen
    limits: Limits
    started: float
    out: _Capture
    err: _Capture
    deadline: float | None = None
    _result: RunResult | None = field(default=None, repr=False)

    def kill(self) -> None:
        """Kills the whole process group outright (the script may have started children)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def poll(self) -> int | None:
        return self.process.poll()

    def wait(self, deadline: float | None = None) -> RunResult:
        """Waits until the process ends or `deadline` (time.monotonic()) passes, then reaps it."""
        if self._result is not None:
            return self._result
        deadline = deadline if deadline is not None else (
            self.deadline if self.deadline is not None else self.started + self.limits.timeout_s)
        timed_out = False
        try:
            self.process.wait(timeout=max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            timed_out = True
        self.kill()  # also ends anything the script left running in its group
        self.process.wait()
        stdout, stderr = self.out.text(), self.err.text()
        returncode = None if timed_out else self.process.returncode
        self._result = RunResult(
            returncode=returncode, timed_out=timed_out, stdout=stdout, stderr=stderr,
            duration_s=time.monotonic() - self.started,
            output_bytes=self.out.total + self.err.total,
            error=describe_failure(returncode, timed_out, stderr, self.limits),
        )
        return self._result


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child's environment: ours, made quiet and non-interactive, plus `extra`."""
    env = dict(os.environ)
    env.update({
        "PYTHONUNBUFFERED": "1",  # a crash keeps the prints that led to it
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",  # plt.show() must not wait for a window
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "CUDA_VISIBLE_DEVICES": env.get("CUDA_VISIBLE_DEVICES", ""),
    })
    if extra:
        env.update(extra)
    return env


def scratch_root(cwd: Path) -> Path:
    """Where a run may write: the whole scratch folder when cwd is inside one, else cwd."""
    cwd = Path(cwd).resolve()
    return cwd.parent if cwd.parent.name.startswith(SCRATCH_PREFIX) else cwd


def confined_env(root: Path) -> dict[str, str]:
    """Temporary files and the caches libraries write on import go inside the scratch folder."""
    places = {"TMPDIR": "tmp", "KERAS_HOME": "keras_home", "MPLCONFIGDIR": "matplotlib",
              "XDG_CACHE_HOME": "cache"}
    for sub in places.values():
        (root / ".home" / sub).mkdir(parents=True, exist_ok=True)
    return {var: str(root / ".home" / sub) for var, sub in places.items()}


def closed_input() -> int:
    """A descriptor that reads end-of-file at once: the read end of a pipe whose writer is gone.

    Not /dev/null: on some machines (containers) that is a plain file, and whatever was written
    to it would be read back as the script's input.
    """
    read, write = os.pipe()
    os.close(write)
    return read


def start(argv: Sequence[str], cwd: Path, limits: Limits = Limits(),
          env: Mapping[str, str] | None = None) -> Running:
    """Starts argv in its own session (so the whole group can be killed) under the caps.

    A Python script or module runs under the guard (guard.py): writes outside the scratch folder
    and more than `limits.max_processes` new processes are refused.
    """
    limit_bytes = limits.memory_mb * 1024 * 1024 if limits.memory_mb else 0
    root = scratch_root(cwd)
    command = [sys.executable, str(GUARD), str(limit_bytes), str(root),
               str(limits.max_processes), *argv]
    stdin = closed_input()
    try:
        process = subprocess.Popen(
            command, cwd=str(cwd), env=child_env({**confined_env(root), **(env or {})}),
            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
    finally:
        os.close(stdin)
    return Running(process, limits, time.monotonic(), _Capture(process.stdout, limits.output_bytes),
                   _Capture(process.stderr, limits.output_bytes))


def run(argv: Sequence[str], cwd: Path, limits: Limits = Limits(),
        env: Mapping[str, str] | None = None) -> RunResult:
    return start(argv, cwd, limits, env).wait()


#: Entries copied (files and folders) before the rest of a folder is linked instead.
COPY_MAX_ENTRIES = 2000


def scratch_copy(source_dir: Path, target: Path) -> Path:
    """Copies a script's folder for one run: caches skipped, large data linked rather than copied."""
    budget = [COPY_BUDGET_BYTES]
    entries_left = [COPY_MAX_ENTRIES]  # a script in a crowded folder (/tmp): link the rest
    inside = target.resolve()
    seen: set[Path] = set()

    def copy_dir(src: Path, dst: Path) -> None:
        real = src.resolve()
        if real == inside or inside in real.parents or real in seen:
            return  # the scratch folder itself (a script in the temp folder), or a symlink loop
        seen.add(real)
        dst.mkdir(parents=True, exist_ok=True)
        try:
            entries = list(os.scandir(src))
        except OSError:
            return
        for entry in entries:
            if entry.name in SKIP_DIRS or Path(entry.path).resolve() == inside:
                continue
            s, d = Path(entry.path), dst / entry.name
            entries_left[0] -= 1
            try:
                if entry.is_dir(follow_symlinks=True):
                    if entries_left[0] <= 0 or budget[0] <= 0 or _too_many_entries(s):
                        d.symlink_to(s.resolve(), target_is_directory=True)
                    else:
                        copy_dir(s, d)
                elif entry.is_file(follow_symlinks=True):
                    size = entry.stat().st_size
                    if size > LARGE_FILE_BYTES or size > budget[0]:
                        d.symlink_to(s.resolve())
                    else:
                        shutil.copy2(s, d)
                        budget[0] -= size
            except OSError:
                continue  # an unreadable file cannot be read by the script either

    copy_dir(source_dir, target)
    return target


def _too_many_entries(path: Path) -> bool:
    try:
        with os.scandir(path) as it:
            for i, _ in enumerate(it):
                if i >= LARGE_DIR_ENTRIES:
                    return True
    except OSError:
        return False
    return False


@contextmanager
def scratch_dir(prefix: str = SCRATCH_PREFIX) -> Iterator[Path]:
    """A temporary folder that is removed afterwards, whatever happened inside."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_script(script: Path, args: Sequence[str] = (), limits: Limits = Limits(),
               env: Mapping[str, str] | None = None) -> RunResult:
    """Runs `python script args` in a scratch copy of the script's folder, then removes the copy."""
    script = Path(script).resolve()
    with scratch_dir() as scratch:
        folder = scratch_copy(script.parent, scratch / "work")
        return run([sys.executable, str(folder / script.name), *args], folder, limits, env)
