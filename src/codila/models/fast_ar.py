"""The local AR's fast path: a whole block decoded in one call of a torch extension (qwen3_block.cpp) for Qwen3 models.

Why: at batch 1 a small AR's token costs ~80 tensor ops whose dispatch, not arithmetic, is most of its time on a CPU
(`codila bench` measures the AR's share of a step); one call per block removes that. The extension is built once per
machine and CPU by `torch.utils.cpp_extension` (ninja and a C++ compiler; about 20 s) into the user's cache folder
and loaded as torch custom classes. Where it cannot be built (no compiler, CODILA_FAST_AR=0), where the model is not
a float32 Qwen3 on a CPU, or past FAST_AR_MAX_PARAMETERS, decoding uses the model's transformers layers (LocalAR);
a warning says once why the build failed. CODILA_FAST_AR_MARCH chooses the -march of the build (default native;
e.g. haswell for an AVX2-only build).

The weights are prepared here (folded and copied): RMSNorm weights in front of a projection folded into its columns
(norm(x) * w @ W.T == norm(x) @ (W * w).T), q/k/v and gate/up stacked, the q norm times 1/sqrt(head_dim), a rotary
table with the rotate-half sign in its sine. They are rebuilt whenever a parameter of the model changed in place
(training between decodings), checked by the parameters' version counters at each block.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import platform
import subprocess
import sys
import sysconfig
import time
import warnings
from functools import lru_cache
from pathlib import Path

import torch
from transformers import PreTrainedModel

from codila.errors import CodilaError

SOURCE = Path(__file__).with_name("qwen3_block.cpp")
# the extension runs on one core: fine for small ARs (the shipped one has 0.95M parameters); a large model keeps
# transformers' multi-threaded products (not measured here: only small ARs exist on this machine)
FAST_AR_MAX_PARAMETERS = 50_000_000


def _cpu_identity() -> str:
    """What -march=native depends on: the CPU's model and feature flags (a shared home folder may span machines)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "\n".join(sorted({line for line in lines if line.startswith(("model name", "flags"))}))
    except OSError:
        return platform.processor() or platform.machine()


def _build_flags() -> list[str]:
    return ["-O3", f"-march={os.environ.get('CODILA_FAST_AR_MARCH', 'native')}", "-ffp-contract=fast", "-fno-math-errno"]


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "codila" / "extensions"


def _compiler_identity() -> str:
    """The C++ compiler torch's build uses ($CXX, else c++) and its version line."""
    compiler = os.environ.get("CXX", "c++")
    try:
        found = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30)
        return f"{compiler} {(found.stdout.strip().splitlines() or [''])[0]}"
    except (OSError, subprocess.SubprocessError):
        return compiler


def build_name(flags: list[str]) -> str:
    """The extension's name and build folder: a hash of everything the built library depends on (its source, the
    flags, the CPU, the torch version and build, the Python ABI, the compiler), so two environments sharing a cache
    folder never load, or wait on, each other's build."""
    identity = [
        SOURCE.read_bytes().decode(errors="replace"),
        " ".join(flags),
        _cpu_identity(),
        torch.__version__,
        str(getattr(torch.version, "git_version", "")),
        sys.implementation.cache_tag or "",
        sysconfig.get_config_var("SOABI") or "",
        _compiler_identity(),
    ]
    return f"codila_ar_{hashlib.sha256(chr(0).join(identity).encode()).hexdigest()[:12]}"


@contextlib.contextmanager
def _build_lock(build_dir: Path):
    """An exclusive flock beside `build_dir` (released by the kernel when its holder dies: never stale), waited for
    at most CODILA_FAST_AR_LOCK_TIMEOUT seconds (default 300), saying once that it waits."""
    timeout = float(os.environ.get("CODILA_FAST_AR_LOCK_TIMEOUT", "300"))
    path = build_dir.with_name(build_dir.name + ".lock")
    with open(path, "a") as handle:
        deadline, said = time.monotonic() + timeout, False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise CodilaError(
                        f"another process has been building the fast path for over {timeout:g} s (lock {path}); "
                        "set CODILA_FAST_AR_LOCK_TIMEOUT to wait longer"
                    ) from None
                if not said:
                    print(f"codila: waiting for another process building the fast path (lock {path})", file=sys.stderr)
                    said = True
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _registered() -> bool:
    try:
        torch.classes.codila_ar.Qwen3Block  # noqa: B018  (raises when the class is not registered)
        return True
    except RuntimeError:
        return False


@lru_cache(maxsize=1)
def load() -> bool:
    """True once the extension's classes are registered (built first if needed); False (with one warning saying why)
    when it cannot be built, or CODILA_FAST_AR=0."""
    if os.environ.get("CODILA_FAST_AR", "1") == "0":
        return False
    if _registered():  # loaded earlier in this process (torch registers a library's classes once per process)
        return True
    from torch.utils import cpp_extension

    flags = _build_flags()
    name = build_name(flags)
    build_dir = _cache_dir() / name
    scripts = sysconfig.get_path("scripts")  # where pip put ninja: on PATH for the build even without an activated venv
    if scripts and scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.environ.get("PATH", "") + os.pathsep + scripts
    try:
        build_dir.mkdir(parents=True, exist_ok=True)
        with _build_lock(build_dir), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # cpp_extension's notes on compiler versions are not the user's concern
            (build_dir / "lock").unlink(missing_ok=True)  # torch's own baton: stale (a killed build), we hold the lock
            cpp_extension.load(name, [str(SOURCE)], extra_cflags=flags, build_directory=str(build_dir), is_python_module=False)
    except Exception as error:  # noqa: BLE001  (whatever stops the build: compiler, ninja, headers, the lock; fall back)
        detail = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        warnings.warn(
            f"building the local AR's fast path failed, decoding with transformers instead (slower at small batches): {detail}",
            stacklevel=2,
        )
        return False
    return True


