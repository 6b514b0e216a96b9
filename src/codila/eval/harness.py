"""The two interpreters of a sandboxed run (stdlib only: `jail` hands this file's source to both with `-c`).

Why two: anything the verdict depends on that lives in the program's interpreter can be forged by the program
(it can read a secret from a frame, write to any of its file descriptors, exit early with status 0). So:
- the program's process (`serve_program`) runs the generated code, then only answers requests: call this
  function, get this attribute, compare these values... It has no way to report a verdict.
- the tests' process (`run_tests`, the sandbox's first process) starts the program's process, then runs the
  tests itself, in its own interpreter, with each name the program defined standing for a `Remote` proxy (values
  of built-in types are copied: the tests compare them with their own `==`). Only when the tests ran to their
  end does it write the run's secret marker to the result pipe (fd 3), which the program's process never holds.
  It is not dumpable (prctl), so a process of the same uid can neither ptrace it nor open its /proc files (its
  descriptors, its memory), and as PID 1 of the sandbox's namespace it ignores the program's signals.

What stays with the program: objects of its own classes (and subclasses of built-in types) compare themselves, in
its process, so a class whose `__eq__` always says True still fools a test of `==` (a property of the tests, as
in any harness), and the program's top-level names reach the tests as they would in one interpreter (a function
called `sum` shadows the builtin for the tests, as mbpp/126 needs). A program run without tests (no
`TESTS_FOLLOW` line) passes when its process reports that its last line ran, which it could also report without
running it: only runs with tests have an unforgeable verdict.
"""

import builtins
import json
import operator
import os
import sys

TESTS_FOLLOW = "\n#- codila: the tests follow, run in a separate interpreter -#\n"
RESULT_FD, REQUESTS_FD, REPLIES_FD = 3, 3, 4  # the tests' process's result pipe; the program's process's channel
MAX_DEPTH = 200
OPERATIONS = {
    **{name: getattr(operator, name) for name in ("eq", "ne", "lt", "le", "gt", "ge", "add", "sub", "mul")},
    **{name: getattr(operator, name) for name in ("truediv", "floordiv", "mod", "pow", "neg", "pos", "abs", "invert")},
    **{name: getattr(operator, name) for name in ("and_", "or_", "xor", "lshift", "rshift", "matmul")},
    **{name: getattr(operator, name) for name in ("getitem", "setitem", "delitem", "contains", "index")},
    **{name: getattr(builtins, name) for name in ("len", "hash", "bool", "str", "repr", "iter", "next", "int", "float")},
    "divmod": divmod,
    "round": round,
    "call": lambda function, *args, **kwargs: function(*args, **kwargs),
    "getattr": getattr,
}
EXCEPTIONS = {
    name: value
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, Exception) and name not in ("SystemExit", "KeyboardInterrupt")
}


class ProgramError(Exception):
    """The program raised an exception of a type the tests' process does not have."""


class ProgramExited(Exception):
    """The program's process ended (sys.exit, os._exit, a crash, a signal) while the tests needed it."""


