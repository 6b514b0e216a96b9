"""Misbehaving programs are contained and the caller goes on: as the current user (root or not) and, when the
tests run as root, again as an unprivileged user (where the sandbox takes its user-namespace path)."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hostile
from codila.errors import CodilaError
from codila.eval import sandbox
from codila.eval.sandbox import SandboxLimits, own_uids, run_program

QUICK = SandboxLimits(timeout_s=20.0, memory_mb=512, max_processes=16)
HOSTILE_LIMITS = {"timeout_s": 20.0, "memory_mb": 512, "max_processes": 16}
UNPRIVILEGED = 65534  # nobody
WHICH = shutil.which


def _live_sandbox_process(pid: str) -> bool:
    """A running (not zombie) process owned by one of the sandbox uids this test process hands out."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
        return os.stat(f"/proc/{pid}").st_uid in own_uids() and state != "Z"
    except (OSError, IndexError):
        return False


def _owner(path: Path) -> int | None:
    try:
        return path.stat().st_uid
    except OSError:  # removed meanwhile by another evaluation
        return None


def _check_hostile(results: dict) -> None:
    for name, (_, allowed, needle) in hostile.cases(0, 0).items():
        status, output = results[name]
        assert status in allowed, (name, status, output)
        assert needle is None or needle in output, (name, output)
        assert not [word for word in ("READ", "CONNECTED", "OPENED", "WROTE") if word in output], (name, output)
        assert len(output) <= 300
    assert results["after"][0] == "passed" and results["accepted"] is False
    assert results.get("own file intact", True), results.get("overwrite the evaluator's own file")


def test_the_verdict_is_decided_outside_the_program():
    assert hostile.TESTS_FOLLOW_TEXT == sandbox.TESTS_FOLLOW
    good = run_program(sandbox.with_tests("def f(x):\n    return [x, 2 * x]\n", "assert f(3) == [3, 6]\n"), QUICK)
    assert good.passed, good.output
    wrong = run_program(sandbox.with_tests("def f(x):\n    return [x, x]\n", "assert f(3) == [3, 6]\n"), QUICK)
    assert wrong.status == "failed" and "AssertionError" in wrong.output
    # the exploit: the old runner kept the marker in a frame the program could read
    forged = "import sys, os\nos.write(3, sys._getframe(1).f_locals['marker'])\nos._exit(0)\nassert False\n"
    assert run_program(forged, QUICK).status == "failed"


def test_values_cross_between_the_program_and_its_tests():
    program = (
        "import math\nfrom collections import Counter\nclass Box:\n    def __init__(self, v):\n        self.v = v\n"
        "    def __eq__(self, other):\n        return isinstance(other, Box) and other.v == self.v\n"
        "    def __hash__(self):\n        return hash(self.v)\n"
        "def gen(n):\n    yield from range(n)\ndef sort_in_place(xs):\n    xs.sort()\n"
        "def boom():\n    raise ValueError('no')\nLIMIT = 2**70 + 0.5j\n"
    )
    tests = (
        "assert Box(3) == Box(3) and Box(3) != Box(4) and Box(3).v == 3 and len({Box(1), Box(1)}) == 1\n"
        "assert list(gen(4)) == [0, 1, 2, 3] and sum(gen(5)) == 10\n"
        "xs = [3, 1, 2]\nsort_in_place(xs)\nassert xs == [1, 2, 3]\n"
        "try:\n    boom()\n    raise AssertionError('no exception')\nexcept ValueError as e:\n    assert str(e) == 'no'\n"
        "assert LIMIT == 2**70 + 0.5j and math.isclose(math.pi, 3.14159, rel_tol=1e-3)\n"
        "assert Counter('aab') == {'a': 2, 'b': 1} and float('nan') != float('nan')\n"
    )
    result = run_program(sandbox.with_tests(program, tests), QUICK)
    assert result.passed, result.output


def test_ordinary_programs_pass_or_fail_by_exit_status():
    assert run_program("assert 1 + 1 == 2\nprint('ok')\n", QUICK).passed
    failed = run_program("assert 1 + 1 == 3\n", QUICK)
    assert failed.status == "failed" and "AssertionError" in failed.output


