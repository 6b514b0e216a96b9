"""Misbehaving programs are contained and the caller goes on."""

import os
import time

import pytest

from codila.eval.sandbox import SandboxLimits, network_isolated, own_uids, run_program


def _live_sandbox_process(pid: str) -> bool:
    """A running (not zombie) process owned by one of the sandbox uids this test process hands out (other
    evaluations may run on the machine at the same time, with their own uids)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
        return os.stat(f"/proc/{pid}").st_uid in own_uids() and state != "Z"
    except (OSError, IndexError):
        return False

QUICK = SandboxLimits(timeout_s=3.0, memory_mb=512, max_processes=16)


def test_ordinary_programs_pass_or_fail_by_exit_status():
    assert run_program("assert 1 + 1 == 2\nprint('ok')\n", QUICK).passed
    failed = run_program("assert 1 + 1 == 3\n", QUICK)
    assert failed.status == "failed" and "AssertionError" in failed.output


def test_infinite_loop_is_killed_at_the_timeout():
    started = time.monotonic()
    result = run_program("while True:\n    pass\n", SandboxLimits(timeout_s=1.0))
    assert result.status == "timeout" and time.monotonic() - started < 30


def test_a_cpu_limit_outlives_the_evaluator():
    # if the evaluator is killed before its timeout fires, the kernel still stops the program after that much CPU
    result = run_program("import resource\nprint(resource.getrlimit(resource.RLIMIT_CPU))\n", SandboxLimits(timeout_s=2.5))
    assert result.passed and result.output.strip() == "(4, 4)"  # ceil(2.5) + 1 s of CPU


def test_unbounded_allocation_is_contained():
    result = run_program("x = []\nwhile True:\n    x.append(bytearray(10**7))\n", QUICK)
    assert result.status == "failed" and "MemoryError" in result.output


def test_fork_bomb_is_contained_and_cleaned_up():
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    result = run_program(code, SandboxLimits(timeout_s=2.0, max_processes=16))
    assert result.status in ("timeout", "failed")
    assert run_program("print('still alive')\n", QUICK).passed
    if os.geteuid() == 0:  # nothing of any sandbox uid survives
        assert not [pid for pid in os.listdir("/proc") if pid.isdigit() and _live_sandbox_process(pid)]


@pytest.mark.skipif(not network_isolated(), reason="no way to make a network namespace on this machine")
def test_no_network():
    code = ("import socket\ns = socket.socket()\ns.settimeout(2)\nassert s.connect_ex(('127.0.0.1', 22)) != 0\n"
            "socket.create_connection(('1.1.1.1', 80), timeout=2)\n")
    result = run_program(code, QUICK)
    assert result.status == "failed" and ("unreachable" in result.output or "OSError" in result.output)


def test_program_cannot_write_outside_its_directory(tmp_path):
    target = tmp_path / "should_not_exist"
    os.chmod(tmp_path, 0o755)
    result = run_program(f"open({str(target)!r}, 'w').write('x')\n", QUICK)
    if os.geteuid() == 0:
        assert result.status == "failed" and not target.exists()
