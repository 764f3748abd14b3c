"""RMU: representation misdirection."""

from __future__ import annotations

import re
from contextlib import contextmanager

import torch

from hf_unlearn.trainers.base import UnlearningTrainer
from hf_unlearn.trainers.losses import masked_activation_loss, rmu_control_vector
from hf_unlearn.trainers.method_utils import as_local_mean, find_module, retain_log


@contextmanager
def capture_output(module: torch.nn.Module):
    """Record `module`'s output (the hidden state, first element of a tuple) during the forwards inside the block."""
    store: dict[str, torch.Tensor] = {}

    def hook(_module, _inputs, output):
        store["hidden"] = output[0] if isinstance(output, tuple) else output

    handle = module.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


class RMUTrainer(UnlearningTrainer, method="RMU"):
    """loss = gamma * A(h(forget), c) + alpha * A(h(retain), h_ref(retain)), h = output of the `module_regex` module.

    A(h, t) = mean over sequences of the mean over answer positions of mean_d (h - t)^2; c = steering_coeff * u/|u|,
    u ~ U[0,1)^d. Other retain types (NLL, KL) use the shared retain loss of `UnlearningTrainer`.
    `activation_positions: all` averages over every position of the padded batch instead (padding included), as
    the original RMU code's unmasked MSE does. A forget batch whose rows carry a `topic` (WMDP's `data.schedule:
    documents`, bio then cyber) steers each topic to its own control vector, as the original code does.

    Differences from open-unlearning, each intended: the control vector comes from a generator seeded with the run's
    seed (not the global RNG state at the first step), parameters outside `trainable_params_regex` are frozen (it
    re-enables their gradients after building the optimizer), and forwards skip the vocabulary projection except for
    one position (`logits_to_keep=1`); only the steered module's output is used.

    The activation loss is the intended mean over sequences of each sequence's mean over its answer positions,
    mean_b(s_b / n_b). open-unlearning divides a [B] tensor of per-sequence sums by a [B, 1] tensor of counts, which
    broadcasts to [B, B], so its mean is mean_b(s_b) * mean_b(1 / n_b): sequences are not weighted by their own
    length. `loss_normalization: micro_batch` does not reproduce that quirk.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        find_module(self.model, self.args.module_regex)  # fail now, not at the first step
        self._control: dict[int, torch.Tensor] = {}
        if hasattr(self.model, "peft_config"):
            return  # LoRA: the adapter decides what trains
        trainable = 0
        for name, param in self.model.named_parameters():
            keep = re.fullmatch(self.args.trainable_params_regex, name) is not None
            param.requires_grad_(keep)
            trainable += int(keep)
        if not trainable:
            raise ValueError(f"trainable_params_regex: '{self.args.trainable_params_regex}' matches no parameter")

    def control_vector(self, like: torch.Tensor, topics: torch.Tensor | None = None) -> torch.Tensor:
        """The control vector, [1, 1, d]; with `topics` (a forget batch's topic per row, as the original code's
        bio/cyber schedule has them), each row's topic's own vector, [B, 1, d]."""
        if topics is None:
            return self._topic_vector(0, like)
        return torch.cat([self._topic_vector(int(t), like) for t in topics.tolist()])

    def _topic_vector(self, topic: int, like: torch.Tensor) -> torch.Tensor:
        if topic not in self._control:
            dim = like.shape[-1]
            self._control[topic] = rmu_control_vector(dim, self.args.steering_coeff, self.args.seed, topic)
        return self._control[topic].to(device=like.device, dtype=like.dtype)

    def activation_labels(self, batch: dict) -> torch.Tensor | None:
        """The mask of the activation losses: the labels, or None (every position, padding included)."""
        return None if self.args.activation_positions == "all" else batch["labels"]

    def hidden(self, model, batch: dict) -> torch.Tensor:
        module = find_module(self.accelerator.unwrap_model(model), self.args.module_regex)
        with capture_output(module) as store:
            model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=1)
        return store["hidden"]

    @torch.no_grad()
    def reference_hidden(self, model, batch: dict) -> torch.Tensor:
        root = self.ref_model if self.ref_model is not None else model
        module = find_module(self.accelerator.unwrap_model(root), self.args.module_regex)
        with capture_output(module) as store:
            self.reference_logits(batch)
        return store["hidden"]

    def forget_term(self, model, inputs):
        forget = inputs["forget"]
        h_forget = self.hidden(model, forget)
        control = self.control_vector(h_forget, forget.get("topic"))
        forget_loss = masked_activation_loss(
            h_forget, control, self.activation_labels(forget), self.normalizer("forget", "seqs")
        )
        return self.args.gamma * forget_loss, {
            "forget_loss": as_local_mean(self, forget_loss, "forget", "seqs", forget)
        }

    def retain_term(self, model, inputs):
        retain_batch = inputs["retain"]
        if self.args.retain_loss_type == "EMBED_DIFF":
            retain = masked_activation_loss(
                self.hidden(model, retain_batch),
                self.reference_hidden(model, retain_batch),
                self.activation_labels(retain_batch),
                self.normalizer("retain", "seqs"),
            )
        else:
            retain = self.retain_loss(model, retain_batch)
        return self.args.alpha * retain, {"retain_loss": retain_log(self, retain, retain_batch)}
