"""GradDiff through the real Trainer: the loss formula, its direction, and split-invariant gradients."""

import math

import pytest
import torch
from helpers.trainers import first_batch, float_model, one_step_args

from hf_unlearn.data.collator import NestedPaddingCollator
from hf_unlearn.data.formatting import ChatFormatter
from hf_unlearn.data.pairing import ForgetRetainDataset
from hf_unlearn.data.tofu import load_split
from hf_unlearn.trainers.config import GradDiffConfig
from hf_unlearn.trainers.graddiff import GradAscentTrainer, GradDiffTrainer


@pytest.fixture(scope="module")
def setting(tiny_dir, tokenizer):
    fmt = ChatFormatter(tokenizer)
    forget = fmt.encode_rows(load_split("forget01", "bundled")[:8])
    retain = fmt.encode_rows(load_split("retain99", "bundled")[:8])
    return fmt, forget, retain


def _trainer(tmp_path, model, fmt, forget, retain, cls=GradDiffTrainer, ref_model=None, **kw):
    return cls(
        model=model,
        args=GradDiffConfig(**one_step_args(tmp_path, **{"alpha": 2.0, "gamma": 1.5, **kw})),
        ref_model=ref_model,
        train_dataset=ForgetRetainDataset(forget, retain, seed=0),
        data_collator=NestedPaddingCollator(fmt.pad_token_id),
    )


def _nll_by_hand(model, batch):
    """Token-level mean NLL by explicit loops over positions."""
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logp = torch.log_softmax(logits.double(), -1)
    total, count = 0.0, 0
    for b in range(batch["input_ids"].shape[0]):
        for t in range(1, batch["input_ids"].shape[1]):
            label = int(batch["labels"][b, t])
            if label != -100:
                total -= float(logp[b, t - 1, label])
                count += 1
    return total / count


def test_loss_equals_formula_nll(tmp_path, tiny_dir, setting):
    model = float_model(tiny_dir)
    trainer = _trainer(tmp_path, model, *setting)
    batch = first_batch(trainer)
    with torch.no_grad():
        loss = trainer.compute_loss(model, batch)
    expected = -1.5 * _nll_by_hand(model, batch["forget"]) + 2.0 * _nll_by_hand(model, batch["retain"])
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_loss_equals_formula_kl(tmp_path, tiny_dir, tiny_target, setting):
    model, ref = float_model(tiny_dir), float_model(tiny_target)
    trainer = _trainer(tmp_path, model, *setting, ref_model=ref, retain_loss_type="KL")
    batch = first_batch(trainer)
    with torch.no_grad():
        loss = trainer.compute_loss(model, batch)
        retain = batch["retain"]
        lp = torch.log_softmax(
            model(input_ids=retain["input_ids"], attention_mask=retain["attention_mask"]).logits.double(), -1
        )
        lq = torch.log_softmax(
            ref(input_ids=retain["input_ids"], attention_mask=retain["attention_mask"]).logits.double(), -1
        )
    kl, n = 0.0, 0
    for b in range(lp.shape[0]):
        for t in range(lp.shape[1]):
            if retain["attention_mask"][b, t]:
                kl += float((lq[b, t].exp() * (lq[b, t] - lp[b, t])).sum())
                n += 1
    expected = -1.5 * _nll_by_hand(model, batch["forget"]) + 2.0 * kl / n
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_kl_needs_a_reference(tmp_path, tiny_dir, setting):
    with pytest.raises(ValueError, match="needs a reference model"):
        _trainer(tmp_path, float_model(tiny_dir), *setting, retain_loss_type="KL")


def test_gradascent_is_negative_forget_nll(tmp_path, tiny_dir, setting):
    model = float_model(tiny_dir)
    trainer = _trainer(tmp_path, model, *setting, cls=GradAscentTrainer)
    batch = first_batch(trainer)
    with torch.no_grad():
        assert float(trainer.compute_loss(model, batch)) == pytest.approx(
            -_nll_by_hand(model, batch["forget"]), rel=1e-5
        )


def test_one_step_raises_forget_nll(tmp_path, tiny_target, setting):
    model = float_model(tiny_target)
    trainer = _trainer(tmp_path, model, *setting)
    batch = first_batch(trainer, 8)
    before = _nll_by_hand(model, batch["forget"])
    trainer.train()
    after = _nll_by_hand(model, batch["forget"])
    assert after > before
    logged = trainer.state.log_history[0]
    assert "forget_nll" in logged and "retain_loss" in logged
    assert math.isfinite(logged["forget_nll"])


def _one_step_params(tmp_path, tiny_dir, setting, micro, accumulation, normalization):
    model = float_model(tiny_dir)
    trainer = _trainer(
        tmp_path / f"{micro}x{accumulation}{normalization}",
        model,
        *setting,
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=accumulation,
        optim="sgd",
        learning_rate=1.0,
        max_grad_norm=0.0,
        loss_normalization=normalization,
    )
    initial = {k: v.detach().clone() for k, v in model.named_parameters()}
    trainer.train()
    return {k: initial[k] - v.detach() for k, v in model.named_parameters()}  # = lr * gradient


def test_gradient_independent_of_micro_batching(tmp_path, tiny_dir, setting):
    whole = _one_step_params(tmp_path, tiny_dir, setting, 8, 1, "effective_batch")
    split = _one_step_params(tmp_path, tiny_dir, setting, 4, 2, "effective_batch")
    for name in whole:
        torch.testing.assert_close(split[name], whole[name], rtol=1e-4, atol=1e-7, msg=name)


def test_micro_batch_mean_compat_depends_on_split(tmp_path, tiny_dir, setting):
    """open-unlearning's per-micro-batch mean (the compatibility option) does change with the split."""
    whole = _one_step_params(tmp_path, tiny_dir, setting, 8, 1, "micro_batch")
    split = _one_step_params(tmp_path, tiny_dir, setting, 4, 2, "micro_batch")
    largest = max(float((split[k] - whole[k]).abs().max()) for k in whole)
    assert largest > 1e-5


def test_logged_terms_are_means_whatever_the_accumulation(tmp_path, tiny_dir, setting):
    """The logged forget NLL is the batch mean, not the per-micro-batch share of the effective-batch sum."""

    def logged(micro, accumulation):
        model = float_model(tiny_dir)
        trainer = _trainer(
            tmp_path / f"log{micro}x{accumulation}",
            model,
            *setting,
            per_device_train_batch_size=micro,
            gradient_accumulation_steps=accumulation,
            learning_rate=1e-12,
            logging_steps=1,
        )
        batch = first_batch(trainer, 8)
        expected = _nll_by_hand(model, batch["forget"])
        trainer.train()
        return trainer.state.log_history[0]["forget_nll"], expected

    for micro, accumulation in ((8, 1), (2, 4)):
        value, expected = logged(micro, accumulation)
        assert value == pytest.approx(expected, rel=0.05), (micro, accumulation)