def supports(model: PreTrainedModel) -> bool:
    """Qwen3 without sliding windows or attention biases, float32 on a CPU, at most FAST_AR_MAX_PARAMETERS."""
    config = model.config
    parameters = list(model.parameters())
    return (
        config.model_type == "qwen3"
        and not getattr(config, "use_sliding_window", False)
        and not config.attention_bias
        and config.hidden_act == "silu"
        and all(p.device.type == "cpu" and p.dtype == torch.float32 for p in parameters)
        and sum(p.numel() for p in parameters) <= FAST_AR_MAX_PARAMETERS
    )


def prepared_weights(model: PreTrainedModel) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
    """The extension's inputs: per layer qkv, qk_norm, output, gate_up, down; lm_head; cos, signed_sin (positions, head_dim)."""
    config, core = model.config, model.model
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    weights = []
    with torch.no_grad():
        for layer in core.layers:
            attention, mlp = layer.self_attn, layer.mlp
            weights += [
                torch.cat([attention.q_proj.weight, attention.k_proj.weight, attention.v_proj.weight])
                * layer.input_layernorm.weight,
                torch.cat(
                    [(attention.q_norm.weight * head_dim**-0.5).expand(heads, -1), attention.k_norm.weight.expand(kv_heads, -1)]
                ),
                attention.o_proj.weight,
                torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]) * layer.post_attention_layernorm.weight,
                mlp.down_proj.weight,
            ]
        lm_head = model.lm_head.weight * core.norm.weight  # (V, H): the final norm folded in
        positions = torch.arange(config.max_position_embeddings)[None]
        cos, sin = core.rotary_emb(core.norm.weight[None, None], positions)  # (1, P, head_dim)
        half = head_dim // 2
        signed_sin = torch.cat([-sin[0, :, :half], sin[0, :, half:]], dim=-1)
    return [w.float().contiguous() for w in weights], lm_head.contiguous(), cos[0].contiguous(), signed_sin.contiguous()


class FastAR:
    """A Qwen3 model's block decoder in the extension; `available` says whether it serves the model now."""

    def __init__(self, model: PreTrainedModel):
        self.model = model
        # the Parameter objects: training, .to() and load_state_dict change their data in place (seen by the versions
        # and addresses); listing them anew each block would cost more than a small block's decoding
        self._parameters = list(model.parameters())
        self._versions: tuple[int, ...] | None = None
        self._block = None  # torch.classes.codila_ar.Qwen3Block, built by `available`

    @property
    def available(self) -> bool:
        """True when the extension serves this model (its weights prepared anew first if any changed)."""
        versions = tuple(p._version for p in self._parameters) + tuple(p.data_ptr() for p in self._parameters)
        if versions != self._versions:
            self._block = None
            if supports(self.model) and load():
                config = self.model.config
                self._block = torch.classes.codila_ar.Qwen3Block(
                    *prepared_weights(self.model),
                    config.num_attention_heads,
                    config.num_key_value_heads,
                    float(config.rms_norm_eps),
                )
            self._versions = versions
        return self._block is not None

    def decode_block(
        self,
        inputs: torch.Tensor,
        embedding: torch.Tensor,
        bias: torch.Tensor,
        forced: torch.Tensor | None,
        uniforms: torch.Tensor,
        temperature: float,
        top_p: float,
        with_entropy: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A whole block in one call (once `available` said True): prefill `inputs` (N, T, H), then uniforms.shape[1]
        tokens per row, each sampled like `sample_top_p` from the logits + `bias` ((V), or (N, block, V) per token)
        with the row's uniform number (`uniforms` (N, block)), replaced by `forced` (N, block; -1 = free) where given, and fed back through
        `embedding` (V, H). Returns tokens (N, block) and entropies (N, block; NaN unless `with_entropy`).
        Shapes or dtypes the model cannot take raise CodilaError."""
        if self._block is None:
            raise CodilaError("the fast path does not serve this model (check `available` first): decode with transformers")
        try:
            sampling = torch.classes.codila_ar.Sampling(float(temperature), float(top_p), bool(with_entropy))
            return self._block.decode(
                inputs.float().contiguous(),
                embedding.float().contiguous(),
                bias.float().contiguous(),
                None if forced is None else forced.contiguous(),
                uniforms.float().contiguous(),
                sampling,
            )
        except RuntimeError as error:  # the extension's checks (TORCH_CHECK): wrong shapes, dtypes, positions
            raise CodilaError(f"the local AR's fast path: {str(error).strip().splitlines()[0]}") from None
