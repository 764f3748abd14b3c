"""Plumbing for update rules that need the forget and retain gradients apart (GRU) or at two points (SAM).

The Trainer accumulates one gradient over the micro-batches of an optimizer step and syncs it across processes.
A gradient store keeps a second accumulator beside it by swapping the accumulated gradient in and out around a
backward, so each backward still goes through the launcher's own backward (mixed-precision scaling, DDP's
all-reduce on the syncing micro-batch, FSDP2's and ZeRO-3's reduce-scatter) and lands in the right accumulator.

- `grad_store.ParamGrads` (one process, DDP, FSDP2): the gradient is `p.grad`, full or an FSDP2 shard (a
  DTensor).
- `Zero3Grads` (DeepSpeed ZeRO-3, `trainers/zero3_grads.py`): the gradient is the fp32 partition each process
  holds in DeepSpeed's buffers, the weights its partition `ds_tensor`.
"""

from __future__ import annotations

from hf_unlearn.recipe import RecipeError
from hf_unlearn.trainers.grad_store import ParamGrads
from hf_unlearn.trainers.zero3_grads import Zero3Grads


def gradient_store(trainer, model) -> ParamGrads:
    """The store for this launcher: ZeRO-3's partitions under DeepSpeed, `p.grad` otherwise."""
    if trainer.is_deepspeed_enabled:
        return Zero3Grads(trainer, model)
    return ParamGrads(trainer, model)


def begin_step(trainer, model, inputs: dict, num_items_in_batch) -> tuple[dict, ParamGrads]:
    """What the Trainer's `training_step` does before its forward: train mode, inputs on the device, the step's
    counts; FSDP2 set to reduce on every backward. Returns the inputs and the gradient store."""
    model.train()
    trainer._counts = num_items_in_batch if isinstance(num_items_in_batch, dict) else None
    sync_every_backward(model)
    return trainer._prepare_inputs(inputs), gradient_store(trainer, model)


def reject_unsupported_sharding(trainer, what: str) -> None:
    """DeepSpeed ZeRO stages 0-2 keep gradients in flat buffers of their own, which only ZeRO-3 exposes per
    parameter (`Zero3Grads`); with optimizer offload even ZeRO-3 fills them only at the step's end."""
    if not trainer.is_deepspeed_enabled:
        return
    plugin = trainer.accelerator.state.deepspeed_plugin
    if plugin.zero_stage != 3:
        raise RecipeError(
            f"{what}: not supported with DeepSpeed ZeRO stage {plugin.zero_stage}; use zero_stage 3 "
            "(recipes/accelerate/zero3.yaml), DDP or FSDP2"
        )
    offload = plugin.deepspeed_config.get("zero_optimization", {}).get("offload_optimizer", {}).get("device")
    if offload not in (None, "none"):
        raise RecipeError(
            f"{what}: not supported with DeepSpeed's optimizer offload; set offload_optimizer_device: none"
        )


def sync_every_backward(model) -> None:
    """FSDP2 defers its reduce-scatter over accumulation micro-batches into a buffer of its own, which swapping
    `p.grad` cannot split in two; reducing on every backward keeps each accumulator complete and sharded."""
    if hasattr(model, "set_requires_gradient_sync"):
        model.set_requires_gradient_sync(True)
