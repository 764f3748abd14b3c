"""Nothing a run doesn't use speaks: the package's entry points import no optional library, and the import-time
warnings of the ones third-party code imports anyway (peft -> bitsandbytes, accelerate -> DeepSpeed) are dropped."""

import importlib.util
import logging
import subprocess
import sys
import textwrap

import pytest
from helpers.distributed import subprocess_env

from hf_unlearn import noise

OPTIONAL = ("bitsandbytes", "deepspeed", "lm_eval")

SCRIPT = textwrap.dedent(
    """
    import importlib, sys
    import hf_unlearn.cli, hf_unlearn.pipeline, hf_unlearn.run
    for name in hf_unlearn.cli.command_modules():
        importlib.import_module("hf_unlearn.commands." + name)
    print("imported:", sorted(m for m in {optional} if m in sys.modules))
    for name in {installed}:  # what peft and accelerate import when the library is there
        importlib.import_module(name)
    if "deepspeed" in {installed}:
        from deepspeed.accelerator import get_accelerator
        get_accelerator()
    """
)


def test_entry_points_import_no_optional_library_and_third_party_imports_stay_quiet():
    installed = [name for name in ("bitsandbytes", "deepspeed") if importlib.util.find_spec(name)]
    script = SCRIPT.format(optional=OPTIONAL, installed=installed)
    result = subprocess.run(
        [sys.executable, "-c", script], env=subprocess_env(), capture_output=True, text=True, timeout=300
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "imported: []" in result.stdout
    assert "gemm_4bit_forward" not in output and "Setting accelerator to CPU" not in output, output


@pytest.fixture
def records():
    """The messages of the two filtered loggers that reach a handler."""
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    handler = Keep()
    loggers = [logging.getLogger(name) for name in noise.FILTERS]
    for logger in loggers:
        logger.addHandler(handler)
    yield seen
    for logger in loggers:
        logger.removeHandler(handler)


def test_only_the_noise_is_dropped(records, monkeypatch):
    bnb, deepspeed = (logging.getLogger(name) for name in ("bitsandbytes.backends.cpu.ops", "DeepSpeed"))
    bnb.warning("Failed to load CPU gemm_4bit_forward from kernels-community: No module named 'kernels'")
    bnb.warning("4-bit weights are out of range")
    deepspeed.warning("Setting accelerator to CPU. If you have GPU or other accelerator, ...")
    deepspeed.warning("ZeRO stage 3 partitions the model")
    assert records == ["4-bit weights are out of range", "ZeRO stage 3 partitions the model"]
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")  # a DeepSpeed run hears DeepSpeed
    deepspeed.warning("Setting accelerator to CPU. If you have GPU or other accelerator, ...")
    assert records[-1].startswith("Setting accelerator to CPU")
