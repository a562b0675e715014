"""The first code a sandboxed child runs: resource caps and audit hooks, then the real command."""

# Run as `python guard.py MEMORY_BYTES SCRATCH_ROOT MAX_PROCESSES COMMAND...`, never imported by
# the translator. The caps (address space, no core files) hold for anything. When COMMAND is this
# Python running a script or a module, it runs in this same process under audit hooks (PEP 578)
# that refuse writes outside SCRATCH_ROOT and more than MAX_PROCESSES new processes in all (a
# counter file shared by every descendant, so a fork bomb cannot multiply its allowance). Audit
# hooks stop Python-level calls; native code (ctypes, C extensions) can still get around them.

import os
import resource
import sys

WATCHED_PATHS = {"open": (0,), "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,),
                 "os.rename": (0, 1), "os.link": (1,), "os.symlink": (1,), "os.truncate": (0,),
                 "os.chmod": (0,), "os.chown": (0,), "os.utime": (0,), "shutil.rmtree": (0,)}
SPAWNS = {"os.fork", "os.forkpty", "subprocess.Popen", "os.posix_spawn", "os.spawn",
          "os.system"}
ALWAYS_WRITABLE = ("/dev/",)
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def install(root: str, max_processes: int) -> None:
    root = os.path.realpath(root)
    counter = os.path.join(root, ".keras2torch-processes")

    def outside(path) -> bool:
        if isinstance(path, int) or path is None:
            return False  # an open file descriptor: its opening was checked
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        full = os.path.realpath(os.path.join(os.getcwd(), os.fspath(path)))
        if full == root or full.startswith(root + os.sep):
            return False
        return not full.startswith(ALWAYS_WRITABLE)

    def hook(event: str, args: tuple) -> None:
        positions = WATCHED_PATHS.get(event)
        if positions is not None:
            if event == "open":
                mode, flags = args[1], args[2] if len(args) > 2 else 0
                writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                    isinstance(flags, int) and flags & WRITE_FLAGS)
                if not writing:
                    return
            for i in positions:
                if i < len(args) and outside(args[i]):
                    raise PermissionError(f"keras2torch sandbox: {event} outside the scratch "
                                          f"folder is refused: {args[i]!r}")
            return
        if event in SPAWNS:
            fd = os.open(counter, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, b"+")
                count = os.fstat(fd).st_size
            finally:
                os.close(fd)
            if count > max_processes:
                raise PermissionError(f"keras2torch sandbox: more than {max_processes} new "
                                      f"processes are refused ({event})")

    sys.addaudithook(hook)


def run_python(argv: list[str]) -> None:
    """`python -m module args` or `python script args`, in this process; exits like Python."""
    import runpy

    if argv[0] == "-m":
        sys.argv = [argv[1], *argv[2:]]
        sys.path[0] = os.getcwd()
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(argv)
        sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
        runpy.run_path(argv[0], run_name="__main__")


def main() -> None:
    memory, root, max_processes = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    command = sys.argv[4:]
    if memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    in_process = (root and len(command) > 1 and command[0] == sys.executable
                  and (command[1] == "-m" or not command[1].startswith("-")))
    if not in_process:
        os.execvp(command[0], command)
    install(root, max_processes)
    run_python(command[1:])


if __name__ == "__main__":
    main()
