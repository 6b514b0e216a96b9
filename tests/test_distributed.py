"""Data-parallel training (DistributedDataParallel): a rank's share of a global batch, and torchrun with two gloo
processes on CPU for the AR and the DLM trainers."""

from __future__ import annotations

import json
import os

import torch

from codila.models.loading import load_ar, load_dlm
from codila.train.ar_recipe import ArRecipe
from codila.train.dlm_recipe import DlmRecipe
from test_real_models import _examples


def test_shards_average_to_the_whole_batch_loss_and_gradient(tiny_checkpoints):
    """Masks are drawn for the whole batch; each rank keeps rows rank::world with its loss scaled by its share of the
    masked blocks: the mean of the ranks' losses and gradients is the one-process loss and gradient."""
    dlm = load_dlm(tiny_checkpoints / "dlm")
    ar = load_ar(tiny_checkpoints / "ar-b4", dlm)
    recipe = ArRecipe(ar, dlm)
    params = [p for p in ar.model.parameters() if p.requires_grad]
    windows = torch.randint(10, len(dlm.tokenizer), (5, 32), generator=torch.Generator().manual_seed(3))

    def run(shard):
        ar.model.zero_grad()
        loss = recipe.loss(windows, torch.Generator().manual_seed(0), shard)
        loss.backward()
        return loss.item(), [p.grad.clone() for p in params]

    whole, first, second = run(None), run((0, 2)), run((1, 2))
    assert first[0] != second[0]  # different rows (3 and 2 of the 5), different losses
    assert abs((first[0] + second[0]) / 2 - whole[0]) < 1e-5
    for g, g0, g1 in zip(whole[1], first[1], second[1]):
        assert torch.allclose((g0 + g1) / 2, g, atol=1e-6)


def test_dlm_shards_average_to_the_whole_batch_loss_and_gradient(tiny_checkpoints):
    dlm = load_dlm(tiny_checkpoints / "dlm")
    recipe = DlmRecipe(dlm.model, dlm.mask_id)
    params = [p for p in dlm.model.parameters() if p.requires_grad]
    windows = torch.randint(10, len(dlm.tokenizer), (5, 32), generator=torch.Generator().manual_seed(3))

    def run(shard):
        dlm.model.zero_grad()
        loss = recipe.loss(windows, torch.Generator().manual_seed(0), shard)
        loss.backward()
        return loss.item(), [p.grad.clone() for p in params]

    whole, first, second = run(None), run((0, 2)), run((1, 2))
    assert abs((first[0] + second[0]) / 2 - whole[0]) < 1e-5
    for g, g0, g1 in zip(whole[1], first[1], second[1]):
        assert torch.allclose((g0 + g1) / 2, g, atol=1e-6)
    dlm.model.zero_grad()


def one_and_two_processes(tmp_path, args: list, port: int) -> list[list[dict]]:
    """`codila ARGS` in one process (--out one) and under torchrun with two gloo processes (--out two); their logs."""
    import subprocess
    import sys

    script = tmp_path / "codila_main.py"
    script.write_text("from codila.cli import main\nmain()\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run(
        [sys.executable, script, *map(str, args), "--out", tmp_path / "one"], capture_output=True, text=True, timeout=600, env=env
    )
    assert one.returncode == 0, one.stderr
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}", script]
    two = subprocess.run(
        [*torchrun, *map(str, args), "--out", tmp_path / "two"], capture_output=True, text=True, timeout=600, env=env
    )
    assert two.returncode == 0, two.stderr[-3000:]
    return [[json.loads(line) for line in (tmp_path / name / "log.jsonl").read_text().splitlines()] for name in ("one", "two")]


def assert_same_weights(one, two) -> None:
    from safetensors.torch import load_file

    first, second = load_file(one / "model.safetensors"), load_file(two / "model.safetensors")
    assert first.keys() == second.keys()
    for name in first:  # DDP averaged the gradients: the ranks' updates are the one process's
        assert torch.allclose(first[name].float(), second[name].float(), atol=1e-4), name


