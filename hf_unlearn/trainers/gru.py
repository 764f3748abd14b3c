"""GRU: gradient-rectified unlearning (Wang et al., ICML 2025), the GradDiff-family variants of its official code."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from hf_unlearn.methods import GRU_VARIANTS, REFERENCE_RETAIN_LOSSES
from hf_unlearn.trainers.graddiff import GradDiffTrainer
from hf_unlearn.trainers.gradients import add, gru_update
from hf_unlearn.trainers.method_utils import as_local_mean
from hf_unlearn.trainers.two_pass import begin_step, gradient_store, reject_unsupported_sharding

logger = logging.getLogger(__name__)

#: The count each retain loss is normalised by (for its logged per-micro-batch mean).
_RETAIN_COUNT = {"NLL": "tokens", "KL": "positions"}
#: Each process's slice of the running retain gradient, in a checkpoint folder.
AVERAGE_FILE = "gru_retain_average_{}.pt"


class GRUTrainer(GradDiffTrainer, method="GRU"):
    """The unlearning gradient, projected off a running average of the retain gradient where the two conflict.

    As in the official code (github.com/tmlr-group/GRU, `dataloader_faster_refactor1.py`), once per optimizer step:

    - g_f = grad(-gamma * NLL(forget)) and d = grad NLL(retain), each summed over the step's micro-batches;
    - m_t = moving_avg * d + (1 - moving_avg) * m_{t-1}, m_0 = 0 (`gradients.running_average`; 0.8 officially);
    - P(g) = g - (<g, m_t> / ||m_t||^2) m_t when <g, m_t> < 0, else g (`gradients.rectify`);
    - the step, by `variant` (the official names; g_r = grad(alpha * L_retain), NLL or KL(ref || model) as named):
      ga_gru (default, the paper's main setting): P(g_f), the retain gradient only gives the direction;
      gd_gru / ga_KL_gru: P(g_f + g_r); ga_gru+ce / ga_gru+KL: P(g_f) + g_r.

    The direction is always the unweighted retain NLL gradient, so `alpha: 0` still rectifies (the official code
    also projects off the NLL gradient in its KL variants). The official coefficients are gamma 1 and alpha 1
    (ga_KL_gru: alpha 5). The optimizer step, clipping included, is the Trainer's, on the result.

    Each micro-batch back-propagates its forget loss, its retain NLL and (KL variants) its KL term separately: the
    retain NLL gradient accumulates in `p.grad`, the others in buffers swapped with it. Mixed precision: all carry
    the same loss scale, which the projection coefficient does not see.

    Sharding: the inner products must be over all parameters, across processes. Under DDP every accumulator is
    all-reduced (the swap keeps DDP's reducer on the right one), so the inner products, computed locally, are
    already complete. Under FSDP2 each process holds slices of the reduced gradients (DTensors), and under
    DeepSpeed ZeRO-3 its partition of them in DeepSpeed's buffers (`zero3_grads`): `gradients.inner` completes the
    sums across processes, so every process projects its slice with the same coefficient, and the engine steps
    on the rectified partitions. The running average is elementwise: each process keeps the average of the slice
    it holds, the same slice of the one average.

    Evaluation losses are the step's objective: -gamma * NLL(forget), plus alpha * L_retain for the variants with a
    retain term. open-unlearning has no GRU. Checkpoints hold each process's slice of the running average
    (`AVERAGE_FILE`), so a resumed run continues it.
    """

    @classmethod
    def requires_reference(cls, args) -> bool:
        return GRU_VARIANTS[args.variant][0] in REFERENCE_RETAIN_LOSSES

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        reject_unsupported_sharding(self, "GRU")
        if self.args.sam_rho:
            raise ValueError("sam_rho: GRU's rectified step does not combine with sharpness-aware unlearning")
        self.retain_loss_type, self.retain_place = GRU_VARIANTS[self.args.variant]
        self._grads: dict[str, list[torch.Tensor | None]] = {}  # this step's forget (and KL term) accumulators
        self._retain_average: list[torch.Tensor | None] | None = None

    def retain_term(self, model, inputs) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """alpha * L_retain with the variant's retain loss; None for ga_gru or alpha 0."""
        if self.retain_loss_type is None or self.args.alpha == 0:
            return None, {}
        retain = self.retain_loss(model, inputs["retain"], self.retain_loss_type)
        return self.args.alpha * retain, {"retain_loss": self._retain_log(retain, inputs, self.retain_loss_type)}

    def _retain_log(self, value: torch.Tensor, inputs: dict, kind: str) -> torch.Tensor:
        return as_local_mean(self, value, "retain", _RETAIN_COUNT[kind], inputs["retain"])

    def training_step(self, model, inputs, num_items_in_batch=None):
        inputs, store = begin_step(self, model, inputs, num_items_in_batch)
        scale = self.backward_scale
        if not self._grads:
            store.start_step()

        with self.compute_loss_context_manager():
            forget, terms = self.forget_term(model, inputs)
        self._backward_into(store, "forget", forget * scale)
        loss = forget.detach()

        with self.compute_loss_context_manager():
            nll = self.retain_loss(model, inputs["retain"], "NLL")
        store.backward(nll * scale)  # the direction accumulates in p.grad
        kl_term = self.retain_loss_type == "KL"
        terms["retain_nll" if kl_term else "retain_loss"] = self._retain_log(nll, inputs, "NLL")

        if self.retain_loss_type == "NLL":  # the retain term is alpha times the direction's loss: no new backward
            loss = loss + self.args.alpha * nll.detach()
        elif kl_term and self.args.alpha > 0:
            with self.compute_loss_context_manager():
                retain, retain_terms = self.retain_term(model, inputs)
            self._backward_into(store, "retain", retain * scale)
            loss = loss + retain.detach()
            terms.update(retain_terms)
        self.record_terms(terms)
        if self.accelerator.sync_gradients:
            self._apply_rectified(store)
        store.end_micro_batch()
        return loss * scale

    def _backward_into(self, store, name: str, loss: torch.Tensor) -> None:
        """Back-propagate `loss` into accumulator `name`, leaving `p.grad` (the direction's) as it was."""
        held = store.swap(self._grads.get(name))
        store.backward(loss)
        self._grads[name] = store.swap(held)

    def _apply_rectified(self, store) -> None:
        direction = store.grads()
        term = self._grads.get("retain")  # the KL term's gradient
        if self.retain_loss_type == "NLL" and self.args.alpha > 0:
            term = add([None] * len(direction), direction, self.args.alpha)
        update, self._retain_average = gru_update(
            self._grads["forget"],
            direction,
            self._retain_average,
            self.args.moving_avg,
            term,
            self.retain_place,
            store.partitioned,
        )
        store.set_grads(update)
        self._grads = {}

    # ---- the running average in checkpoints -----------------------------------------------------------------
    def _save_optimizer_and_scheduler(self, output_dir: str) -> None:
        super()._save_optimizer_and_scheduler(output_dir)
        if self._retain_average is not None:
            saved = gradient_store(self, self.model_wrapped).to_saved(self._retain_average)
            torch.save(saved, Path(output_dir) / AVERAGE_FILE.format(self.args.process_index))

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None:
            return
        path = Path(checkpoint) / AVERAGE_FILE.format(self.args.process_index)
        saved = torch.load(path, weights_only=True) if path.is_file() else None
        average = None if saved is None else gradient_store(self, self.model_wrapped).from_saved(saved)
        if average is None:  # an older checkpoint, or another number of processes
            logger.warning(
                "GRU: %s holds no running retain gradient for this process; it restarts at zero", checkpoint
            )
            return
        self._retain_average = average