class Channel:
    """Line-delimited JSON between the two processes. Values of built-in types travel by value, anything else as a
    reference to an object the sending side keeps (`{"r": key}`); `{"o": key}` names the receiver's own object."""

    def __init__(self, reader, writer, exports: bool):
        self.reader, self.writer, self.exports, self.objects = reader, writer, exports, {}

    def encode(self, value, depth: int = 0):
        kind = type(value)
        if value is None or kind is bool or kind is str:
            return value
        if kind is int:
            return value if -(2**53) < value < 2**53 else {"i": hex(value)}
        if kind is float:
            return {"f": value.hex()}
        if kind is Remote:
            return {"o": object.__getattribute__(value, "_key")}
        if depth < MAX_DEPTH:
            inner = depth + 1
            if kind in (list, tuple, set, frozenset):
                tag = {list: "l", tuple: "t", set: "s", frozenset: "z"}[kind]
                return {tag: [self.encode(item, inner) for item in value]}
            if kind is dict:
                return {"d": [[self.encode(k, inner), self.encode(v, inner)] for k, v in value.items()]}
            if kind is bytes or kind is bytearray:
                return {"b" if kind is bytes else "y": value.hex()}
            if kind is complex:
                return {"c": [value.real.hex(), value.imag.hex()]}
            if kind is slice:
                return {"sl": [self.encode(value.start, inner), self.encode(value.stop, inner), self.encode(value.step, inner)]}
            if value is Ellipsis:
                return {"el": 0}
        if not self.exports:
            raise TypeError(f"the tests cannot hand a {kind.__name__} to the program (only values of built-in types)")
        self.objects[id(value)] = value
        return {"r": id(value)}

    def decode(self, data):
        if not isinstance(data, dict):
            if isinstance(data, list):
                raise ValueError("malformed value")
            return data
        ((tag, value),) = data.items()
        if tag in ("l", "t", "s", "z"):
            items = [self.decode(item) for item in value]
            return {"l": list, "t": tuple, "s": set, "z": frozenset}[tag](items)
        if tag == "d":
            return {self.decode(k): self.decode(v) for k, v in value}
        simple = {"i": lambda: int(value, 16), "f": lambda: float.fromhex(value), "b": lambda: bytes.fromhex(value)}
        simple.update(y=lambda: bytearray.fromhex(value), el=lambda: Ellipsis)
        if tag in simple:
            return simple[tag]()
        if tag == "c":
            return complex(float.fromhex(value[0]), float.fromhex(value[1]))
        if tag == "sl":
            return slice(*(self.decode(item) for item in value))
        if tag == "r":
            return Remote(self, int(value))
        if tag == "o" and self.exports:
            return self.objects[int(value)]
        raise ValueError(f"malformed value {tag!r}")

    def send(self, message: dict) -> None:
        self.writer.write(json.dumps(message).encode() + b"\n")
        self.writer.flush()

    def receive(self) -> dict:
        line = self.reader.readline()
        if not line.endswith(b"\n"):
            raise ProgramExited("the program's process ended before its tests did")
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError("malformed message")
        return message

    def request(self, operation: str, *args, **kwargs):
        """(tests' side) Apply `operation` to the arguments in the program's process; its result, or its exception."""
        self.send({"op": operation, "a": [self.encode(a) for a in args], "k": {k: self.encode(v) for k, v in kwargs.items()}})
        reply = self.receive()
        if "e" in reply:
            name, message = reply["e"]
            raise EXCEPTIONS.get(name, ProgramError)(message if name in EXCEPTIONS else f"{name}: {message}")
        for arg, after in zip(args, reply.get("m", [])):  # arguments the call changed in place (lists, dicts, sets)
            if after is not None:
                _update(arg, self.decode(after))
        return self.decode(reply["v"])

    def serve(self) -> None:
        """(program's side) Answer requests until the tests' process closes the channel."""
        while True:
            line = self.reader.readline()
            if not line:
                return
            try:
                request = json.loads(line)
                args = [self.decode(a) for a in request["a"]]
                result = OPERATIONS[request["op"]](*args, **{k: self.decode(v) for k, v in request["k"].items()})
                changed = [self.encode(a) if type(a) in (list, dict, set, bytearray) else None for a in args]
                reply = {"v": self.encode(result), "m": changed}
            except Exception as error:  # noqa: BLE001 - the program's exceptions go to the tests
                reply = {"e": [type(error).__name__, _message(error)]}
            sys.stdout.flush()
            sys.stderr.flush()
            self.send(reply)


def _message(error: BaseException) -> str:
    try:
        return str(error)[:2000]
    except Exception:  # noqa: BLE001 - the program's own __str__ may fail
        return ""


def _update(target, value) -> None:
    if type(target) is list or type(target) is bytearray:
        target[:] = value
    elif type(target) in (dict, set):
        target.clear()
        target.update(value)


class Remote:
    """(tests' side) An object that lives in the program's process."""

    __slots__ = ("_channel", "_key")

    def __init__(self, channel: Channel, key: int):
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_key", key)

    def __getattr__(self, name: str):
        return object.__getattribute__(self, "_channel").request("getattr", self, name)

    def __call__(self, *args, **kwargs):
        return object.__getattribute__(self, "_channel").request("call", self, *args, **kwargs)


def _forward(name: str, reflected: bool = False):
    def method(self, *args):
        operands = (*args, self) if reflected else (self, *args)
        return object.__getattribute__(self, "_channel").request(name, *operands)

    return method


for _name in OPERATIONS:
    if _name not in ("call", "getattr", "divmod", "round"):
        setattr(Remote, f"__{_name.rstrip('_')}__", _forward(_name))
for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and_", "or_", "xor", "lshift", "rshift", "matmul"):
    setattr(Remote, f"__r{_name.rstrip('_')}__", _forward(_name, reflected=True))
Remote.__next__ = _forward("next")
Remote.__divmod__ = _forward("divmod")
Remote.__round__ = _forward("round")


def _trim_runner_frames(kind, value, trace):
    """Tracebacks start at the program's or the tests' code, not at this runner."""
    while trace is not None and trace.tb_frame.f_code.co_filename == "<string>":
        trace = trace.tb_next
    sys.__excepthook__(kind, value.with_traceback(trace), trace)


