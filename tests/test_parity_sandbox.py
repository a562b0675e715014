"""The parity sandbox on tiny scripts: timeouts, crashes, exits, loud output, memory, scratch copies."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from translator.parity import sandbox
from translator.parity.batch import WarmWorkers
from translator.parity.sandbox import Limits, closed_input, run_script


def _script(folder: Path, text: str, name: str = "script.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_a_clean_run(tmp_path):
    result = run_script(_script(tmp_path, "print('hello')\n"))
    assert result.ok and result.returncode == 0 and result.stdout == "hello\n"


def test_a_hanging_script_is_killed_with_its_children(tmp_path):
    marker = tmp_path / "child_alive"
    child = f"import time; time.sleep(3); open({str(marker)!r}, 'w').close()"
    script = _script(tmp_path, (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {child!r}])\n"  # would outlive a naive kill
        "print('started', flush=True)\n"
        "time.sleep(600)\n"))
    start = time.monotonic()
    result = run_script(script, limits=Limits(timeout_s=1))
    assert time.monotonic() - start < 10
    assert result.timed_out and result.error == "timed out after 1 s"
    assert "started" in result.stdout
    time.sleep(3.5)
    assert not marker.exists(), "the script's child survived the timeout"


def test_a_crash_shows_the_scripts_error(tmp_path):
    result = run_script(_script(tmp_path, "print('before')\n1 / 0\n"))
    assert result.returncode == 1
    assert result.error == "exited with status 1: ZeroDivisionError: division by zero"
    assert "Traceback" in result.stderr and result.stdout == "before\n"


def test_sys_exit_and_os_exit(tmp_path):
    assert run_script(_script(tmp_path, "import sys\nsys.exit(3)\n")).error == "exited with status 3"
    assert run_script(_script(tmp_path, "import sys\nsys.exit(0)\n")).ok
    assert run_script(_script(tmp_path, "import os\nos._exit(7)\n")).error == "exited with status 7"


def test_a_signal_is_named(tmp_path):
    result = run_script(_script(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n"))
    assert result.error == "killed by SIGTERM"


def test_megabytes_of_prints_are_capped(tmp_path):
    script = _script(tmp_path, "import sys\nfor i in range(60000):\n"
                               "    sys.stdout.write('x' * 99 + '\\n')\nprint('the end')\n")
    result = run_script(script, limits=Limits(output_bytes=64 * 1024))
    assert result.ok
    assert result.output_bytes > 5_000_000
    assert len(result.stdout) < 70 * 1024
    assert "bytes of output left out" in result.stdout
    assert result.stdout.rstrip().endswith("the end")  # the end of the output is kept


def test_memory_cap(tmp_path):
    script = _script(tmp_path, "x = bytearray(2 * 1024 ** 3)\nprint('allocated')\n")
    result = run_script(script, limits=Limits(memory_mb=512))
    assert result.error == "ran out of memory (limit 512 MiB)"


def test_stdin_is_closed_so_input_cannot_hang(tmp_path):
    result = run_script(_script(tmp_path, "input('name? ')\n"), limits=Limits(timeout_s=20))
    assert not result.timed_out and "EOFError" in result.error


def test_stdin_reads_end_of_file_whatever_dev_null_holds():
    # /dev/null is a plain file on some machines, and it may hold what something wrote to it
    fd = closed_input()
    try:
        assert os.read(fd, 100) == b""
    finally:
        os.close(fd)


def test_a_warm_workers_child_reads_no_input(tmp_path):
    work = tmp_path / "work"
    _script(work, "print('before')\ninput('name? ')\n", name="train.py")
    (tmp_path / "io").mkdir()
    with WarmWorkers({}) as workers:
        job = workers.start([sys.executable, "-m", "translator.parity.torch_runner",
                             str(work / "train.py"), str(tmp_path / "io")], work,
                            Limits(timeout_s=60))
        result = job.wait()
    assert not result.timed_out and "before" in result.stdout
    assert "EOFError" in result.stderr


def test_runs_in_a_scratch_copy_and_writes_nothing_beside_the_source(tmp_path):
    src = tmp_path / "project"
    _script(src / "data", "1,2,3\n", name="values.csv")
    (src / ".git").mkdir()
    (src / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    script = _script(src, (
        "import os\n"
        "print(open('data/values.csv').read().strip())\n"
        "print(os.path.exists('.git'))\n"
        "open('written.txt', 'w').write('x')\n"
        "print(os.getcwd())\n"))
    before = sorted(p.relative_to(src) for p in src.rglob("*"))
    result = run_script(script)
    assert result.ok, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["1,2,3", "False"]
    scratch = Path(lines[2])
    assert scratch != src and not scratch.exists(), "the scratch copy was not removed"
    assert sorted(p.relative_to(src) for p in src.rglob("*")) == before


def test_large_files_are_linked_not_copied(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "LARGE_FILE_BYTES", 1000)
    src = tmp_path / "project"
    _script(src, "x" * 5000, name="big.bin")
    _script(src, "small", name="small.txt")
    copy = sandbox.scratch_copy(src, tmp_path / "copy")
    assert (copy / "big.bin").is_symlink() and (copy / "big.bin").read_text() == "x" * 5000
    assert not (copy / "small.txt").is_symlink()


def test_environment_is_non_interactive(tmp_path):
    result = run_script(_script(tmp_path, "import os\nprint(os.environ['MPLBACKEND'])\n"))
    assert result.stdout.strip() == "Agg"


def test_scratch_copy_of_a_crowded_folder_links_what_it_does_not_copy(tmp_path, monkeypatch) -> None:
    """A script in a crowded folder (the temp folder) used to be copied whole, tree by tree."""
    from translator.parity import sandbox

    monkeypatch.setattr(sandbox, "COPY_MAX_ENTRIES", 20)
    src = tmp_path / "src"
    for i in range(30):
        (src / f"d{i:02}" / "inner").mkdir(parents=True)
        (src / f"d{i:02}" / "inner" / "f.txt").write_text("x")
    (src / "script.py").write_text("print(1)\n")
    out = sandbox.scratch_copy(src, tmp_path / "scratch")
    assert (out / "script.py").read_text() == "print(1)\n"
    linked = [p for p in out.iterdir() if p.is_symlink()]
    assert linked and all((p / "inner" / "f.txt").read_text() == "x" for p in out.iterdir() if p.is_dir())
    copied = sum(1 for _ in out.rglob("*") if not any(q.is_symlink() for q in (_, *_.parents)))
    assert copied <= 25
