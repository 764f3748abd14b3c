"""Sharded training with the shipped `recipes/accelerate/` configs, two real processes on CPU.

- DeepSpeed ZeRO-3 (`zero3.yaml`): DeepSpeed's CPU accelerator runs the real engine (weights partitioned at load by
  `zero.Init`, gradients reduce-scattered, the frozen reference prepared by TRL's `prepare_deepspeed`).
- FSDP2 (`fsdp2.yaml`): torch's `fully_shard` over gloo, prepared and saved by accelerate; `fsdp2_cpu_run.py` only
  lifts accelerate's refusal to enable FSDP without an accelerator.

The closest stand-ins for a multi-GPU run this machine has. Mixed precision is off so the comparison with one
process is fp32; SGD makes any gradient-scale error show.
"""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import HELPERS
from helpers.distributed import (
    NO_CLIPPING,
    NPO,
    REPO,
    UNLEARN,
    assert_same_update,
    assert_same_weights,
    fp32_weights,
    keep_fp32_weights,
    run_info,
    sgd_overrides,
    subprocess_env,
    weights,
)
from peft import PeftModel
from transformers import AutoModelForCausalLM

from hf_unlearn.pipeline import train
from hf_unlearn.recipe import load_recipe

RUN = REPO / "recipes" / "run.py"
FP32_RUN = HELPERS / "fp32_run.py"
#: shipped config: (launch script, the distributed type the run must record, processes)
LAUNCHERS = {
    "zero3": ("zero3.yaml", RUN, "DEEPSPEED", 2),
    "fsdp2": ("fsdp2.yaml", HELPERS / "fsdp2_cpu_run.py", "FSDP", 2),
    "single_gpu": ("single_gpu.yaml", RUN, "NO", 1),  # on a machine without a GPU: one CPU process
    "ddp": ("ddp.yaml", RUN, "MULTI_CPU", 2),  # on a machine without GPUs: two gloo processes
}
SHARDED = ["zero3", "fsdp2"]
TINY_NPO = {"model_name": "tiny-llama", "bf16": False, "data.source": "bundled", "eval.enabled": False}
METHODS = {
    "GradDiff": (UNLEARN, {"eval.enabled": False}),
    "NPO": (NPO, TINY_NPO),
    # SAM: the perturbation is applied to the parameters each process holds (its FSDP2 shard, or its ZeRO-3
    # partition `ds_tensor`), by its slice of delta = rho g/||g||, with ||g|| completed across processes; equal
    # updates mean the slices formed the one global perturbation.
    "SAM": (UNLEARN, {"eval.enabled": False, "sam_rho": 0.1}),
    # GRU (ga_gru, the default; alpha 1: it has no retain weight): the projection coefficient <g, m>/||m||^2 is
    # summed over every process's shards or partitions, and each keeps the running average m of its own slice.
    "GRU": (UNLEARN, {"eval.enabled": False, "method": "GRU", "alpha": 1.0}),
}
#: Every method under both launchers. Measured on a 2-core CPU machine (fp32, 2 gloo processes, 4 SGD steps), the
#: sharded update differs from one process's by ~1e-4 of its size under ZeRO-3 and FSDP2 alike (GradDiff 9.3e-5,
#: SAM 1.25e-4, GRU 8.7e-5): reduction order only. `assert_same_update` allows 2e-3; a perturbation or projection
#: formed from one process's slice alone, or a missed accumulator, moves the update by far more.
SHARDED_CASES = [(sh, m) for sh in SHARDED for m in METHODS]
LORA = {"peft.r": 4, "peft.alpha": 8, "learning_rate": 0.5}


PORT_TAKEN = ("address already in use", "eaddrinuse")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(cmd: list[str], args: list[str], attempts: int = 3) -> subprocess.CompletedProcess:
    """`cmd --main_process_port PORT args`, on a new free port when another process took the last one.

    A free port is only free until someone binds it: between `_free_port` closing it and the launcher binding
    it, another test run can take it (accelerate's own `--main_process_port 0` picks a port the same way). So a
    launch that failed because the port was taken is retried on a fresh one; any other failure is returned."""
    for _ in range(attempts):
        result = subprocess.run(
            [*cmd, "--main_process_port", str(_free_port()), *args],
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=900,
        )
        output = (result.stdout + result.stderr).lower()
        if result.returncode == 0 or not any(sign in output for sign in PORT_TAKEN):
            return result
    return result


