"""Run untrusted generated code (following human-eval / evalplus, for root and non-root users alike). The caller
always gets a result back, whatever the program does, and nothing of the evaluator can be read or touched.

How each property is enforced (the in-namespace half is `codila.eval.jail`):
- passing means the tests ran to their end, decided outside the program's interpreter (`codila.eval.harness`):
  a program is the generated code, then `TESTS_FOLLOW`, then its tests. The tests run in their own interpreter
  (the sandbox's first process), which starts the program's interpreter and calls into it; only when the tests
  ran to their end does it write the run's secret marker to a pipe the program's process never holds.
  `sys.exit(0)`, `os._exit(0)` or a crash before the tests end is a failure, whatever the exit status.
- namespaces: `unshare` gives the program empty network, private mount and PID namespaces (for a non-root user
  inside a user namespace). It cannot see or signal any process outside, and when it ends (or is killed at the
  timeout) the kernel kills every process it left behind, detached or not.
- files: the repository, the codila package (reference solutions), the working directory, the home folder and
  the venv are hidden under empty read-only mounts; /tmp, /var/tmp and /dev/shm are private size-limited tmpfs,
  RLIMIT_FSIZE caps each file; the program's own temporary folder is removed afterwards.
- privileges: as root the program runs as a fresh unprivileged uid per run (so RLIMIT_NPROC bounds a fork
  bomb and every leftover process of that uid can be killed); otherwise it keeps no capability.
- output is read while the program runs, keeping only the last `max_output_chars` (never buffered whole).
- memory: RLIMIT_AS; time: the wall-clock timeout kills everything; RLIMIT_CPU (timeout + 1 s) is the backstop.
Where the network namespace cannot be made, runs refuse (`CodilaError`) unless `allow_network` is set.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from codila.errors import CodilaError
from codila.eval import jail
from codila.eval.harness import TESTS_FOLLOW

__all__ = ["TESTS_FOLLOW", "ExecutionResult", "SandboxLimits", "run_program", "with_tests"]

SANDBOX_UID_BASE = 200_000  # as root, each run gets its own unprivileged uid above this (no passwd entry needed)
UIDS_PER_PROCESS = 64  # also the cap of --workers (codila.validate)
_free_uids: list[int] | None = None
_uids_changed = threading.Condition()
NAMESPACES = ("--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc")


def own_uids() -> range:
    """The sandbox uids this process hands out: 64 of its own (by its pid), so concurrent evaluations of different
    processes do not share one (two live processes whose pids are equal modulo 100000 would)."""
    first = SANDBOX_UID_BASE + (os.getpid() % 100_000) * UIDS_PER_PROCESS
    return range(first, first + UIDS_PER_PROCESS)


def acquire_uid(timeout: float | None = None) -> int | None:
    """A uid of `own_uids()` that no other run of this process holds now (None after `timeout` seconds): more
    concurrent runs than uids wait for one, so no two live programs ever share a uid (and kill each other)."""
    global _free_uids
    with _uids_changed:
        if _free_uids is None or not set(_free_uids) <= set(own_uids()):  # first use, or a forked child
            _free_uids = list(own_uids())
        if not _uids_changed.wait_for(lambda: _free_uids, timeout):
            return None
        return _free_uids.pop(0)


def release_uid(uid: int) -> None:
    with _uids_changed:
        if _free_uids is not None and uid in own_uids() and uid not in _free_uids:
            _free_uids.append(uid)
            _uids_changed.notify()


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 10.0  # wall clock per program; a task may ask for more (Task.timeout_s)
    memory_mb: int = 2048
    max_processes: int = 32
    max_output_chars: int = 2000
    disk_mb: int = 64  # each private tmpfs (/tmp, /var/tmp, /dev/shm) and the largest file the program may write
    max_files: int = 4096  # inodes (files and folders) of each private tmpfs
    allow_network: bool = False  # run even where no network namespace can be made (the program then has network)


@dataclass(frozen=True)
class ExecutionResult:
    status: str  # "passed" (ran to its end, exit 0), "failed", "timeout"
    returncode: int | None
    output: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def interpreter() -> str:
    """The base interpreter (not the venv's launcher, which may sit in a hidden folder); run with -I -S."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


@lru_cache(maxsize=None)
def isolation(allow_network: bool) -> tuple[tuple[str, ...], bool]:
    """(the `unshare` prefix that works here, whether files can be hidden). Refuses without a network namespace
    unless `allow_network`."""
    if shutil.which("unshare") is not None:
        user = () if os.geteuid() == 0 else ("--map-root-user",)
        candidates = [("unshare", *user, *NAMESPACES)]
        if allow_network:
            candidates.append(("unshare", *user, *NAMESPACES[1:]))
        for prefix in candidates:
            if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
                return prefix, True
    if not allow_network:
        raise CodilaError(
            "cannot isolate generated programs from the network here (`unshare -n` failed or is missing; "
            "it needs root or unprivileged user namespaces): fix that, or pass --allow-network to run them anyway"
        )
    return (), False


def network_isolated() -> bool:
    try:
        return "--net" in isolation(False)[0]
    except CodilaError:
        return False


def hidden_paths(python: str, prefix: str) -> tuple[list[str], list[str]]:
    """(paths the program must not read, the interpreter's folders, which stay visible)."""
    package = Path(__file__).resolve().parents[1]  # the codila package (its assets hold the references)
    hide = {package, Path.cwd().resolve(), Path.home().resolve(), Path(sys.prefix).resolve()}
    base = Path(sys.base_prefix).resolve()
    for entry in filter(None, sys.path):  # installed packages and source folders (editable installs, PYTHONPATH)
        path = Path(entry).resolve()
        if path.is_dir() and ("site-packages" in path.parts or "dist-packages" in path.parts or base not in path.parents):
            hide.add(path)
    for folder in package.parents:
        if (folder / ".git").exists() or (folder / "pyproject.toml").exists():
            hide.add(folder)  # the repository the package was run from
            break
    keep = [str(Path(prefix).resolve()), str(Path(python).parent)]
    return sorted(str(path) for path in hide if len(path.parts) > 1), keep


def _rlimits(limits: SandboxLimits) -> dict[str, int]:
    cpu_seconds = math.ceil(limits.timeout_s) + 1  # past the wall-clock timeout: a backstop, not the usual stop
    return {
        "RLIMIT_AS": limits.memory_mb * 2**20,
        "RLIMIT_CORE": 0,
        "RLIMIT_CPU": cpu_seconds,
        "RLIMIT_NPROC": limits.max_processes,
        "RLIMIT_FSIZE": limits.disk_mb * 2**20,
    }


def _kill_everything(process: subprocess.Popen, uid: int | None) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)  # unshare; its child (the namespace's init) dies with it
    except ProcessLookupError:
        pass
    if uid is None:
        return
    deadline = time.monotonic() + 5.0
    while sandbox_processes(uid) and time.monotonic() < deadline:  # as root: anything left of the run's uid
        subprocess.run(
            [sys.executable, "-c", f"import os, signal; os.setuid({uid}); os.kill(-1, signal.SIGKILL)"], capture_output=True
        )
        time.sleep(0.05)