def test_torchrun_trains_the_dlm_with_ddp_on_the_one_process_curve_and_resumes_a_killed_run(
    tiny_checkpoints, corpus_dir, tmp_path
):
    """The DLM trainer under torchrun follows the one-process curve; a one-process run killed mid-way resumes under
    torchrun with two processes (the state is the global batch's generator: any world size) onto the same curve."""
    import signal
    import subprocess
    import sys
    import time

    args = ["train", "dlm", "--preset", "test", "--window", 32, "--tokenizer", tiny_checkpoints / "dlm", "--files", corpus_dir]
    args += ["--steps", 6, "--batch-size", 4, "--eval-every", 1, "--lr", 3e-3, "--save-every", 0]
    logs = one_and_two_processes(tmp_path, args, 29534)
    manifest = json.loads((tmp_path / "two" / "checkpoint" / "manifest.json").read_text())
    assert manifest["world_size"] == 2 and len(logs[0]) == len(logs[1]) == 6
    for a, b in zip(*logs):
        assert abs(a["train_loss"] - b["train_loss"]) <= 2e-4 and abs(a["validation_loss"] - b["validation_loss"]) <= 2e-4
    assert_same_weights(tmp_path / "one" / "checkpoint", tmp_path / "two" / "checkpoint")
    assert (tmp_path / "two" / "log.rank1.jsonl").read_text() != ""  # rank 1 logs apart; rank 0 alone saves

    killed = tmp_path / "killed"
    script = tmp_path / "codila_main.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.Popen([sys.executable, script, *map(str, args), "--out", killed], env=env, stderr=subprocess.DEVNULL)
    log = killed / "log.jsonl"
    deadline = time.monotonic() + 300
    while run.poll() is None and not (log.is_file() and len(log.read_text().splitlines()) >= 2):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait()
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29535", script]
    resumed = subprocess.run([*torchrun, *map(str, args), "--out", killed, "--resume"], capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    again = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["step"] for r in again] == list(range(1, 7))
    for a, b in zip(logs[0], again):
        assert abs(a["train_loss"] - b["train_loss"]) <= 2e-4 and abs(a["validation_loss"] - b["validation_loss"]) <= 2e-4
    assert_same_weights(tmp_path / "one" / "checkpoint", killed / "checkpoint")
    assert_same_weights(tmp_path / "one" / "checkpoint", tmp_path / "two" / "checkpoint")
    assert (tmp_path / "two" / "log.rank1.jsonl").read_text() != ""  # rank 1 logs apart; rank 0 alone saves


def test_torchrun_two_processes_follow_the_one_process_loss_curve(tiny_checkpoints, tmp_path):
    """The same global batch (4 examples, split 2 + 2 over gloo ranks) gives the one-process losses within 2e-4 (the log
    rounds to 4 decimals; the rest is float summation order)."""
    import subprocess
    import sys

    data = _examples(tmp_path / "data.jsonl", 10, chat=0)  # codila's tiny tokenizer has no chat template
    script = tmp_path / "codila_main.py"
    script.write_text("from codila.cli import main\nmain()\n")
    args = [
        "train",
        "ar",
        "--dlm",
        tiny_checkpoints / "dlm",
        "--ar-init",
        tiny_checkpoints / "ar-b4",
        "--data",
        data,
        "--block-size",
        4,
        "--batch-size",
        4,
        "--window",
        32,
        "--steps",
        3,
        "--eval-every",
        1,
        "--recipe",
        "paper",
        "--lr",
        1e-3,
        "--device",
        "cpu",
    ]
    one = subprocess.run(
        [sys.executable, script, *map(str, args), "--out", tmp_path / "one"], capture_output=True, text=True, timeout=600
    )
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--master_port=29533",
            script,
            *map(str, args),
            "--out",
            tmp_path / "two",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert two.returncode == 0, two.stderr[-3000:]
    logs = [[json.loads(line) for line in (tmp_path / name / "log.jsonl").read_text().splitlines()] for name in ("one", "two")]
    manifest = json.loads((tmp_path / "two" / "checkpoint" / "manifest.json").read_text())
    assert manifest["world_size"] == 2 and len(logs[0]) == len(logs[1]) == 3
    for a, b in zip(*logs):
        assert abs(a["train_loss"] - b["train_loss"]) <= 2e-4 and abs(a["validation_loss"] - b["validation_loss"]) <= 2e-4
    assert_same_weights(tmp_path / "one" / "checkpoint", tmp_path / "two" / "checkpoint")
