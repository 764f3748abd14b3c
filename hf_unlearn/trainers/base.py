"""`UnlearningTrainer`: the `Trainer` plumbing every unlearning method shares.

- nested batches ({"forget": ..., "retain": ...}) through collation, device moves and evaluation;
- loss normalisation over the whole effective batch (counts gathered over micro-batches and processes);
- separate logging of each loss term;
- a frozen reference model prepared the TRL way (DeepSpeed / FSDP / plain), never a deepcopy;
- per-epoch forget/retain pairing.
"""

from __future__ import annotations

import gc
from collections import defaultdict

import torch
from transformers import Trainer, TrainerCallback

from hf_unlearn.methods import get_method
from hf_unlearn.trainers.losses import kl_ref_to_model, label_token_count, nll_loss, sequence_nll
from hf_unlearn.trainers.method_utils import logits_of, retain_log
from hf_unlearn.trainers.sam import sam_training_step
from hf_unlearn.trainers.two_pass import reject_unsupported_sharding


class _PairingEpochCallback(TrainerCallback):
    """Tells the forget/retain dataset which epoch starts, so pairs change per epoch yet stay reproducible."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def on_epoch_begin(self, args, state, control, **kwargs):
        if hasattr(self.dataset, "set_epoch"):
            # floor, not round: a run resumed mid-epoch begins its epoch at a fractional `state.epoch` (1.5 is epoch 1)
            self.dataset.set_epoch(int(state.epoch or 0))


def leaf_batches(batch: dict, prefix: str = ""):
    """Yield (path, sub-batch) for every sub-batch holding `input_ids`."""
    if "input_ids" in batch:
        yield prefix.rstrip("."), batch
        return
    for key, value in batch.items():
        if isinstance(value, dict):
            yield from leaf_batches(value, f"{prefix}{key}.")


class UnlearningTrainer(Trainer):
    """Base class: a method's trainer names its spec and implements `compute_unlearning_loss(model, inputs)`.

    `class NPOTrainer(UnlearningTrainer, method="NPO")` takes everything but the loss from the registered
    `MethodSpec`: the config class (`config_class`), the tags, whether a reference model is needed and which
    reference log-probs can be precomputed.
    """

    #: The model's tags; the run's benchmark (the `benchmark` argument) and the method's spec add theirs.
    _tag_names = ["hf-unlearn", "machine-unlearning"]
    _name = "Unlearning"
    #: The method's spec (None for trainers that implement no registered method, such as finetuning).
    method_spec = None

    def __init_subclass__(cls, method: str | None = None, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if method is None:
            return
        from hf_unlearn.trainers.config import method_config

        cls.method_spec = get_method(method)
        cls._name = method
        cls.config_class = method_config(method)
        cls._tag_names = UnlearningTrainer._tag_names + list(cls.method_spec.tags)

    @classmethod
    def requires_reference(cls, args) -> bool:
        """Whether this method, with these arguments, needs a frozen reference model."""
        return cls.method_spec is not None and cls.method_spec.requires_reference(
            getattr(args, "retain_loss_type", None)
        )

    @classmethod
    def reference_sequence_paths(cls, args) -> tuple[str, ...]:
        """Sub-batches whose reference log-probs `precompute_ref_log_probs` precomputes (the spec says which)."""
        return cls.method_spec.reference_sequence_paths if cls.method_spec is not None else ()

    def __init__(self, model=None, args=None, ref_model=None, benchmark: str | None = None, **kwargs) -> None:
        super().__init__(model=model, args=args, **kwargs)
        if benchmark is not None:
            self._tag_names = [*self._tag_names, benchmark]
        self._metrics: dict[str, dict[str, list]] = {"train": defaultdict(list), "eval": defaultdict(list)}
        self._counts: dict | None = None
        if self.train_dataset is not None and hasattr(self.train_dataset, "set_epoch"):
            self.add_callback(_PairingEpochCallback(self.train_dataset))
        if hasattr(self.model, "add_model_tags"):
            self.model.add_model_tags(self._tag_names + [self._name])
        self.ref_model = self._prepare_reference(ref_model) if ref_model is not None else None
        if self.requires_reference(self.args) and self.ref_model is None and not self.adapter_is_reference:
            raise ValueError(f"{self._name} needs a reference model (pass ref_model=, or train a LoRA adapter)")
        self._ref_log_probs: dict[str, dict[int, float]] | None = None
        self._step_batches: list = []
        self._sam_delta: list | None = None
        if getattr(self.args, "sam_rho", None):
            reject_unsupported_sharding(self, "sam_rho")
        if getattr(self.args, "precompute_ref_log_probs", False):
            self._check_precompute()

    def _issue_warnings_after_load(self, load_result) -> None:
        """A resumed checkpoint holds a tied output head once, as the embedding it shares; the Trainer calls it a
        missing key (`missing keys ['lm_head.weight']`) unless the model lists it in `_keys_to_ignore_on_save`.
        A key is dropped from the warning only when it is the same tensor as a weight the checkpoint had."""
        missing = load_result.missing_keys
        tied = getattr(self.model, "all_tied_weights_keys", None) or {}

        def loaded_through_its_source(key: str) -> bool:
            source = tied.get(key)
            if source is None or source in missing:
                return False
            try:
                return self.model.get_parameter(key) is self.model.get_parameter(source)
            except AttributeError:
                return False

        kept = [key for key in missing if not loaded_through_its_source(key)]
        super()._issue_warnings_after_load(load_result._replace(missing_keys=kept))

    # ---- reference model --------------------------------------------------------------------------------------
    def _prepare_reference(self, ref_model):
        ref_model.eval()
        ref_model.requires_grad_(False)
        if self.is_deepspeed_enabled:
            from trl.models import prepare_deepspeed

            return prepare_deepspeed(ref_model, self.accelerator)
        if self.is_fsdp_enabled:
            from trl.models import prepare_fsdp

            return prepare_fsdp(ref_model, self.accelerator)
        return self.accelerator.prepare_model(ref_model, evaluation_mode=True)

    @property
    def adapter_is_reference(self) -> bool:
        """With a LoRA adapter and no separate reference, the adapter-disabled base model is the reference:
        it is exactly the starting model, and no second copy sits in memory."""
        return self.ref_model is None and hasattr(self.accelerator.unwrap_model(self.model), "disable_adapter")

    @torch.no_grad()
    def reference_logits(self, batch: dict) -> torch.Tensor:
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        if self.ref_model is None and self.adapter_is_reference:
            peft_model = self.accelerator.unwrap_model(self.model)
            with peft_model.disable_adapter():
                return peft_model(**inputs).logits
        return self.ref_model(**inputs).logits

    # ---- precomputed reference log-probs ------------------------------------------------------------------------
    def _check_precompute(self) -> None:
        if self.method_spec is None:
            raise ValueError(f"precompute_ref_log_probs: {self._name} uses no reference model (set it to false)")
        problem = self.method_spec.precompute_error(getattr(self.args, "retain_loss_type", None))
        if problem:
            raise ValueError(problem)
        if hasattr(self.data_collator, "keep_index"):
            self.data_collator.keep_index = True  # the table is keyed by each item's index

    def precompute_reference(self) -> None:
        """Score every forget item the method needs with the reference once, then free the reference model."""
        from hf_unlearn.trainers import ref_cache

        epochs = ref_cache.epochs_to_cover(self.args, len(self.train_dataset))
        table = {}
        for path in self.reference_sequence_paths(self.args):
            features = ref_cache.reference_features(self.train_dataset, path, epochs)
            table[path] = ref_cache.precompute_sequence_logps(
                self, features, self.args.per_device_eval_batch_size, desc=f"reference log-probs ({path})"
            )
        self._ref_log_probs = table
        self._release_reference()

    def _release_reference(self) -> None:
        """Drop the reference model and give its memory back, even if the caller still holds the object."""
        ref, self.ref_model = self.ref_model, None
        if ref is None:
            return
        models = getattr(self.accelerator, "_models", None)  # prepare_model registers it there
        if models is not None:
            self.accelerator._models = [m for m in models if m is not ref]
        if not (self.is_deepspeed_enabled or self.is_fsdp_enabled):
            self.accelerator.unwrap_model(ref).to("meta")  # frees the storage in place
        del ref
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def reference_sequence_logps(self, path: str, batch: dict) -> torch.Tensor:
        """log pi_ref(y|x) summed over each row's answer tokens [B]: from the precomputed table, or live."""
        if self._ref_log_probs is not None:
            from hf_unlearn.trainers.ref_cache import lookup

            if "index" not in batch:
                raise KeyError("precompute_ref_log_probs: batches carry no 'index' (use NestedPaddingCollator)")
            return lookup(self._ref_log_probs[path], path, batch["index"])
        nll, _ = sequence_nll(self.reference_logits(batch), batch["labels"])
        return -nll

    def train(self, *args, **kwargs):
        if getattr(self.args, "precompute_ref_log_probs", False) and self._ref_log_probs is None:
            self.precompute_reference()
        return super().train(*args, **kwargs)

    # ---- the retain loss every method with a retain term shares -------------------------------------------------
    def retain_loss(self, model, retain: dict, kind: str | None = None) -> torch.Tensor:
        """L_retain on a retain sub-batch: token-mean NLL, or KL(ref || model) over its positions (`kind`, by
        default the run's `retain_loss_type`)."""
        logits = logits_of(model, retain)
        if (kind or self.args.retain_loss_type) == "NLL":
            return nll_loss(logits, retain["labels"], self.normalizer("retain", "tokens"))
        ref = self.reference_logits(retain)
        if self.args.loss_normalization == "micro_batch":
            return kl_ref_to_model(logits, ref)
        return kl_ref_to_model(logits, ref, retain["attention_mask"], self.normalizer("retain", "positions"))

    # ---- loss normalisation ------------------------------------------------------------------------------------
    @property
    def loss_is_scaled_for_ga(self) -> bool:  # read by Trainer.training_step
        return self.args.loss_normalization == "effective_batch"

    def _get_num_items_in_batch(self, batch_samples: list, device: torch.device):
        """Counts over the whole optimizer step: {path: {"tokens", "seqs", "positions"}} summed and gathered."""
        self._step_batches = batch_samples  # the step's micro-batches, for SAM's ascent pass over all of them
        if self.args.loss_normalization != "effective_batch" or not batch_samples:
            return None
        rows = {path: [0, 0, 0] for path, _ in leaf_batches(batch_samples[0])}  # tokens, seqs, positions
        for batch in batch_samples:
            for path, leaf in leaf_batches(batch):
                row = rows[path]
                if "labels" in leaf:
                    row[0] += int(label_token_count(leaf["labels"]))
                row[1] += int(leaf["input_ids"].shape[0])
                row[2] += int(leaf["attention_mask"].sum())
        paths = list(rows)
        counts = torch.tensor(list(rows.values()), dtype=torch.float64, device=device)
        if self.accelerator.num_processes > 1:
            counts = self.accelerator.reduce(counts, reduction="sum")
        return {
            path: {"tokens": counts[i, 0], "seqs": counts[i, 1], "positions": counts[i, 2]}
            for i, path in enumerate(paths)
        }

    def normalizer(self, path: str, kind: str):
        """The divisor for a summed loss over sub-batch `path`: effective-batch count, or None for local mean."""
        if self._counts is None:
            return None
        return self._counts[path][kind]

    @property
    def process_scale(self) -> float:
        """Gradient all-reduce averages over processes; effective-batch losses undo that by this factor."""
        return float(self.accelerator.num_processes) if self._counts is not None else 1.0

    @property
    def backward_scale(self) -> float:
        """What the Trainer multiplies a micro-batch loss by before its backward (for steps that call backward
        themselves): the process factor, and 1/accumulation where the loss is not normalised over the step."""
        scale = self.process_scale
        if not self.loss_is_scaled_for_ga:
            scale /= self.current_gradient_accumulation_steps
        return scale

    # ---- training / evaluation ---------------------------------------------------------------------------------
    def training_step(self, model, inputs, num_items_in_batch=None):
        if getattr(self.args, "sam_rho", None):
            return sam_training_step(self, model, inputs, num_items_in_batch)
        return super().training_step(model, inputs, num_items_in_batch)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        self._counts = num_items_in_batch if isinstance(num_items_in_batch, dict) else None
        mode = "train" if model.training else "eval"
        loss, terms = self.compute_unlearning_loss(model, inputs)
        self.record_terms(terms, mode)
        loss = loss * self.process_scale
        return (loss, terms) if return_outputs else loss

    def record_terms(self, terms: dict[str, torch.Tensor], mode: str = "train") -> None:
        """Keep the detached loss terms until the next log (where they are averaged)."""
        for name, value in terms.items():
            self._metrics[mode][name].append(float(value))

    def compute_unlearning_loss(self, model, inputs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return the loss to back-propagate and the detached terms to log (per-batch means): by default the
        forget term plus the retain term."""
        forget, terms = self.forget_term(model, inputs)
        retain, retain_terms = self.retain_term(model, inputs)
        return (forget if retain is None else forget + retain), {**terms, **retain_terms}

    def forget_term(self, model, inputs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The weighted forget part of the loss and its logged terms (SAM perturbs the weights for this part only)."""
        raise NotImplementedError(f"{self._name} does not split its loss into forget and retain terms")

    def retain_term(self, model, inputs) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """The weighted retain part of the loss and its logged terms: alpha * L_retain for methods with both
        parameters (None when alpha is 0 or the method has no retain term)."""
        params = self.method_spec.params if self.method_spec is not None else {}
        if not ("alpha" in params and "retain_loss_type" in params and self.args.alpha > 0):
            return None, {}
        retain = self.retain_loss(model, inputs["retain"])
        return self.args.alpha * retain, {"retain_loss": retain_log(self, retain, inputs["retain"])}

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def _get_train_sampler(self, train_dataset=None):
        """A dataset that fixes its own order (`in_order = True`: WMDP's original RMU schedule, where step i reads
        the i-th batch) is read sequentially; any other is shuffled as the Trainer does."""
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if getattr(dataset, "in_order", False):
            return torch.utils.data.SequentialSampler(dataset)
        return super()._get_train_sampler(train_dataset)

    def _set_signature_columns_if_needed(self):
        if self._signature_columns is None:
            self._signature_columns = ["forget", "retain"]

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        mode = "train" if self.model.training else "eval"
        for name, values in self._metrics[mode].items():
            if not values:
                continue
            mean = torch.tensor(sum(values) / len(values), device=self.args.device)
            if self.accelerator.num_processes > 1:
                mean = self.accelerator.gather(mean.unsqueeze(0)).mean()
            key = name if mode == "train" else f"eval_{name}"
            logs[key] = round(float(mean), 6)
        self._metrics[mode].clear()
        super().log(logs, start_time)
