"""PDU: primal-dual unlearning, forget loss under a retain-loss constraint ."""

from __future__ import annotations

import logging

import torch
from transformers import TrainerCallback, TrainerState
from transformers.trainer_callback import ExportableState

from hf_unlearn.trainers.base import UnlearningTrainer
from hf_unlearn.trainers.losses import logit_margin_loss, pdu_dual_update
from hf_unlearn.trainers.method_utils import as_local_mean, local_count, logits_of, retain_kind, retain_log

logger = logging.getLogger(__name__)


class PDUDualState(TrainerCallback, ExportableState):
    """PDU's dual state (lambda_r, whether dual updates have started, the epoch end last seen).

    It is an `ExportableState` callback so that the Trainer writes it into every checkpoint's trainer_state.json
    (`stateful_callbacks`), next to the optimizer state it belongs with; `PDUTrainer` reads it back on resume. It
    holds data only: the hooks are `_DualCallback`'s.
    """

    def __init__(self, retain_preference: float, dual_updates_enabled: bool, last_epoch_end: float = 0.0) -> None:
        self.retain_preference = float(retain_preference)
        self.dual_updates_enabled = bool(dual_updates_enabled)
        self.last_epoch_end = float(last_epoch_end)

    def state(self) -> dict:
        # all in `args`: transformers' own restore (restore_callback_states_from_checkpoint) rebuilds it from them
        return {
            "args": {
                "retain_preference": self.retain_preference,
                "dual_updates_enabled": self.dual_updates_enabled,
                "last_epoch_end": self.last_epoch_end,
            },
            "attributes": {},
        }


class _DualCallback(TrainerCallback):
    """Restores the dual state on resume, enables dual updates after the warm-up epochs and applies them after each
    optimizer step or epoch."""

    def __init__(self, trainer: PDUTrainer) -> None:
        self.trainer = trainer

    def on_train_begin(self, args, state, control, **kwargs):
        self.trainer.restore_dual_state(state)

    def on_step_end(self, args, state, control, **kwargs):
        self.trainer.end_of_step()

    def on_epoch_end(self, args, state, control, **kwargs):
        self.trainer.end_of_epoch(state.epoch or 0.0)


