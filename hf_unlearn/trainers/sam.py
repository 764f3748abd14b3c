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
(reduce-scattered on every backward), and under DeepSpeed ZeRO-3 its partition of both (`zero3_grads`): ||g|| is
completed across processes (`gradients.inner`), so the shards of delta form the one global perturbation. The
gradients and weights are reached through the launcher's gradient store (`two_pass`).
"""

from __future__ import annotations

import torch

from hf_unlearn.trainers.grad_store import ParamGrads
from hf_unlearn.trainers.gradients import sam_perturbation
from hf_unlearn.trainers.two_pass import begin_step


def _average_across_processes(trainer, store: ParamGrads, grads: list) -> None:
    """DDP: the ascent pass runs under the first micro-batch's no_sync, so its gradients are local; average them.
    (Sharded and partitioned gradients are already reduced.)"""
    if trainer.accelerator.num_processes == 1 or store.partitioned:
        return
    if any(hasattr(g, "full_tensor") for g in grads if g is not None):
        return
    for g in grads:
        if g is not None:
            torch.distributed.all_reduce(g)
            g /= trainer.accelerator.num_processes


def ascent_perturbation(trainer, model, store: ParamGrads) -> list:
    """delta = rho * g / ||g||, g = the forget term's gradient at theta over all the step's micro-batches."""
    held = store.swap(None)
    for batch in trainer._step_batches:
        batch = trainer._prepare_inputs(batch)
        with trainer.compute_loss_context_manager():
            forget, _ = trainer.forget_term(model, batch)
        store.backward(forget * trainer.backward_scale)
    grads = store.swap(held)
    _average_across_processes(trainer, store, grads)
    return sam_perturbation(grads, trainer.args.sam_rho, store.partitioned)


@torch.no_grad()
def _move(weights: list, delta: list) -> list:
    """Add delta to the weights; return copies of the weights before (for an exact restore)."""
    before = [w.detach().clone() if d is not None else None for w, d in zip(weights, delta, strict=True)]
    for w, d in zip(weights, delta, strict=True):
        if d is not None:
            w.add_(d.to(w.dtype))
    return before


@torch.no_grad()
def _restore(weights: list, before: list) -> None:
    for w, b in zip(weights, before, strict=True):
        if b is not None:
            w.copy_(b)


def sam_training_step(trainer, model, inputs, num_items_in_batch=None) -> torch.Tensor:
    """The Trainer's `training_step` for one micro-batch of a sharpness-aware run."""
    inputs, store = begin_step(trainer, model, inputs, num_items_in_batch)
    scale = trainer.backward_scale
    if trainer._sam_delta is None:
        store.start_step()
        trainer._sam_delta = ascent_perturbation(trainer, model, store)

    with trainer.compute_loss_context_manager():
        retain, retain_terms = trainer.retain_term(model, inputs)
    if retain is not None:
        store.backward(retain * scale)
    weights = store.weights()
    before = _move(weights, trainer._sam_delta)
    store.weights_changed()
    with trainer.compute_loss_context_manager():
        forget, terms = trainer.forget_term(model, inputs)
    store.backward(forget * scale)
    _restore(weights, before)
    store.weights_changed()

    trainer.record_terms({**terms, **retain_terms})
    if trainer.accelerator.sync_gradients:
        trainer._sam_delta = None  # the next step starts with a new ascent
    store.end_micro_batch()
    loss = forget if retain is None else forget + retain
    return loss.detach() * scale
