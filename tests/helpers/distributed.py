"""Shared by the multi-process tests: small SGD overrides, the subprocess environment, weight comparisons.

Runs save BF16 files, whose rounding (~4e-3 of a weight) hides update errors far larger than a wrong count
normalisation makes; `keep_fp32_weights` keeps the fp32 weights each run saved before that conversion, and
`assert_same_update` compares updates (weights minus the start) relative to their own size.
"""

import contextlib
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file

from helpers import REPO

UNLEARN = REPO / "recipes" / "tiny" / "forget01_GradDiff_lr0.0005_alpha5_epoch10.yaml"
NPO = REPO / "recipes" / "tofu" / "forget10_NPO_lr1e-05_beta0.1_alpha1_epoch5.yaml"


#: For update comparisons: the tiny model's gradient norm is ~10, and clipping it to 1 (the default) would give the
#: same update at any gradient scale, hiding e.g. a loss not scaled back up by the number of processes.
NO_CLIPPING = {"max_grad_norm": 0.0}


def sgd_overrides(model: Path, out: Path, **extra) -> dict:
    """Plain SGD makes the update proportional to the gradient, so any scale error would show (Adam hides it; so
    does clipping, see `NO_CLIPPING`)."""
    return {
        "model": str(model),
        "output_dir": str(out),
        "data.forget_limit": 16,
        "data.retain_limit": 16,
        "effective_batch_size": 8,
        "per_device_train_batch_size": 8,
        "optim": "sgd",
        "learning_rate": 0.05,
        "lr_scheduler_type": "constant",
        "warmup_epochs": 0,
        "weight_decay": 0.0,
        "max_steps": 4,
        "logging_steps": 1,
        **extra,
    }


def subprocess_env() -> dict:
    """Offline, one thread, this checkout importable (and these helpers, for test drivers)."""
    path = os.pathsep.join([str(REPO), str(REPO / "tests")])
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": path}


def fp32_path(run_dir: Path) -> Path:
    """Where `keep_fp32_weights` puts a run's fp32 weights: beside the run folder, so nothing in it changes."""
    run_dir = Path(run_dir)
    return run_dir.parent / f"{run_dir.name}.fp32.safetensors"


@contextlib.contextmanager
def keep_fp32_weights():
    """While active, the run folder's fp32 `model.safetensors` is copied to `fp32_path` before the BF16
    conversion (test-only: the product's files are unchanged)."""
    from hf_unlearn import checkpoint

    convert = checkpoint.convert_to_bf16

    def keeping(directory, tied=None):
        saved = Path(directory) / "model.safetensors"
        if saved.is_file():  # the model folder (an adapter folder holds adapter_model.safetensors)
            shutil.copyfile(saved, fp32_path(directory))
        convert(directory, tied=tied)

    checkpoint.convert_to_bf16 = keeping
    try:
        yield
    finally:
        checkpoint.convert_to_bf16 = convert


def weights(run_dir: Path) -> dict:
    return load_file(str(run_dir / "model.safetensors"))


def fp32_weights(run_dir: Path) -> dict:
    weights = load_file(str(fp32_path(run_dir)))
    assert all(t.dtype == torch.float32 for t in weights.values())
    return weights


def assert_same_weights(a: dict, b: dict, exact: bool = False) -> None:
    assert a.keys() == b.keys()
    for name in a:
        if exact:
            assert torch.equal(a[name], b[name]), name
        else:  # bf16 files: one rounding step of difference from reduction order is fine
            torch.testing.assert_close(a[name].float(), b[name].float(), rtol=1e-2, atol=1e-4, msg=name)


def update_error(a: dict, b: dict, start: dict) -> float:
    """The largest difference of two runs' updates from the same start, relative to the tensor's largest update.
    A tensor one run left unchanged (e.g. outside a LoRA adapter's modules) must be unchanged in the other too."""
    worst, moved = 0.0, False
    for name, w0 in start.items():  # a full state dict may also hold a tied weight's copy: compare the model's own
        da, db = a[name].double() - w0.double(), b[name].double() - w0.double()
        scale = float(da.abs().max())
        if scale == 0:
            assert torch.equal(a[name], b[name]), f"{name} moved in one run only"
            continue
        moved = True
        worst = max(worst, float((da - db).abs().max()) / scale)
    assert moved, "training did not move the weights: the comparison would be vacuous"
    return worst


def assert_same_update(a: dict, b: dict, start: dict, rtol: float = 2e-3) -> None:
    """fp32 weights of two runs from `start` made the same update, per tensor, up to reduction-order rounding."""
    error = update_error(a, b, start)
    assert error <= rtol, f"updates differ by {error:.2e} of their size (allowed {rtol:.0e})"


def run_info(run_dir: Path) -> dict:
    return json.loads((run_dir / "run_info.json").read_text())