class PDUTrainer(UnlearningTrainer, method="PDU"):
    """loss = gamma * margin(forget) + lambda_r * (L_retain - eps); lambda_r starts at alpha.

    margin = mean over positions predicting answer tokens of (max_v z - mean_v z)^2. With `primal_dual`, lambda_r
    follows projected dual ascent, lambda_r <- max(0, lambda_r + dual_step_size * (L_retain - eps)), from the end of
    the first epoch >= `dual_warmup_epochs` (from the start if 0).

    lambda_r and the warm-up flag live in a `PDUDualState` callback, saved in each checkpoint's trainer_state.json and
    restored on resume, so a resumed run continues the dual ascent where it stopped. A checkpoint written at the last
    step of an epoch precedes that epoch's end (where the warm-up ends and `epoch` updates happen): resuming from it
    runs the missed epoch end first, as the uninterrupted run did.

    Differences from open-unlearning, each intended: the margin is taken at the positions predicting answer tokens
    (it uses the unshifted mask), and with `dual_update_upon: step` lambda_r moves once per optimizer step with the
    effective batch's retain loss (it updates on every micro-batch, so the step count depended on gradient
    accumulation). `epoch` updates use the mean retain loss over one no-grad pass of the train data, as there, but
    weighted by each batch's retain count (tokens, or positions for KL), where open-unlearning averages the per-batch
    means unweighted.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        enabled = self.args.primal_dual and self.args.dual_warmup_epochs == 0
        self.add_callback(PDUDualState(float(self.args.alpha), enabled))
        # retain losses of this optimizer step's micro-batches, emptied at its end (so none is pending at a save)
        self._step_retain: list[torch.Tensor] = []
        self.add_callback(_DualCallback(self))

    @property
    def dual_state(self) -> PDUDualState:
        """The live dual state: looked up each time, as transformers' own callback restore replaces the instance."""
        return next(cb for cb in self.callback_handler.callbacks if isinstance(cb, PDUDualState))

    @property
    def retain_preference(self) -> float:
        """lambda_r, the retain-constraint multiplier."""
        return self.dual_state.retain_preference

    @retain_preference.setter
    def retain_preference(self, value: float) -> None:
        self.dual_state.retain_preference = float(value)

    def forget_term(self, model, inputs):
        forget = inputs["forget"]
        forget_loss = logit_margin_loss(
            logits_of(model, forget), forget["labels"], self.normalizer("forget", "tokens")
        )
        return self.args.gamma * forget_loss, {
            "forget_loss": as_local_mean(self, forget_loss, "forget", "tokens", forget)
        }

    def retain_term(self, model, inputs):
        retain_batch = inputs["retain"]
        retain = self.retain_loss(model, retain_batch)
        # eps scaled by this micro-batch's share of the retain count, so the step's terms add up to (L_retain - eps).
        kind = retain_kind(self.args)
        normalizer = self.normalizer("retain", kind)
        share = 1.0 if normalizer is None else local_count(retain_batch, kind) / normalizer
        if model.training:
            self._step_retain.append(retain.detach())
        return self.retain_preference * (retain - self.args.retain_loss_eps * share), {
            "retain_loss": retain_log(self, retain, retain_batch),
            "retain_preference": torch.tensor(self.retain_preference),
        }

    def _effective_retain_loss(self) -> float | None:
        """This step's retain loss over the whole effective batch (summed shares, or the mean of local means)."""
        if not self._step_retain:
            return None
        values = torch.stack(self._step_retain).double()
        self._step_retain = []
        if self.args.loss_normalization == "effective_batch":
            total = values.sum()
            if self.accelerator.num_processes > 1:
                total = self.accelerator.reduce(total, reduction="sum")
            return float(total)
        mean = values.mean()
        if self.accelerator.num_processes > 1:
            mean = self.accelerator.reduce(mean, reduction="mean")
        return float(mean)

    def _dual_step(self, retain_loss: float) -> None:
        self.retain_preference = pdu_dual_update(
            self.retain_preference, retain_loss, self.args.retain_loss_eps, self.args.dual_step_size
        )

    def end_of_step(self) -> None:
        retain_loss = self._effective_retain_loss()
        if retain_loss is not None and self.dual_state.dual_updates_enabled and self.args.dual_update_upon == "step":
            self._dual_step(retain_loss)

    def restore_dual_state(self, state: TrainerState) -> None:
        """Take the dual state from the checkpoint being resumed (`state` is its TrainerState; on a fresh run it
        holds the current state, so this changes nothing), then run an epoch end the checkpoint was saved before."""
        dual = self.dual_state
        name = type(dual).__name__
        saved = state.stateful_callbacks.get(name)
        if isinstance(saved, dict):
            for key, value in {**saved.get("args", {}), **saved.get("attributes", {})}.items():
                setattr(dual, key, value)
        else:
            if state.global_step > 0:
                logger.warning("PDU: the checkpoint holds no dual state; lambda_r restarts at alpha")
            state.stateful_callbacks[name] = dual.state()  # the Trainer updates this entry at each save
        epoch = state.epoch or 0.0
        if state.global_step > 0 and epoch == int(epoch) and epoch > dual.last_epoch_end:
            self.end_of_epoch(epoch)

    def end_of_epoch(self, epoch: float) -> None:
        dual = self.dual_state
        dual.last_epoch_end = float(epoch)
        if self.args.primal_dual and not dual.dual_updates_enabled and epoch >= self.args.dual_warmup_epochs:
            dual.dual_updates_enabled = True
        if dual.dual_updates_enabled and self.args.dual_update_upon == "epoch":
            self._dual_step(self.epoch_retain_loss())

    @torch.no_grad()
    def epoch_retain_loss(self) -> float:
        """The retain loss over one pass of the train data, in eval mode (the `epoch` dual update)."""
        model = self.model_wrapped if self.model_wrapped is not None else self.model
        was_training, counts = model.training, self._counts
        model.eval()
        self._counts = None  # local means, weighted by their counts below
        kind = retain_kind(self.args)
        totals = torch.zeros(2, dtype=torch.float64, device=self.args.device)
        for batch in self.get_train_dataloader():
            retain = self._prepare_inputs(batch)["retain"]
            with self.compute_loss_context_manager():
                value = self.retain_loss(model, retain)
            count = local_count(retain, kind).double()
            totals += torch.stack([value.double() * count, count])
        if self.accelerator.num_processes > 1:
            totals = self.accelerator.reduce(totals, reduction="sum")
        model.train(was_training)
        self._counts = counts
        return float(totals[0] / totals[1].clamp_min(1))
