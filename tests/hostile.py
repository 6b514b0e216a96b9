"""Hostile programs for the sandbox and what must come of each (stdlib only: also run by an unprivileged
interpreter, see test_sandbox.test_hostile_programs_as_an_unprivileged_user).

Each case: (program, the statuses allowed, a text its output must contain or None). `run_cases` runs them all and
then one ordinary program, which must still pass (nothing the hostile ones did outlives them)."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
TESTS_FOLLOW_TEXT = "\n#- codila: the tests follow, run in a separate interpreter -#\n"  # checked equal in test_sandbox
REFERENCES = SRC / "codila" / "assets" / "data"
HIDDEN = "try:\n    open({path!r}, 'rb').read(1)\n    print('READ')\nexcept OSError:\n    print('HIDDEN')\n"
FORK_BOMB = (
    "import os, time\nrefused = 0\nfor _ in range(500):\n    try:\n        if os.fork() == 0:\n"
    "            while True:\n                try:\n                    os.fork()\n                except OSError:\n"
    "                    time.sleep(0.01)\n    except OSError:\n        refused += 1\n"
    "print('LIMITED' if refused else 'UNLIMITED')\n"
)
DETACHED = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(600)\n    os._exit(0)\nprint('parent done')\n"
HUGE_FILE = "with open({path!r}, 'wb') as handle:\n    for _ in range(1024):\n        handle.write(bytes(2**20))\n"
REACH_THE_TESTS = (  # the tests' process (PID 1 of the sandbox) holds the result pipe
    "import ctypes, os, signal\nfor path in ('/proc/1/fd/3', '/proc/1/mem', '/proc/1/environ'):\n    try:\n"
    "        open(path, 'wb').write(b'0' * 32)\n        print('OPENED', path, flush=True)\n    except OSError:\n        pass\n"
    "libc = ctypes.CDLL(None, use_errno=True)\nprint('OPENED ptrace' if libc.ptrace(16, 1, 0, 0) == 0 else 'REFUSED', flush=True)\n"
    "for sig in (signal.SIGSTOP, signal.SIGKILL):\n    try:\n        os.kill(1, sig)\n    except OSError:\n        pass\n"
    "os._exit(0)\n"
)
FORGE_THE_MARKER = (  # the exploit of issue 28: the old runner's marker, read from its frame
    "import sys, os\nos.write(3, sys._getframe(1).f_locals['marker'])\nos._exit(0)\nassert False\n"
)
EVERY_DESCRIPTOR = "import os\nfor fd in range(3, 256):\n    try:\n        os.write(fd, b'0' * 32)\n    except OSError:\n        pass\nos._exit(0)\n"
FAKE_READY = 'import os\nos.write(4, b\'{"ready": {"f": 1}}\\n\')\nos._exit(0)\n'
PLANT_A_MODULE = (
    "for name in ('math', 'os', 'json', 'builtins'):\n    with open(f'/tmp/{name}.py', 'w') as handle:\n"
    "        handle.write('import os\\nos.write(3, b\"x\" * 32)\\n')\n"
    "def f():\n    return 0\n"
)
WORLD_WRITABLE = "/var/lib/codila-hostile-1777"  # made (mode 1777) by test_sandbox when it runs as root
WRITE_OUTSIDE = (
    "import os\nfor folder in ('/', '/etc', '/var/lib', '/var/log', '/var/cache', '/run', '/root', '/opt', '/srv',\n"
    "               '/usr/local', '/var/spool', '/var/mail', '/home', %r):\n"
    "    try:\n        with open(os.path.join(folder, 'codila-hostile'), 'w') as handle:\n"
    "            handle.write('x')\n        print('WROTE', folder, flush=True)\n    except OSError:\n        pass\n"
    "print('NOWHERE')\n" % WORLD_WRITABLE
)
OVERWRITE_OWN = (  # a result file of the evaluator, outside its working and home folders (the same uid when not root)
    "try:\n    open({path!r}, 'w').write('forged')\n    print('WROTE', flush=True)\nexcept OSError as error:\n"
    "    print('REFUSED', error, flush=True)\n"
)
UNIX_CONNECT = (
    "import socket\nfor address in ({path!r}, '\\0codila-hostile-{pid}'):\n    try:\n"
    "        socket.socket(socket.AF_UNIX).connect(address)\n        print('CONNECTED', address, flush=True)\n"
    "    except OSError as error:\n        print('REFUSED', error, flush=True)\n"
)
CONNECT = "import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('CONNECTED')\n"


def cases(port: int, evaluator: int) -> dict[str, tuple[str, tuple[str, ...], str | None]]:
    from codila.eval.sandbox import with_tests

    reference = sorted(REFERENCES.rglob("*.jsonl*"))[0]  # reference solutions (and tests) of a task
    tests = "import math\nassert f() == 1\n"  # never true: none of the programs below may pass
    return {
        "forge the old marker": (FORGE_THE_MARKER, ("failed",), "KeyError"),
        "forge the marker, with tests": (with_tests(FORGE_THE_MARKER, tests), ("failed",), None),
        "write to every descriptor, then exit 0": (with_tests(EVERY_DESCRIPTOR, tests), ("failed",), "exited before"),
        "say it is ready, then exit 0": (with_tests(FAKE_READY, tests), ("failed",), "TypeError"),
        "reach the tests' process": (with_tests(REACH_THE_TESTS, tests), ("failed",), "REFUSED"),
        "plant modules for the tests": (with_tests(PLANT_A_MODULE, tests), ("failed",), "AssertionError"),
        "fake separator in the answer": (
            with_tests(f"x = 1{TESTS_FOLLOW_TEXT}print('moved')\ndef f():\n    return 0\n", tests),
            ("failed",),
            "AssertionError",
        ),
        "sys.exit(0) before the tests": ("import sys\nsys.exit(0)\nassert 1 == 2\n", ("failed",), "exited before"),
        "raise SystemExit before the tests": ("raise SystemExit\nassert 1 == 2\n", ("failed",), "exited before"),
        "os._exit(0) before the tests": ("import os\nos._exit(0)\nassert 1 == 2\n", ("failed",), "exited before"),
        "exit inside a function the tests call": (
            "def f():\n    import sys; sys.exit(0)\n\nassert f() == 1\n",
            ("failed",),
            "exited before",
        ),
        "read a reference solution": (HIDDEN.format(path=str(reference)), ("passed",), "HIDDEN"),
        "read the repository": (HIDDEN.format(path=str(SRC.parent / "pyproject.toml")), ("passed",), "HIDDEN"),
        "read the evaluator's environment": (HIDDEN.format(path=f"/proc/{evaluator}/environ"), ("passed",), "HIDDEN"),
        "300 MB of output": (
            "import sys\nfor _ in range(300):\n    sys.stdout.write('x' * 2**20)\nprint('END')\n",
            ("passed",),
            "END",
        ),
        "fork bomb": (FORK_BOMB, ("passed",), "LIMITED"),
        "detached child holding the pipe": (DETACHED, ("passed",), "parent done"),
        "kill the parent": (
            "import os, signal\nfor pid in (os.getppid(), -1, %d):\n    try:\n"
            "        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\n" % evaluator,
            ("passed", "failed"),
            None,
        ),
        "huge file in /tmp": (HUGE_FILE.format(path="/tmp/big"), ("failed",), "OSError"),
        "huge file in /dev/shm": (HUGE_FILE.format(path="/dev/shm/big"), ("failed",), "OSError"),
        "connect to a loopback listener": (CONNECT.format(port=port), ("failed",), "Error"),
        "write outside the temporary folders": (WRITE_OUTSIDE, ("passed",), "NOWHERE"),
        "overwrite the evaluator's own file": (OVERWRITE_OWN.format(path=own_file_path()), ("passed",), "REFUSED"),
        "connect to unix sockets": (UNIX_CONNECT.format(path=unix_socket_path(), pid=os.getpid()), ("passed",), "REFUSED"),
        "fill the tmpfs with files": (
            "for i in range(100000):\n    open(f'/tmp/f{i}', 'w').close()\n",
            ("failed",),
            "No space left on device",
        ),
    }


def unix_socket_path() -> str:
    return os.path.join(WORLD_WRITABLE, f"socket-{os.getuid()}")


def own_file_path() -> str:
    return os.path.join(WORLD_WRITABLE, f"result-{os.getuid()}.json")


def run_cases(limits_kwargs: dict) -> dict:
    """{case: [status, output's last 300 characters]} plus "after": the ordinary program's status."""
    from codila.eval.sandbox import SandboxLimits, run_program

    try:
        with open(own_file_path(), "w") as handle:  # the evaluator's own file (mode 0644), when the folder exists
            handle.write("mine")
    except OSError:
        pass
    unix_listeners = []  # a filesystem socket anyone may connect to (when the folder exists), an abstract one
    for address in (unix_socket_path(), f"\0codila-hostile-{os.getpid()}"):
        try:
            if not address.startswith("\0") and os.path.exists(address):
                os.unlink(address)
            unix = socket.socket(socket.AF_UNIX)
            unix.bind(address)
            unix.listen()
            unix.setblocking(False)
            if not address.startswith("\0"):
                os.chmod(address, 0o777)
            unix_listeners.append(unix)
        except OSError:
            pass
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    limits = SandboxLimits(**limits_kwargs)
    results = {
        name: list(_short(run_program(code, limits)))
        for name, (code, _, _) in cases(listener.getsockname()[1], os.getpid()).items()
    }
    results["after"] = [run_program("print('still fine')\n", limits).status, ""]
    results["accepted"] = False
    for server in (listener, *unix_listeners):
        try:
            server.accept()
            results["accepted"] = True
        except BlockingIOError:
            pass
        server.close()
    if os.path.exists(unix_socket_path()):
        os.unlink(unix_socket_path())
    if os.path.exists(own_file_path()):
        with open(own_file_path()) as handle:
            results["own file intact"] = handle.read() == "mine"
        os.unlink(own_file_path())
    return results


def _short(result):
    return result.status, result.output[-300:]


if __name__ == "__main__":  # as an unprivileged user: python hostile.py '{"timeout_s": ...}'
    sys.path.insert(0, str(SRC))
    print(json.dumps(run_cases(json.loads(sys.argv[1]))))
