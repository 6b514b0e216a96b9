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
CONNECT = "import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('CONNECTED')\n"


def cases(port: int, evaluator: int) -> dict[str, tuple[str, tuple[str, ...], str | None]]:
    reference = sorted(REFERENCES.rglob("*.jsonl*"))[0]  # reference solutions (and tests) of a task
    return {
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
    }


def run_cases(limits_kwargs: dict) -> dict:
    """{case: [status, output's last 300 characters]} plus "after": the ordinary program's status."""
    from codila.eval.sandbox import SandboxLimits, run_program

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
    try:
        listener.accept()
        results["accepted"] = True
    except BlockingIOError:
        results["accepted"] = False
    return results


def _short(result):
    return result.status, result.output[-300:]


if __name__ == "__main__":  # as an unprivileged user: python hostile.py '{"timeout_s": ...}'
    sys.path.insert(0, str(SRC))
    print(json.dumps(run_cases(json.loads(sys.argv[1]))))
