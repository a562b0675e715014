"""Hostile scripts in the parity sandbox: each ends in a clear error, the parent lives, no litter."""

from __future__ import annotations

import os
import time
from pathlib import Path

from translator.parity.sandbox import Limits, run_script


def _script(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hostile.py"
    path.write_text(text)
    return path


def _scratch_leftovers(before: set[str]) -> set[str]:
    import tempfile

    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("keras2torch-")} - before


def _tmp_entries() -> set[str]:
    import tempfile

    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("keras2torch-")}


def test_writing_outside_the_scratch_folder_is_refused(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    src = tmp_path / "project"
    script = _script(src, (
        f"open({str(victim)!r}, 'w').write('overwritten')\n"))
    result = run_script(script)
    assert victim.read_text() == "precious"
    assert result.error.startswith("exited with status 1: PermissionError: keras2torch sandbox: "
                                   "open outside the scratch folder is refused")


def test_deleting_renaming_and_creating_outside_are_refused(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    src = tmp_path / "project"
    attempts = [f"os.remove({str(victim)!r})", f"os.rename({str(victim)!r}, 'stolen.txt')",
                f"os.mkdir({str(tmp_path / 'made')!r})",
                f"shutil.rmtree({str(tmp_path)!r})",
                f"os.open({str(tmp_path / 'new.txt')!r}, os.O_CREAT | os.O_WRONLY)"]
    body = "".join(f"try:\n    {a}\n    print('done')\nexcept PermissionError as e:\n"
                   f"    print('refused')\n" for a in attempts)
    result = run_script(_script(src, "import os, shutil\n" + body))
    assert result.ok, result.stderr
    assert result.stdout.split() == ["refused"] * len(attempts)
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project", "victim.txt"]


def test_writes_inside_the_scratch_folder_and_temp_files_work(tmp_path):
    script = _script(tmp_path / "project", (
        "import os, tempfile\n"
        "open('out.txt', 'w').write('ok')\n"
        "os.makedirs('a/b', exist_ok=True)\n"
        "with tempfile.NamedTemporaryFile('w') as f:\n"
        "    f.write('x')\n"
        "    print(f.name.startswith(os.path.dirname(os.getcwd())))\n"
        "open(os.devnull, 'w').close()\n"
        "print(open('out.txt').read())\n"))
    result = run_script(script)
    assert result.ok, result.stderr
    assert result.stdout.split() == ["True", "ok"]
    assert not (tmp_path / "project" / "out.txt").exists()


def test_a_fork_bomb_is_stopped_and_the_parent_survives(tmp_path):
    script = _script(tmp_path, (
        "import os, time\n"
        "while True:\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(30)\n"
        "        os._exit(0)\n"))
    before = _tmp_entries()
    start = time.monotonic()
    result = run_script(script, limits=Limits(timeout_s=20, max_processes=16))
    assert time.monotonic() - start < 20
    assert "more than 16 new processes are refused" in result.error
    assert not _scratch_leftovers(before)


def test_subprocesses_count_towards_the_process_cap(tmp_path):
    script = _script(tmp_path, (
        "import subprocess, sys\n"
        "for i in range(10):\n"
        "    subprocess.run([sys.executable, '-c', 'pass'])\n"
        "print('all ran')\n"))
    assert run_script(script, limits=Limits(max_processes=3)).error.endswith(
        "more than 3 new processes are refused (subprocess.Popen)")
    assert run_script(script, limits=Limits(max_processes=20)).stdout == "all ran\n"


def test_endless_printing_ends_at_the_timeout_with_bounded_output(tmp_path):
    script = _script(tmp_path, "while True:\n    print('spam' * 50)\n")
    start = time.monotonic()
    result = run_script(script, limits=Limits(timeout_s=2, output_bytes=32 * 1024))
    assert time.monotonic() - start < 15
    assert result.timed_out and result.error == "timed out after 2 s"
    assert result.output_bytes > 100_000
    assert len(result.stdout) < 40 * 1024 and "bytes of output left out" in result.stdout


def test_unbounded_allocation_is_a_memory_error(tmp_path):
    script = _script(tmp_path, (
        "chunks = []\n"
        "while True:\n"
        "    chunks.append(bytearray(64 * 1024 * 1024))\n"))
    result = run_script(script, limits=Limits(memory_mb=600, timeout_s=60))
    assert result.error == "ran out of memory (limit 600 MiB)"


def test_os_exit_inside_a_finally_and_sys_exit_with_text(tmp_path):
    result = run_script(_script(tmp_path, "import sys\nsys.exit('giving up')\n"))
    assert result.error == "exited with status 1: giving up"
    result = run_script(_script(tmp_path, (
        "import os\ntry:\n    raise SystemExit(0)\nfinally:\n    os._exit(9)\n")))
    assert result.error == "exited with status 9"


def test_a_segfault_is_named_and_scratch_is_removed(tmp_path):
    before = _tmp_entries()
    result = run_script(_script(tmp_path, "import ctypes\nctypes.string_at(0)\n"))
    assert result.error == "killed by SIGSEGV"
    assert not _scratch_leftovers(before)


def test_a_script_that_ignores_sigterm_and_hangs_is_killed(tmp_path):
    script = _script(tmp_path, (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "while True:\n    time.sleep(0.1)\n"))
    start = time.monotonic()
    result = run_script(script, limits=Limits(timeout_s=1))
    assert result.timed_out and time.monotonic() - start < 10