def sandbox_processes(uid: int) -> list[int]:
    """Live (not zombie) processes of `uid`."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
        except OSError:
            continue
        if int(fields.get("Uid", "0").split()[0]) == uid and not fields.get("State", "").strip().startswith("Z"):
            pids.append(int(entry))
    return pids


def _collect(process: subprocess.Popen, result_fd: int, limits: SandboxLimits) -> tuple[bytes, bytes, bool]:
    """(the output's last bytes, what reached the result pipe, timed out?) read while the program runs."""
    keep = 4 * limits.max_output_chars  # bytes: enough for that many UTF-8 characters
    output, result = bytearray(), bytearray()
    deadline = time.monotonic() + limits.timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, output)
        selector.register(result_fd, selectors.EVENT_READ, result)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return bytes(output), bytes(result), True
            for key, _ in selector.select(min(remaining, 0.5)):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                key.data.extend(chunk)
                del key.data[: max(0, len(key.data) - keep)]
    try:
        process.wait(max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:  # closed its output but still runs
        return bytes(output), bytes(result), True
    return bytes(output), bytes(result), False


def _die_with_the_evaluator() -> None:
    """In the child before exec: `unshare` gets SIGKILL when the evaluator dies (its child, the program, follows)."""
    jail.libc.prctl(jail.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _launch(
    code: str, limits: SandboxLimits, uid: int | None, marker: str, folder: str, python: str, prefix: str
) -> tuple[subprocess.Popen, int]:
    namespaces, isolate_files = isolation(limits.allow_network)
    program = os.path.join(folder, "program.py")
    code, found, tests = code.rpartition(TESTS_FOLLOW)  # the last one: generated code may hold the line too
    if not found:
        code, tests = tests, None
    Path(program).write_text(code)
    if uid is not None:
        os.chown(folder, uid, uid)
    hide, keep = hidden_paths(python, prefix)
    hide.append(folder)  # the marker's spec file: read by the jail before the mounts
    read_end, write_end = os.pipe()
    spec = {
        "program": program,
        "marker": marker,
        "tests": tests,
        "uid": uid,
        "result_fd": write_end,
        "isolate_files": isolate_files,
        "hide": hide,
        "keep": keep,
        "disk_mb": limits.disk_mb,
        "max_files": limits.max_files,
        "rlimits": _rlimits(limits),
        "python": python,
        "env": {"PATH": os.defpath, "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"},
    }
    spec_path = os.path.join(folder, "spec.json")
    Path(spec_path).write_text(json.dumps(spec))
    os.chmod(spec_path, 0o600)
    command = [*namespaces, interpreter(), "-I", "-S", "-B", jail.__file__, spec_path]
    try:
        process = subprocess.Popen(
            command,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={"PATH": os.defpath},
            pass_fds=(write_end,),
            preexec_fn=_die_with_the_evaluator,
        )
    finally:
        os.close(write_end)
    return process, read_end


def with_tests(code: str, tests: str) -> str:
    """A program whose verdict the sandbox decides outside the program's interpreter: `code` runs in one process,
    `tests` in another that reaches the program's names through calls (`codila.eval.harness`)."""
    return f"{code}{TESTS_FOLLOW}{tests}"


def run_program(code: str, limits: SandboxLimits = SandboxLimits()) -> ExecutionResult:
    """Run `code` as a Python program in the sandbox; "passed" means it ran to its last line and exited 0 in time."""
    return _run(code, limits, *sandbox_python(limits.allow_network))


def _run(code: str, limits: SandboxLimits, python: str, prefix: str) -> ExecutionResult:
    uid = acquire_uid() if os.geteuid() == 0 else None
    try:
        return _run_as(code, limits, python, prefix, uid)
    finally:
        if uid is not None:
            release_uid(uid)  # after _kill_everything: nothing of the run is left under it


def _run_as(code: str, limits: SandboxLimits, python: str, prefix: str, uid: int | None) -> ExecutionResult:
    marker = secrets.token_hex(16)
    folder = tempfile.mkdtemp(prefix="codila-sandbox-")
    try:
        process, result_fd = _launch(code, limits, uid, marker, folder, python, prefix)
        try:
            output, result, timed_out = _collect(process, result_fd, limits)
        finally:
            _kill_everything(process, uid)
            process.wait()
            process.stdout.close()
            os.close(result_fd)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    text = output.decode("utf-8", errors="replace")[-limits.max_output_chars :]
    if timed_out or process.returncode in (-signal.SIGXCPU, 128 + signal.SIGXCPU):  # the tests' or the program's CPU
        return ExecutionResult("timeout", None, text)
    if process.returncode == jail.SETUP_FAILED and text.startswith("codila-sandbox:"):
        raise CodilaError(f"the sandbox could not start a program: {text.strip()}")
    completed = process.returncode == 0 and result == marker.encode()
    return ExecutionResult("passed" if completed else "failed", process.returncode, text)


@lru_cache(maxsize=None)
def sandbox_python(allow_network: bool = False) -> tuple[str, str]:
    """(interpreter, its prefix) the sandbox runs programs with: the evaluator's own base interpreter when the
    sandbox can run it, else the system's python3 (as root the program runs as an unprivileged uid, which may not
    reach an interpreter installed in a private home folder). A clear error when neither works, instead of every
    program failing."""
    failures = []
    for python in dict.fromkeys([interpreter(), shutil.which("python3", path=os.defpath)]):
        if python is None:
            continue
        python = os.path.realpath(python)
        try:
            found = subprocess.run([python, "-I", "-S", "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True)
            result = _run(
                "import sys\nassert sys.version_info >= (3, 8)\n",
                SandboxLimits(timeout_s=30.0, allow_network=allow_network),
                python,
                found.stdout.strip() or "/",
            )
        except (CodilaError, OSError) as error:
            failures.append(str(error).rsplit("codila-sandbox: ", 1)[-1])
            continue
        if result.passed:
            return python, found.stdout.strip()
        failures.append(f"{python}: exit {result.returncode} {result.output.strip()[-120:]!r}")
    who = "an unprivileged uid (the sandbox drops root)" if os.geteuid() == 0 else "this user"
    raise CodilaError(
        f"the sandbox cannot run Python as {who} ({'; '.join(failures)}): make an interpreter and its "
        "standard library world-readable (chmod o+rX) or run as a non-root user"
    )
