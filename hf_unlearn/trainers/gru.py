"""GRU: gradient-rectified unlearning on GradDiff's losses."""

from __future__ import annotations

import torch

from hf_unlearn.trainers.graddiff import GradDiffTrainer
from hf_unlearn.trainers.gradients import rectify
from hf_unlearn.trainers.two_pass import begin_step, reject_unsupported_sharding


class GRUTrainer(GradDiffTrainer, method="GRU"):
    """update = rectify(g_f, g_r) + g_r, g_f = grad(-gamma * NLL(forget)), g_r = grad(alpha * L_retain).

    Each micro-batch back-propagates its forget and its retain loss separately: the forget gradient accumulates in
    a buffer swapped with `p.grad`, the retain gradient in `p.grad`. At the optimizer step's last micro-batch the two
    totals (over the whole effective batch, synced across processes) are combined by `gradients.rectify`, and the
    Trainer clips and steps the result as usual. Mixed precision: both gradients carry the same loss scale, which
    the projection coefficient <g_f, g_r> / ||g_r||^2 does not see.

    Sharding: the inner products must be over all parameters, across processes. Under DDP both accumulators are
    all-reduced (the swap keeps DDP's reducer on the right one), so the inner products, computed locally, are
    already complete. Under FSDP2 each process holds slices of the reduced gradients (DTensors), and under
    DeepSpeed ZeRO-3 its partition of them in DeepSpeed's buffers (`zero3_grads`): `gradients.inner` completes the
    sums across processes, so every process projects its slice with the same coefficient, and the engine steps
    on the rectified partitions.

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
        inputs, store = begin_step(self, model, inputs, num_items_in_batch)
        scale = self.backward_scale
        if self._forget_grads is None:
            store.start_step()

        held = store.swap(self._forget_grads)
        with self.compute_loss_context_manager():
            forget, terms = self.forget_term(model, inputs)
        store.backward(forget * scale)
        self._forget_grads = store.swap(held)

        with self.compute_loss_context_manager():
            retain, retain_terms = self.retain_term(model, inputs)
        loss = forget.detach()
        if retain is not None:
            store.backward(retain * scale)
            loss = loss + retain.detach()
        self.record_terms({**terms, **retain_terms})
        if self.accelerator.sync_gradients:
            self._apply_rectified(store)
        store.end_micro_batch()
        return loss * scale

    def _apply_rectified(self, store) -> None:
        retain = store.grads()
        forget = rectify(self._forget_grads, retain, store.partitioned)
        store.set_grads([r if f is None else (f if r is None else f + r) for f, r in zip(forget, retain, strict=True)])
        self._forget_grads = None
