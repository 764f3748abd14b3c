"""GRU: gradient-rectified unlearning on GradDiff's losses."""

from __future__ import annotations

import torch

from hf_unlearn.trainers.graddiff import GradDiffTrainer
from hf_unlearn.trainers.gradients import rectify
from hf_unlearn.trainers.two_pass import begin_step, reject_unsupported_sharding, swap_grads


class GRUTrainer(GradDiffTrainer, method="GRU"):
    """update = rectify(g_f, g_r) + g_r, g_f = grad(-gamma * NLL(forget)), g_r = grad(alpha * L_retain).

    Each micro-batch back-propagates its forget and its retain loss separately: the forget gradient accumulates in
    a buffer swapped with `p.grad`, the retain gradient in `p.grad`. At the optimizer step's last micro-batch the two
    totals (over the whole effective batch, synced across processes) are combined by `gradients.rectify`, and the
    Trainer clips and steps the result as usual. Mixed precision: both gradients carry the same loss scale, which
    the projection coefficient <g_f, g_r> / ||g_r||^2 does not see.

    Sharding: under DDP both accumulators are all-reduced (the swap keeps DDP's reducer on the right one), so the
    inner products, computed locally, are over all parameters. Under FSDP2 each process holds slices of the reduced
    gradients; `gradients.inner` completes the sums across processes, so every process projects with the same
    coefficient. DeepSpeed is refused (its gradients live outside `p.grad`).

    Evaluation losses are GradDiff's (`compute_unlearning_loss`). open-unlearning has no GRU; the projection uses
    this step's retain gradient.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        reject_unsupported_sharding(self, "GRU")
        if self.args.sam_rho:
            raise ValueError("sam_rho: GRU's rectified step does not combine with sharpness-aware unlearning")
        self._forget_grads: list[torch.Tensor | None] | None = None

    def training_step(self, model, inputs, num_items_in_batch=None):
        inputs, params = begin_step(self, model, inputs, num_items_in_batch)
        scale = self.backward_scale

        held = swap_grads(params, self._forget_grads)
        with self.compute_loss_context_manager():
            forget, terms = self.forget_term(model, inputs)
        self.accelerator.backward(forget * scale)
        self._forget_grads = swap_grads(params, held)

        with self.compute_loss_context_manager():
            retain, retain_terms = self.retain_term(model, inputs)
        loss = forget.detach()
        if retain is not None:
            self.accelerator.backward(retain * scale)
            loss = loss + retain.detach()
        self.record_terms({**terms, **retain_terms})
        if self.accelerator.sync_gradients:
            self._apply_rectified(params)
        return loss * scale

    def _apply_rectified(self, params) -> None:
        retain = [p.grad for p in params]
        for p, f, r in zip(params, rectify(self._forget_grads, retain), retain, strict=True):
            p.grad = r if f is None else (f if r is None else f + r)
        self._forget_grads = None