def _cli(overrides: dict) -> list[str]:
    args = []
    for key, value in overrides.items():
        args += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    return args


def _sharded_run(launcher: str, recipe: Path, overrides: dict, run_dir: Path, as_shipped: bool = False) -> dict:
    """`accelerate launch --config_file recipes/accelerate/<config> <script> RECIPE --key value ...`

    Mixed precision is turned off for comparisons with one fp32 process unless `as_shipped` (bf16, as in the config).
    """
    config, script, distributed_type, processes = LAUNCHERS[launcher]
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(REPO / "recipes" / "accelerate" / config),
    ]
    cmd += [] if as_shipped else ["--mixed_precision", "no"]
    # the launch script runs under fp32_run.py, which keeps the fp32 weights beside the run folder
    result = _launch(cmd, [str(FP32_RUN), str(script), str(recipe), *_cli(overrides)])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    info = run_info(run_dir)
    assert info["distributed_type"] == distributed_type and info["world_size"] == processes
    # the recipe's effective batch whatever the launcher: e.g. 8 = 2 processes x 2 rows x 2 micro-batches
    per_step = processes * overrides["per_device_train_batch_size"]
    assert info["gradient_accumulation_steps"] == overrides["effective_batch_size"] // per_step
    return weights(run_dir)


def _with_tokenizer(extra: dict, tiny_dir: Path) -> dict:
    return {**extra, "tokenizer": str(tiny_dir)} if "model_name" in extra else extra


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, tiny_dir):
    """One-process runs with the same effective batch, trained once and shared by both launchers: their fp32
    weights (before the BF16 conversion)."""
    cache = {}

    def run(name: str, recipe: Path, extra: dict) -> dict:
        if name not in cache:
            out = tmp_path_factory.mktemp(f"one-{name}")
            with keep_fp32_weights():
                cache[name] = fp32_weights(
                    train(load_recipe(recipe, sgd_overrides(tiny_dir, out, **extra))).output_dir
                )
        return cache[name]

    return run


@pytest.mark.parametrize(("launcher", "method"), SHARDED_CASES)
def test_two_sharded_processes_equal_one(tmp_path, tiny_dir, one_process, launcher, method):
    recipe, extra = METHODS[method]
    extra = {**_with_tokenizer(extra, tiny_dir), **NO_CLIPPING}
    one = one_process(f"{method}-unclipped", recipe, extra)
    overrides = sgd_overrides(tiny_dir, tmp_path, per_device_train_batch_size=2, **extra)
    sharded = _sharded_run(launcher, recipe, overrides, tmp_path)
    # saving gathers the shards: the files hold full-size BF16 weights (tied ones once)...
    start = weights(tiny_dir)
    assert {k: v.shape for k, v in sharded.items()} == {k: v.shape for k, v in start.items()}
    assert all(t.dtype == torch.bfloat16 for t in sharded.values())
    # ...and, before that conversion, the same fp32 update as one process
    assert_same_update(one, fp32_weights(tmp_path), start)


@pytest.mark.parametrize("launcher", SHARDED)
def test_sharded_lora_merges_full_weights_then_evaluates(tmp_path, tiny_dir, one_process, launcher):
    """NPO + LoRA: the adapter-disabled base is the reference, the merged model is complete (not the main
    process's shards), and evaluation and export run after training on the main process alone."""
    extra = {**_with_tokenizer(TINY_NPO, tiny_dir), **LORA}
    one = one_process("NPO-LoRA", NPO, extra)
    overrides = sgd_overrides(tiny_dir, tmp_path, per_device_train_batch_size=2, **extra)
    overrides.update({"eval.enabled": True, "eval.limit": 2, "eval.max_new_tokens": 4, "eval.compare_target": False})
    merged = _sharded_run(launcher, NPO, overrides, tmp_path)

    base = AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32)
    from_adapter = PeftModel.from_pretrained(base, str(tmp_path / "adapter")).merge_and_unload().state_dict()
    assert merged.keys() == weights(tiny_dir).keys()
    assert_same_weights(merged, {name: from_adapter[name] for name in merged})  # the saved adapter is BF16
    assert_same_update(one, fp32_weights(tmp_path), weights(tiny_dir))  # the merged fp32 weights
    summary = json.loads((tmp_path / "evals" / "TOFU_SUMMARY.json").read_text())
    assert "forget_truth_ratio" in summary
    assert (tmp_path / "export" / "model.safetensors").is_file()


