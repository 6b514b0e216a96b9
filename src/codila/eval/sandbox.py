"""Run untrusted generated code: its own process group and temporary directory, a wall-clock timeout, caps on
memory and processes, no network. The caller always gets a result back, whatever the program does.

How each limit is enforced (measured on Linux as root, where RLIMIT_NPROC alone does not stop a fork bomb):
- network: the program runs inside `unshare -n` (an empty network namespace); without root, `unshare -rn`.
- processes: as root the program runs as a fresh unprivileged uid (via setpriv after unshare; one uid per run,
  so concurrent runs never touch each other), so RLIMIT_NPROC applies; afterwards every process of that uid
  is killed, including children that left the process group.
- memory: RLIMIT_AS. Time: the whole process group is killed at the timeout; RLIMIT_CPU (the timeout rounded up,
  plus one second) is the backstop that ends each process even when the evaluator itself was killed before its
  timeout fired.
"""

from __future__ import annotations

import itertools
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache

SANDBOX_UID_BASE = 200_000  # as root, each run gets its own unprivileged uid above this (no passwd entry needed)
_runs = itertools.count()


def own_uids() -> range:
    """The sandbox uids this process hands out: 64 of its own, so concurrent evaluations never share one."""
    first = SANDBOX_UID_BASE + (os.getpid() % 100_000) * 64
    return range(first, first + 64)


def _fresh_uid() -> int:
    """A uid no other concurrent sandbox run of this machine uses (distinct per process and per run)."""
    return own_uids()[next(_runs) % 64]


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 10.0  # wall clock per program; a task may ask for more (Task.timeout_s)
    memory_mb: int = 2048
    max_processes: int = 32
    max_output_chars: int = 2000


@dataclass(frozen=True)
class ExecutionResult:
    status: str  # "passed", "failed" (non-zero exit), "timeout"
    returncode: int | None
    output: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@lru_cache(maxsize=1)
def _network_isolation() -> tuple[str, ...]:
    """The `unshare` prefix that works here; empty (and no isolation) only where neither variant runs."""
    if shutil.which("unshare") is None:
        return ()
    for prefix in (("unshare", "-n"), ("unshare", "-rn")):
        if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    return ()


def network_isolated() -> bool:
    return bool(_network_isolation())


def _limit_child(limits: SandboxLimits) -> None:
    """Runs in the child between fork and exec; the limits are inherited by the sandboxed program."""
    memory = limits.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    cpu_seconds = math.ceil(limits.timeout_s) + 1  # past the wall-clock timeout: a backstop, not the usual stop
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))


def _drop_privileges(uid: int | None) -> tuple[str, ...]:
    """As root: run the program as `uid` (after `unshare` made the namespace), so RLIMIT_NPROC counts."""
    if uid is None:
        return ()
    if shutil.which("setpriv") is None:
        raise RuntimeError("running generated code as root needs setpriv (util-linux) to drop to an unprivileged user")
    return ("setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--")


def _kill_everything(process: subprocess.Popen, uid: int | None) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if uid is None:
        return
    deadline = time.monotonic() + 5.0
    while sandbox_processes(uid) and time.monotonic() < deadline:  # children that left the group: kill them all
        subprocess.run([sys.executable, "-c", f"import os, signal; os.setuid({uid}); os.kill(-1, signal.SIGKILL)"],
                       capture_output=True)
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


def run_program(code: str, limits: SandboxLimits = SandboxLimits()) -> ExecutionResult:
    """Run `code` as a Python program in the sandbox; "passed" means it exited with status 0 in time."""
    uid = _fresh_uid() if os.geteuid() == 0 else None
    with tempfile.TemporaryDirectory(prefix="codila-sandbox-") as workdir:
        path = os.path.join(workdir, "program.py")
        with open(path, "w") as handle:
            handle.write(code)
        if uid is not None:
            os.chown(workdir, uid, uid)
            os.chown(path, uid, uid)
        command = [*_network_isolation(), *_drop_privileges(uid), sys.executable, "-I", "-B", path]
        process = subprocess.Popen(command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True, env={"PATH": os.defpath},
                                   preexec_fn=lambda: _limit_child(limits))
        try:
            output, _ = process.communicate(timeout=limits.timeout_s)
            cpu_exhausted = process.returncode == -signal.SIGXCPU  # the kernel's backstop fired first
            status = "passed" if process.returncode == 0 else "timeout" if cpu_exhausted else "failed"
        except subprocess.TimeoutExpired:
            _kill_everything(process, uid)
            output, _ = process.communicate()
            status = "timeout"
        finally:
            _kill_everything(process, uid)
    text = output.decode("utf-8", errors="replace")[-limits.max_output_chars :]
    return ExecutionResult(status, process.returncode if status != "timeout" else None, text)
