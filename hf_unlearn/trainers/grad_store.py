"""Where the step's accumulated gradient lives for one process, DDP and FSDP2: `p.grad`.

`ParamGrads` is the gradient store SAM and GRU work through (`two_pass`); `zero3_grads.Zero3Grads` is the same
interface over DeepSpeed ZeRO-3's partitions.
"""

from __future__ import annotations

import torch


def trainable_parameters(model) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def swap_grads(params: list[torch.nn.Parameter], grads: list[torch.Tensor | None] | None) -> list[torch.Tensor | None]:
    """Install `grads` as the parameters' `.grad` (None: empty) and return the gradients they held."""
    held = [p.grad for p in params]
    for i, p in enumerate(params):
        p.grad = None if grads is None else grads[i]
    return held


class ParamGrads:
    """The step's gradient in `p.grad`; the Trainer takes the optimizer step."""

    #: Whether each process holds a disjoint slice of every gradient as a plain tensor, so sums over it must be
    #: completed across processes (FSDP2's DTensors complete their own sums).
    partitioned = False

    def __init__(self, trainer, model) -> None:
        self.trainer = trainer
        self.params = trainable_parameters(model)

    def start_step(self) -> None:
        """At an optimizer step's first micro-batch: the Trainer's `zero_grad` already emptied `p.grad`."""

    def swap(self, grads: list[torch.Tensor | None] | None) -> list[torch.Tensor | None]:
        """Make `grads` (None: zeros) the accumulator the next backward adds to; return the one it replaces."""
        return swap_grads(self.params, grads)

    def grads(self) -> list[torch.Tensor | None]:
        return [p.grad for p in self.params]

    def set_grads(self, grads: list[torch.Tensor | None]) -> None:
        swap_grads(self.params, grads)

    def weights(self) -> list[torch.Tensor]:
        """The tensors the forward reads the weights from, in the gradients' layout (SAM moves them)."""
        return self.params

    def weights_changed(self) -> None:
        """After the weights were written in place: nothing holds another copy of them."""

    def backward(self, loss: torch.Tensor) -> None:
        self.trainer.accelerator.backward(loss)

    def end_micro_batch(self) -> None:
        """After a micro-batch's last backward: the Trainer clips and steps at the step's last one."""

    # ---- gradient-shaped state in checkpoints (GRU's running retain gradient) --------------------------------
    @staticmethod
    def to_saved(grads: list[torch.Tensor | None]) -> list[torch.Tensor | None]:
        """This process's part of gradient-shaped state, on the CPU (an FSDP2 DTensor's local shard)."""
        return [None if g is None else (g.to_local() if hasattr(g, "to_local") else g).detach().cpu() for g in grads]

    def from_saved(self, saved: list[torch.Tensor | None]) -> list[torch.Tensor | None] | None:
        """`to_saved`'s output back in the gradients' layout, or None if it was saved with another layout (another
        model, or another number of processes)."""
        if len(saved) != len(self.params):
            return None
        if any(t is not None and t.shape != self._local(p).shape for t, p in zip(saved, self.params, strict=True)):
            return None
        return [None if t is None else self._place(t, p) for t, p in zip(saved, self.params, strict=True)]

    @staticmethod
    def _local(param: torch.nn.Parameter) -> torch.Tensor:
        return param.to_local() if hasattr(param, "to_local") else param

    @staticmethod
    def _place(saved: torch.Tensor, param: torch.nn.Parameter) -> torch.Tensor:
        if hasattr(param, "device_mesh"):  # an FSDP2 shard
            from torch.distributed.tensor import DTensor

            local = saved.to(param.to_local().device)
            return DTensor.from_local(
                local, param.device_mesh, param.placements, shape=param.shape, stride=param.stride()
            )
        return saved.to(param.device)