@pytest.fixture
def world_writable():
    """As root: a mode-1777 folder outside the temporary ones (anyone may write there, programs must not)."""
    folder = Path(hostile.WORLD_WRITABLE)
    if os.geteuid() == 0:
        folder.mkdir(exist_ok=True)
        os.chmod(folder, 0o1777)
    yield folder
    if os.geteuid() == 0:
        shutil.rmtree(folder, ignore_errors=True)


def test_hostile_programs_are_contained(world_writable):
    canary = subprocess.Popen(["sleep", "600"])  # a process of the evaluator's user: kill(-1) must not reach it
    try:
        _check_hostile(hostile.run_cases(HOSTILE_LIMITS))
        assert canary.poll() is None
        assert not list(world_writable.glob("codila-hostile*"))
    finally:
        canary.kill()
    if os.geteuid() == 0:  # nothing of any sandbox uid survives
        assert not [pid for pid in os.listdir("/proc") if pid.isdigit() and _live_sandbox_process(pid)]


def test_hostile_programs_as_an_unprivileged_user(world_writable):
    if os.geteuid() != 0:  # the test above already ran them unprivileged
        assert sandbox.isolation(False)[0][:2] == ("unshare", "--map-root-user")
        return
    python = shutil.which("python3", path=os.defpath)
    assert python is not None and shutil.which("setpriv") is not None
    run = subprocess.run(
        [
            "setpriv",
            f"--reuid={UNPRIVILEGED}",
            f"--regid={UNPRIVILEGED}",
            "--clear-groups",
            "--",
            python,
            "-I",
            hostile.__file__,
            json.dumps(HOSTILE_LIMITS),
        ],
        capture_output=True,
        text=True,
        cwd="/",
        timeout=600,
        env={"PATH": os.defpath, "HOME": "/nonexistent"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    _check_hostile(json.loads(run.stdout.splitlines()[-1]))


def test_the_evaluator_keeps_little_memory_for_a_flood_of_output():
    # VmHWM: this process's peak resident memory (ru_maxrss would count the forking pytest too)
    code = (
        "from codila.eval.sandbox import run_program\n"
        "result = run_program('import sys\\nfor _ in range(300):\\n    sys.stdout.write(\"x\" * 2**20)\\n')\n"
        "peak = [line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')][0]\n"
        "print(result.status, len(result.output), int(peak) // 1024)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(hostile.SRC)},
    )
    status, kept, peak_mb = run.stdout.split()
    assert status == "passed" and int(kept) == SandboxLimits().max_output_chars and int(peak_mb) < 100


def test_infinite_loop_is_killed_at_the_timeout():
    result = run_program("while True:\n    pass\n", SandboxLimits(timeout_s=1.0))
    assert result.status == "timeout" and result.returncode is None


def test_resource_limits_reach_the_program():
    code = (
        "import resource\nprint([resource.getrlimit(getattr(resource, n))[0] for n in "
        "('RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_NPROC', 'RLIMIT_CORE')])\n"
    )
    result = run_program(code, SandboxLimits(timeout_s=2.5, disk_mb=8, max_processes=16))
    # the CPU limit outlives the evaluator: ceil(2.5) + 1 s of CPU even if the evaluator dies before its timeout
    assert result.passed and result.output.strip() == f"[4, {8 * 2**20}, 16, 0]"


def test_unbounded_allocation_is_contained():
    result = run_program("x = []\nwhile True:\n    x.append(bytearray(10**7))\n", QUICK)
    assert result.status == "failed" and "MemoryError" in result.output


def test_private_temporary_folders_leave_nothing_behind():
    name = f"codila-test-{os.getpid()}"
    code = f"import os\nfor d in ('/tmp', '/var/tmp', '/dev/shm', '.'):\n    open(os.path.join(d, {name!r}), 'w').write('x')\n"
    assert run_program(code, QUICK).passed
    assert not [d for d in ("/tmp", "/var/tmp", "/dev/shm", os.getcwd()) if (Path(d) / name).exists()]
    if os.geteuid() == 0:  # the host folders of this process's runs (chowned to its sandbox uids) are gone
        assert not [p for p in Path("/tmp").glob("codila-sandbox-*") if _owner(p) in own_uids()]


def test_program_cannot_write_outside_its_folders(tmp_path):
    target = tmp_path / "should_not_exist"
    os.chmod(tmp_path, 0o777)  # even a world-writable folder of the evaluator is out of reach (hidden)
    result = run_program(f"open({str(target)!r}, 'w').write('x')\n", QUICK)
    assert result.status == "failed" and not target.exists()


def test_without_a_network_namespace_runs_refuse_unless_allowed(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name, path=None: None if name == "unshare" else WHICH(name, path=path))
    sandbox.isolation.cache_clear()
    sandbox.sandbox_python.cache_clear()
    try:
        with pytest.raises(CodilaError, match="--allow-network"):
            run_program("print(1)\n", QUICK)
        result = run_program("print(1)\n", SandboxLimits(timeout_s=20.0, allow_network=True))
        assert result.passed and result.output.strip() == "1"
        assert not sandbox.network_isolated()
    finally:
        sandbox.isolation.cache_clear()
        sandbox.sandbox_python.cache_clear()


def test_an_interpreter_the_sandbox_cannot_run_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(sandbox, "interpreter", lambda: "/nonexistent/python3")
    monkeypatch.setattr(sandbox.shutil, "which", lambda name, path=None: None if name == "python3" else WHICH(name, path=path))
    sandbox.sandbox_python.cache_clear()
    try:
        with pytest.raises(CodilaError, match="cannot run Python"):
            run_program("print(1)\n", QUICK)
    finally:
        sandbox.sandbox_python.cache_clear()


def test_codila_eval_refuses_without_network_isolation_unless_allowed(monkeypatch):
    from test_cli_properties import run_cli

    monkeypatch.setattr(sandbox.shutil, "which", lambda name, path=None: None if name == "unshare" else WHICH(name, path=path))
    sandbox.isolation.cache_clear()
    sandbox.sandbox_python.cache_clear()
    try:
        code, _, err = run_cli(["eval", "mbpp", "--oracle", "canonical", "--limit", "1", "--workers", "1"])
        assert code == 2 and "--allow-network" in err and len(err.strip().splitlines()) == 1
        code, out, err = run_cli(["eval", "mbpp", "--oracle", "canonical", "--limit", "1", "--workers", "1", "--allow-network"])
        assert code == 0 and "100.0% of 1 problems pass" in out, err
    finally:
        sandbox.isolation.cache_clear()
        sandbox.sandbox_python.cache_clear()


def _processes_with(token: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                hit = token.encode() in handle.read()
            with open(f"/proc/{pid}/stat") as handle:
                alive = handle.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            continue
        if hit and alive:
            found.append(int(pid))
    return found


def test_a_killed_evaluator_takes_its_programs_along():
    token = f"codila-orphan-{os.getpid()}"
    split = f"'codila-' + 'orphan-{os.getpid()}'"  # the token appears in no command line but the orphan's
    program = f"import os, sys\nos.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(1000)', {split}])\n"
    evaluator = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom codila.eval.sandbox import run_program, SandboxLimits\n"
            "run_program(sys.argv[1], SandboxLimits(timeout_s=600))",
            program,
        ],
        env={**os.environ, "PYTHONPATH": str(hostile.SRC)},
    )
    try:
        for _ in range(600):  # the program is running (or the evaluator failed)
            if _processes_with(token) or evaluator.poll() is not None:
                break
            time.sleep(0.1)
        assert _processes_with(token) and evaluator.poll() is None
    finally:
        evaluator.kill()
        evaluator.wait()
    for _ in range(300):
        if not _processes_with(token):
            break
        time.sleep(0.1)
    assert not _processes_with(token)


def test_concurrent_runs_never_share_a_uid():
    """More concurrent runs than uids wait for one (the probe's 70 concurrent runs shared uids and killed each other)."""
    held = [sandbox.acquire_uid(timeout=0) for _ in range(sandbox.UIDS_PER_PROCESS)]
    try:
        assert None not in held and len(set(held)) == len(held) and set(held) <= set(own_uids())
        assert sandbox.acquire_uid(timeout=0) is None  # the 65th concurrent run waits
        sandbox.release_uid(held[3])
        assert sandbox.acquire_uid(timeout=0) == held[3]
    finally:
        for uid in held:
            sandbox.release_uid(uid)
    if os.geteuid() == 0:  # and end to end: concurrent programs each run as a uid of their own
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: run_program("import os\nprint(os.getuid())\n", QUICK), range(4)))
        assert all(r.passed for r in results) and len({r.output for r in results}) == 4
