"""Third-party messages that say nothing about an hf-unlearn run, dropped at their loggers.

Importing `transformers.Trainer` imports peft, which imports bitsandbytes when it is installed; on a CPU with
AVX512-BF16, bitsandbytes then warns that the optional `kernels` package (a faster CPU 4-bit matmul) is missing,
whether or not anything is quantized (4-bit still works without it). accelerate imports DeepSpeed when it is
installed, and DeepSpeed warns "Setting accelerator to CPU" on a machine without a GPU even when the run does not
use DeepSpeed. hf-unlearn imports neither library itself except where it uses them (the quantization attack, the
ZeRO-3 helpers), so these two messages are filtered here, when the package is imported; every other message of
those loggers passes, and DeepSpeed's passes too when the run is launched with DeepSpeed.
"""

from __future__ import annotations

import logging
import os


class _DropMessage(logging.Filter):
    """Drops the records whose message starts with `start`, unless `keep()` says the message matters now."""

    def __init__(self, start: str, keep=None) -> None:
        super().__init__()
        self.start = start
        self.keep = keep

    def filter(self, record: logging.LogRecord) -> bool:
        if self.keep is not None and self.keep():
            return True
        return not record.getMessage().startswith(self.start)


def _uses_deepspeed() -> bool:
    """`accelerate launch` with a DeepSpeed config tells its processes so."""
    return os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() in ("1", "true")


#: logger name -> the filter of its message that says nothing about the run
FILTERS = {
    "bitsandbytes.backends.cpu.ops": _DropMessage("Failed to load CPU gemm_4bit_forward from kernels-community"),
    "DeepSpeed": _DropMessage("Setting accelerator to CPU", keep=_uses_deepspeed),
}


def install() -> None:
    """Add the filters (a logger keeps them however its library configures it later); idempotent."""
    for name, drop in FILTERS.items():
        logger = logging.getLogger(name)
        if drop not in logger.filters:
            logger.addFilter(drop)
