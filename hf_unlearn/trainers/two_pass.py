"""Plumbing for update rules that need the forget and retain gradients apart (GRU) or at two points (SAM).

The Trainer accumulates one gradient in `p.grad` over the micro-batches of an optimizer step and syncs it across
processes at the last one. These helpers keep a second accumulator beside it by swapping `p.grad` in and out around
a backward, so each backward still goes through `accelerator.backward` (mixed-precision scaling, DDP's all-reduce
on the syncing micro-batch, FSDP2's reduce-scatter) and lands in the right accumulator.
"""

from __future__ import annotations

import torch

from hf_unlearn.recipe import RecipeError


def trainable_parameters(model) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def swap_grads(params: list[torch.nn.Parameter], grads: list[torch.Tensor | None] | None) -> list[torch.Tensor | None]:
    """Install `grads` as the parameters' `.grad` (None: empty) and return the gradients they held."""
    held = [p.grad for p in params]
    for i, p in enumerate(params):
        p.grad = None if grads is None else grads[i]
    return held


def begin_step(trainer, model, inputs: dict, num_items_in_batch) -> tuple[dict, list[torch.nn.Parameter]]:
    """What the Trainer's `training_step` does before its forward: train mode, inputs on the device, the step's
    counts; FSDP2 set to reduce on every backward. Returns the inputs and the trainable parameters."""
    model.train()
    trainer._counts = num_items_in_batch if isinstance(num_items_in_batch, dict) else None
    sync_every_backward(model)
    return trainer._prepare_inputs(inputs), trainable_parameters(model)


def reject_unsupported_sharding(trainer, what: str) -> None:
    """DeepSpeed keeps gradients in its own partitioned buffers, out of `p.grad`'s reach."""
    if trainer.is_deepspeed_enabled:
        raise RecipeError(
            f"{what}: not supported with DeepSpeed (its gradients never reach p.grad); launch with DDP or FSDP2"
        )


def sync_every_backward(model) -> None:
    """FSDP2 defers its reduce-scatter over accumulation micro-batches into a buffer of its own, which swapping
    `p.grad` cannot split in two; reducing on every backward keeps each accumulator complete and sharded."""
    if hasattr(model, "set_requires_gradient_sync"):
        model.set_requires_gradient_sync(True)