REFERENCE_METHODS = {
    # the methods holding a frozen reference model (or its precomputed log-probs), in the ways each uses it
    "IdkDPO": ("forget10_IdkDPO_lr1e-05_beta0.05_alpha1_epoch10.yaml", {}),
    "UNDIAL": ("forget10_UNDIAL_lr0.0001_beta10_alpha1_epoch10.yaml", {}),
    "GradDiff-KL": ("forget10_GradDiff_lr1e-05_alpha1_epoch5.yaml", {"retain_loss_type": "KL"}),
    "NPO-precomputed": ("forget10_NPO_lr1e-05_beta0.1_alpha1_epoch5.yaml", {"precompute_ref_log_probs": True}),
    # RMU also hooks a decoder layer and freezes every parameter outside trainable_params_regex
    "RMU": (
        "forget10_RMU_lr1e-05_s2_alpha1_epoch10.yaml",
        {"module_regex": r"model\.layers\.2", "trainable_params_regex": r".*layers\.(1|2)\.mlp\..*"},
    ),
}


def _two_bf16_steps(launcher: str, recipe: Path, tmp_path: Path, tiny_dir: Path, **extra) -> tuple[set, set]:
    """Two steps in bf16 mixed precision, as the configs ship; the saved weights must be full-size BF16.
    Returns (the tensors that changed, every weight matrix)."""
    overrides = {
        **sgd_overrides(tiny_dir, tmp_path, per_device_train_batch_size=2, max_steps=2, learning_rate=0.01),
        **_with_tokenizer(TINY_NPO, tiny_dir),
        "bf16": True,
        **extra,
    }
    saved = _sharded_run(launcher, recipe, overrides, tmp_path, as_shipped=True)
    start = {k: v.to(torch.bfloat16) for k, v in weights(tiny_dir).items()}
    assert {k: v.shape for k, v in saved.items()} == {k: v.shape for k, v in start.items()}
    assert all(t.dtype == torch.bfloat16 for t in saved.values())
    changed = {k for k in start if not torch.equal(saved[k], start[k])}
    return changed, {k for k, v in start.items() if v.dim() == 2}


@pytest.mark.parametrize("method", list(REFERENCE_METHODS))
@pytest.mark.parametrize("launcher", SHARDED)
def test_reference_methods_train_sharded(tmp_path, tiny_dir, launcher, method):
    """Each reference-model method: the sharded reference (or the precomputed table) works and trains."""
    name, extra = REFERENCE_METHODS[method]
    changed, matrices = _two_bf16_steps(launcher, REPO / "recipes" / "tofu" / name, tmp_path, tiny_dir, **extra)
    if method == "RMU":
        assert changed == {f"model.layers.{i}.mlp.{p}_proj.weight" for i in (1, 2) for p in ("gate", "up", "down")}
    else:  # every matrix moved (a small step can vanish in a norm weight's BF16 rounding)
        assert matrices <= changed


@pytest.mark.parametrize("launcher", ["single_gpu", "ddp"])
def test_plain_configs_run_as_shipped(tmp_path, tiny_dir, launcher):
    """The other two shipped configs with a reference-model method (GPU-less here: one CPU process, and two gloo
    processes)."""
    changed, matrices = _two_bf16_steps(launcher, NPO, tmp_path, tiny_dir)
    assert matrices <= changed


def test_launch_retries_when_its_port_was_taken(monkeypatch):
    """Only a port taken between choosing and binding it is retried; another failure is returned at once."""
    answers = [
        subprocess.CompletedProcess([], 1, "", "errno: 98 - Address already in use"),
        subprocess.CompletedProcess([], 0, "done", ""),
        subprocess.CompletedProcess([], 1, "", "Traceback ... ValueError: alpha must be >= 0"),
    ]
    ports = []

    def fake_run(cmd, **kwargs):
        ports.append(int(cmd[cmd.index("--main_process_port") + 1]))
        return answers.pop(0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    assert _launch(["launch"], ["script.py"]).returncode == 0
    assert len(ports) == 2
    assert _launch(["launch"], ["script.py"]).returncode == 1 and len(ports) == 3
