"""Sharpness-aware unlearning (`sam_rho`): min_theta max_{||delta|| <= rho} L_forget(theta + delta) + L_retain(theta).

The inner max is taken to first order, delta = rho * g / ||g|| with g the forget loss's gradient at theta over the
whole effective batch (Fan et al., 2025). One optimizer step is two passes:

1. at the step's first micro-batch, an ascent pass over all of the step's micro-batches accumulates g (apart from
   the Trainer's gradient) and fixes delta;
2. each micro-batch then back-propagates its retain term at theta, moves the weights to theta + delta,
   back-propagates its forget term there, and puts the weights back exactly (a copy, not a subtraction).

So the step's gradient is grad L_forget(theta + delta) + grad L_retain(theta), whatever the micro-batch split.

Processes: delta is applied to the parameters each process holds. Under DDP every process holds all of them and g
is averaged across processes before delta is formed; under FSDP2 each holds its shard of every parameter and of g
(reduce-scattered on every backward), and ||g|| is completed across processes (`gradients.inner`), so the shards of
delta form the one global perturbation. DeepSpeed is refused: its gradients never reach `p.grad`.
"""

from __future__ import annotations

import torch

from hf_unlearn.trainers.gradients import sam_perturbation
from hf_unlearn.trainers.two_pass import begin_step, swap_grads


def _average_across_processes(trainer, grads: list) -> None:
    """DDP: the ascent pass runs under the first micro-batch's no_sync, so its gradients are local; average them.
    (Sharded gradients are already reduced.)"""
    if trainer.accelerator.num_processes == 1 or any(hasattr(g, "full_tensor") for g in grads if g is not None):
        return
    for g in grads:
        if g is not None:
            torch.distributed.all_reduce(g)
            g /= trainer.accelerator.num_processes


def ascent_perturbation(trainer, model, params: list) -> list:
    """delta = rho * g / ||g||, g = the forget term's gradient at theta over all the step's micro-batches."""
    held = swap_grads(params, None)
    for batch in trainer._step_batches:
        batch = trainer._prepare_inputs(batch)
        with trainer.compute_loss_context_manager():
            forget, _ = trainer.forget_term(model, batch)
        trainer.accelerator.backward(forget * trainer.backward_scale)
    grads = [p.grad for p in params]
    _average_across_processes(trainer, grads)
    swap_grads(params, held)
    return sam_perturbation(grads, trainer.args.sam_rho)


@torch.no_grad()
def _move(params: list, delta: list) -> list:
    """Add delta to the weights; return copies of the weights before (for an exact restore)."""
    before = [p.detach().clone() if d is not None else None for p, d in zip(params, delta, strict=True)]
    for p, d in zip(params, delta, strict=True):
        if d is not None:
            p.add_(d.to(p.dtype))
    return before


@torch.no_grad()
def _restore(params: list, before: list) -> None:
    for p, b in zip(params, before, strict=True):
        if b is not None:
            p.copy_(b)


def sam_training_step(trainer, model, inputs, num_items_in_batch=None) -> torch.Tensor:
    """The Trainer's `training_step` for one micro-batch of a sharpness-aware run."""
    inputs, params = begin_step(trainer, model, inputs, num_items_in_batch)
    scale = trainer.backward_scale
    if trainer._sam_delta is None:
        trainer._sam_delta = ascent_perturbation(trainer, model, params)

    with trainer.compute_loss_context_manager():
        retain, retain_terms = trainer.retain_term(model, inputs)
    if retain is not None:
        trainer.accelerator.backward(retain * scale)
    before = _move(params, trainer._sam_delta)
    with trainer.compute_loss_context_manager():
        forget, terms = trainer.forget_term(model, inputs)
    trainer.accelerator.backward(forget * scale)
    _restore(params, before)

    trainer.record_terms({**terms, **retain_terms})
    if trainer.accelerator.sync_gradients:
        trainer._sam_delta = None  # the next step starts with a new ascent
    loss = forget if retain is None else forget + retain
    return loss.detach() * scale