def serve_program() -> None:
    """The program's process: run /tmp/program.py (or argv[1]), report its names, then serve requests."""
    sys.excepthook = _trim_runner_frames
    path = sys.argv[1]
    with open(path) as handle:
        source = handle.read()
    channel = Channel(os.fdopen(REQUESTS_FD, "rb"), os.fdopen(REPLIES_FD, "wb"), exports=True)
    namespace = {"__name__": "__main__", "__file__": path, "__builtins__": builtins}
    exec(compile(source, path, "exec"), namespace)
    sys.stdout.flush()
    sys.stderr.flush()
    channel.send({"ready": {name: _describe(channel, value) for name, value in list(namespace.items())}})
    channel.serve()


def _describe(channel: Channel, value):
    """How the tests' process gets one of the program's names: a module or a standard-library object it imports
    itself, a value of a built-in type it copies, anything else a reference."""
    if type(value).__name__ == "module":
        return {"m": str(value.__name__)}
    try:
        origin, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
        if isinstance(origin, str) and isinstance(qualname, str) and origin != "__main__":
            found = sys.modules.get(origin)
            for part in qualname.split("."):
                found = getattr(found, part, None)
            if found is value:
                return {"x": [origin, qualname]}
    except Exception:  # noqa: BLE001 - the program's objects may raise on any attribute
        pass
    return channel.encode(value)


def _names_used(code) -> set:
    names = set(code.co_names)
    for constant in code.co_consts:
        if hasattr(constant, "co_names"):
            names |= _names_used(constant)
    return names


def _stdlib_object(module, qualname):
    """(the interpreter runs with -I -S from /: only the standard library is importable)"""
    import importlib

    top = module.split(".")[0]
    if top == "__main__" or top not in getattr(sys, "stdlib_module_names", (top,)):  # never this harness itself
        raise LookupError(module)
    found = importlib.import_module(module)
    for part in (qualname or "").split(".") if qualname else ():
        found = getattr(found, part)
    return found


def run_tests() -> None:
    """The tests' process. Reads {"marker", "tests", "harness", "python", "program", "env"} from fd 0, starts the
    program's process, runs the tests here, and writes the marker to fd 3 only when they ran to their end."""
    import ctypes

    sys.excepthook = _trim_runner_frames
    chunks = [os.read(0, 1 << 16)]
    while chunks[-1]:
        chunks.append(os.read(0, 1 << 16))
    spec = json.loads(b"".join(chunks))
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE 0: no ptrace, no /proc/1/fd or /proc/1/mem for the program
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE)")
    tests = compile(spec["tests"], "<tests>", "exec") if spec["tests"] is not None else None
    requests_read, requests_write = os.pipe()
    replies_read, replies_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(requests_read, REQUESTS_FD)  # replaces the result pipe: the program never holds it
            os.dup2(replies_write, REPLIES_FD)
            os.closerange(REPLIES_FD + 1, 1 << 16)
            runner = spec["harness"] + "\nserve_program()\n"
            os.execve(spec["python"], [spec["python"], "-I", "-S", "-B", "-c", runner, spec["program"]], spec["env"])
        finally:
            os._exit(127)
    os.close(requests_read)
    os.close(replies_write)
    os.chdir("/")  # nothing the program may write is on this interpreter's path or is its working directory
    channel = Channel(os.fdopen(replies_read, "rb"), os.fdopen(requests_write, "wb"), exports=False)
    try:
        ready = channel.receive().get("ready")
        if not isinstance(ready, dict):
            raise ValueError("malformed message")
        if tests is not None:
            namespace = {"__name__": "__main__", "__builtins__": builtins}
            for name in _names_used(tests) & set(ready) - {"__builtins__"}:  # as in one interpreter: may shadow builtins
                described = ready[name]
                try:
                    if isinstance(described, dict) and ("m" in described or "x" in described):
                        namespace[name] = _stdlib_object(*(described.get("x") or [described["m"], None]))
                    else:
                        namespace[name] = channel.decode(described)
                except Exception:  # noqa: BLE001 - a name the tests' process cannot have stays undefined
                    continue
            exec(tests, namespace)
    except ProgramExited:
        _, status = os.waitpid(pid, 0)
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
        what = "its last line ran" if tests is None else "its tests ended"
        sys.stderr.flush()
        print(f"[codila sandbox] the program exited before {what} (exit status {code}): failed", flush=True)
        os._exit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(RESULT_FD, spec["marker"].encode())
    os.kill(pid, 9)
    os._exit(0)
