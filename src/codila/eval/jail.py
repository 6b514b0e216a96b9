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
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 1, 24, 38, 22, 2
SYS_MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 1  # 442 on x86_64 and aarch64
SECCOMP_ARCH = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}  # (AUDIT_ARCH_*, socket's number)
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


def private_tmp(path: str, size_mb: int, files: int) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,nr_inodes={files},mode=1777")


def read_only_everything() -> None:
    """Every mount of this namespace read-only, recursively (mount_setattr, Linux 5.12+): no path outside the
    private tmpfs mounted afterwards is writable, whatever its permissions (a 1777 folder, the evaluator's files)."""
    attr = (ctypes.c_uint64 * 4)(MOUNT_ATTR_RDONLY, 0, 0, 0)  # struct mount_attr {set, clr, propagation, userns_fd}
    result = libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, b"/", AT_RECURSIVE, ctypes.byref(attr), ctypes.sizeof(attr))
    _call(0 if result == 0 else -1, "mount_setattr(/, read-only)")


def forbid_unix_sockets() -> None:
    """A seccomp filter: socket(AF_UNIX, ...) fails with EACCES (no connecting to a filesystem or abstract socket of
    the host; socketpair still works), as does io_uring (which could open sockets past the filter) and any syscall of
    another ABI (x32, i386). x86_64 and aarch64 only."""
    machine = os.uname().machine
    if machine not in SECCOMP_ARCH:
        raise OSError(f"no seccomp filter for {machine}: unix sockets cannot be refused here")
    arch, socket_nr = SECCOMP_ARCH[machine]
    deny, allow = 0x00050000 | 13, 0x7FFF0000  # SECCOMP_RET_ERRNO | EACCES, SECCOMP_RET_ALLOW
    load, equal, at_least, ret = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_JMP|JGE|K, BPF_RET|K
    program = [
        (load, 0, 0, 4),  # 0: arch
        (equal, 0, 7, arch),  # 1: another ABI -> 9
        (load, 0, 0, 0),  # 2: syscall number
        (at_least, 5, 0, 0x40000000),  # 3: x32 -> 9
        (equal, 4, 0, 425),  # 4: io_uring_setup -> 9
        (equal, 0, 2, socket_nr),  # 5: not socket -> 8
        (load, 0, 0, 16),  # 6: its first argument (the family; low 32 bits)
        (equal, 1, 0, 1),  # 7: AF_UNIX -> 9
        (ret, 0, 0, allow),  # 8
        (ret, 0, 0, deny),  # 9
    ]

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    filters = (Filter * len(program))(*[Filter(*row) for row in program])
    _call(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(Program(len(program), filters)), 0, 0), "seccomp")


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
    forbid_unix_sockets()


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
        read_only_everything()
        for path in ("/tmp", "/var/tmp", "/dev/shm"):
            private_tmp(path, spec["disk_mb"], spec["max_files"])
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
