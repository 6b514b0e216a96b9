"""The sandbox's first process inside its namespaces (stdlib only; run as `python -I -S jail.py SPEC.json`).

`codila.eval.sandbox` starts it under `unshare` (new network, mount and PID namespaces, /proc remounted; for a
non-root user also a user namespace mapping the user to root). It then, before running the untrusted program:
1. hides the evaluator's files: an empty read-only tmpfs over each path of `spec["hide"]` (the repository, the
   codila package and its data, the working directory, the home folder, the venv), except the directories on
   the way to the interpreter (`spec["keep"]`), whose siblings are hidden one by one instead;
2. mounts size-limited private tmpfs on /tmp, /var/tmp and /dev/shm (gone with the namespace) and puts the
   program in /tmp;
3. sets the resource limits (address space, CPU, processes, file size, no core files);
4. gives up its power: as root it becomes the run's own unprivileged uid, otherwise it drops every capability
   (so the mounts above cannot be undone), and sets no_new_privs;
5. execs the interpreter on `codila.eval.harness.run_tests` (the tests' process), handing it the run's secret
   marker, the tests and the harness's source through a memfd on stdin; it starts the program's process itself
   and, only when the tests ran to their end in its own interpreter, writes the marker to file descriptor 3.
Any failure before step 5 prints `codila-sandbox: ...` and exits with SETUP_FAILED.
"""

import ctypes
import json
import os
import resource
import sys

SETUP_FAILED = 125
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND = 1, 2, 4, 4096
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
RESULT_FD = 3

libc = ctypes.CDLL(None, use_errno=True)


def _call(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _call(
        libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags, data.encode() if data else None),
        f"mount {target}",
    )


def hide(path: str, keep: list[str]) -> None:
    """Make `path` unreadable: an empty read-only tmpfs over a directory, /dev/null over a file; a directory
    holding a kept path is entered instead and each of its other entries hidden."""
    if os.path.islink(path) or not os.path.exists(path):
        return  # a symlink points at a path hidden on its own or at one that is not secret
    inner = [k for k in keep if k.startswith(path.rstrip("/") + "/")]
    if any(k == path for k in keep):
        return
    if inner and os.path.isdir(path):
        for entry in os.listdir(path):
            hide(os.path.join(path, entry), keep)
    elif os.path.isdir(path):
        mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=755")
    elif os.path.isfile(path):
        mount("/dev/null", path, None, MS_BIND)


def private_tmp(path: str, size_mb: int) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,mode=1777")


def limit(spec: dict) -> None:
    for name, value in spec["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))


def give_up_power(uid) -> None:
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        _call(libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0), "prctl(PDEATHSIG)")  # cleared by the uid change
    else:
        for capability in range(64):
            libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0)  # past the last capability: EINVAL, ignored
    _call(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")


def main() -> None:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    os.unlink(sys.argv[1])  # the marker and the tests: gone before anything of the program runs
    with open(spec["program"]) as handle:
        program = handle.read()
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.py")) as handle:
        harness = handle.read()
    uid = spec["uid"]
    os.dup2(spec["result_fd"], RESULT_FD)
    if spec["isolate_files"]:
        for path in spec["hide"]:
            hide(path, spec["keep"])
        for path in ("/tmp", "/var/tmp", "/dev/shm"):
            private_tmp(path, spec["disk_mb"])
        os.chdir("/tmp")
    else:
        os.chdir(os.path.dirname(spec["program"]))
    target = os.path.join(os.getcwd(), "program.py")
    with open(target, "w") as handle:
        handle.write(program)
    if uid is not None:
        os.chown(target, uid, uid)
        os.chown(os.getcwd(), uid, uid)
    given = {
        "marker": spec["marker"],
        "tests": spec["tests"],
        "harness": harness,
        "python": spec["python"],
        "program": target,
        "env": spec["env"],
    }
    handed = os.memfd_create("codila-tests")  # read whole by the tests' process before the program starts
    os.write(handed, json.dumps(given).encode())
    os.lseek(handed, 0, os.SEEK_SET)
    os.dup2(handed, 0)
    os.close(handed)
    limit(spec)
    give_up_power(uid)
    runner = harness + "\nrun_tests()\n"
    os.execve(spec["python"], [spec["python"], "-I", "-S", "-B", "-c", runner], spec["env"])


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # noqa: BLE001 - any setup failure is reported the same way
        print(f"codila-sandbox: {error}", flush=True)
        os._exit(SETUP_FAILED)
