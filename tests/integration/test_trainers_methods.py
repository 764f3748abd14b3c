"""The method trainers through the real Trainer: loss wiring, split-invariant gradients, RMU's hook, PDU's dual
variable, CE-U's counts, and precomputed reference log-probs equal to the live reference."""

import math

import pytest
import torch
from helpers.trainers import first_batch, float_model, one_step_args

from hf_unlearn.data.collator import NestedPaddingCollator
from hf_unlearn.data.formatting import ChatFormatter
from hf_unlearn.data.pairing import ForgetRetainDataset
from hf_unlearn.data.tofu import load_split
from hf_unlearn.methods import METHODS
from hf_unlearn.trainers import losses
from hf_unlearn.trainers.gradients import inner, rectify

ZOO = ["NPO", "SimNPO", "IdkDPO", "IdkNLL", "RMU", "UNDIAL", "WGA", "SatImp", "CEU", "PDU", "GRU"]
#: Settings the tiny model needs (RMU: it has 4 layers) or that make a term non-trivial.
EXTRA = {
    "RMU": {"module_regex": r"model\.layers\.1"},
    "PDU": {"retain_loss_eps": 0.5, "dual_warmup_epochs": 0.0, "alpha": 2.0},
    "UNDIAL": {"alpha": 1.0},
    "GRU": {"variant": "ga_gru+ce", "alpha": 2.0},
}


@pytest.fixture(scope="module")
def rows():
    return {"forget": load_split("forget01", "bundled")[:8], "retain": load_split("retain99", "bundled")[:8]}


@pytest.fixture(scope="module")
def fmt(tokenizer):
    return ChatFormatter(tokenizer)


def _dataset(method, fmt, rows):
    spec = METHODS[method]
    if spec.dataset_builder:
        return spec.build_dataset({"seed": 0}, fmt, rows)
    return ForgetRetainDataset(fmt.encode_rows(rows["forget"]), fmt.encode_rows(rows["retain"]), seed=0)


def _trainer(method, tmp_path, fmt, rows, model, ref_path=None, **overrides):
    spec = METHODS[method]
    cls = spec.trainer_class()
    params = {k: p.default for k, p in spec.params.items()}
    params.update(EXTRA.get(method, {}))
    config = cls.config_class(**one_step_args(tmp_path, logging_steps=1, **{**params, **overrides}))
    ref = float_model(ref_path) if ref_path is not None and cls.requires_reference(config) else None
    return cls(
        model=model,
        args=config,
        ref_model=ref,
        train_dataset=_dataset(method, fmt, rows),
        data_collator=NestedPaddingCollator(fmt.pad_token_id),
    )


def _one_step_update(method, tmp_path, fmt, rows, path, micro, accumulation, ref_path=None, **overrides):
    model = float_model(path)
    trainer = _trainer(
        method,
        tmp_path / f"{method}{micro}x{accumulation}",
        fmt,
        rows,
        model,
        ref_path=ref_path or path,
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=accumulation,
        optim="sgd",
        learning_rate=1.0,
        max_grad_norm=0.0,
        **overrides,
    )
    initial = {k: v.detach().clone() for k, v in model.named_parameters()}
    trainer.train()
    return {k: initial[k] - v.detach() for k, v in model.named_parameters()}  # = the gradient (lr 1, SGD)


@pytest.mark.parametrize("method", ZOO)
def test_gradient_independent_of_micro_batching(method, tmp_path, tiny_target, fmt, rows):
    whole = _one_step_update(method, tmp_path, fmt, rows, tiny_target, 8, 1)
    split = _one_step_update(method, tmp_path, fmt, rows, tiny_target, 2, 4)
    assert max(float(g.abs().max()) for g in whole.values()) > 0
    for name in whole:
        # float32 sums in another order: tolerance relative to the tensor's scale (a normalisation bug is a factor)
        scale = float(whole[name].abs().max())
        torch.testing.assert_close(split[name], whole[name], rtol=1e-3, atol=1e-5 * scale + 1e-8)


#: (variant, alpha, micro-batch, accumulation): every variant, whole or in 4 micro-batches, and alpha 0.
GRU_CASES = [
    ("ga_gru", 1.0, 8, 1),
    ("ga_gru", 1.0, 2, 4),
    ("gd_gru", 0.2, 8, 1),
    ("ga_KL_gru", 0.5, 8, 1),
    ("ga_gru+ce", 2.0, 8, 1),
    ("ga_gru+KL", 2.0, 2, 4),
    ("gd_gru", 0.0, 8, 1),  # no retain term: still rectified, = ga_gru
]
#: variant -> (retain loss of its retain term, where the term enters), written out here from the official code
GRU_RULES = {
    "ga_gru": (None, None),
    "gd_gru": ("NLL", "inside"),
    "ga_KL_gru": ("KL", "inside"),
    "ga_gru+ce": ("NLL", "after"),
    "ga_gru+KL": ("KL", "after"),
}


@pytest.mark.parametrize(("variant", "alpha", "micro", "accumulation"), GRU_CASES)
def test_gru_two_steps_are_the_official_rule(
    variant, alpha, micro, accumulation, tmp_path, tiny_dir, tiny_target, fmt, rows
):
    """Two SGD steps (lr 0.1) of GRU on 8 items (one step an epoch), against gradients taken by autograd on each
    step's batch at the weights it starts from: m_1 = 0.8 d_1, m_2 = 0.8 d_2 + 0.2 m_1 with d = grad NLL(retain);
    g_f = grad -NLL(forget), g_r = grad alpha * L_retain (KL against the tiny target as reference); the step is
    P(g_f), P(g_f + g_r) or P(g_f) + g_r with P(g) = `rectify(g, m)`. On the untrained model ascent on the forget NLL
    conflicts with the retain gradient, so the projection is exercised."""
    lr = 0.1
    model = float_model(tiny_dir)
    trainer = _trainer(
        "GRU", tmp_path / "run", fmt, rows, model, ref_path=tiny_target, variant=variant, alpha=alpha,
        per_device_train_batch_size=micro, gradient_accumulation_steps=accumulation, optim="sgd",
        learning_rate=lr, max_grad_norm=0.0, max_steps=2,
    )  # fmt: skip
    start = {k: v.detach().clone() for k, v in model.named_parameters()}
    trainer.train()

    loss_type, place = GRU_RULES[variant]
    expected = float_model(tiny_dir)
    ref = float_model(tiny_target)
    params = [p for _, p in expected.named_parameters()]
    dataset = trainer.train_dataset
    average, conflicts = None, []
    for epoch in range(2):
        dataset.set_epoch(epoch)
        batch = first_batch(trainer, 8)
        forget = list(torch.autograd.grad(-_nll(expected, batch["forget"]), params))
        direction = list(torch.autograd.grad(_nll(expected, batch["retain"]), params))
        average = [0.8 * d + 0.2 * m for d, m in zip(direction, average or [0.0] * len(direction), strict=True)]
        term = None
        if loss_type == "NLL" and alpha:
            term = [alpha * d for d in direction]
        elif loss_type == "KL" and alpha:
            term = list(torch.autograd.grad(alpha * _kl(expected, ref, batch["retain"]), params))
        objective = [f + t for f, t in zip(forget, term, strict=True)] if place == "inside" and term else forget
        conflicts.append(float(inner(objective, average)) < 0)
        update = rectify(objective, average)
        if place == "after" and term:
            update = [u + t for u, t in zip(update, term, strict=True)]
        with torch.no_grad():
            for p, u in zip(params, update, strict=True):
                p.sub_(lr * u)
    assert all(conflicts), "both steps must exercise the projection"
    for name, p in expected.named_parameters():
        moved = (start[name] - p.detach()) / lr
        got = (start[name] - dict(model.named_parameters())[name].detach()) / lr
        torch.testing.assert_close(got, moved, rtol=1e-3, atol=1e-4 * float(moved.abs().max()) + 1e-6, msg=name)


def _kl(model, ref, batch):
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    with torch.no_grad():
        ref_logits = ref(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return losses.kl_ref_to_model(logits, ref_logits, batch["attention_mask"])


@pytest.mark.parametrize(("micro", "accumulation"), [(8, 1), (2, 4)])
def test_sam_update_is_the_forget_gradient_at_the_perturbed_point(
    micro, accumulation, tmp_path, tiny_target, fmt, rows
):
    """One SGD step (lr 1) of GradDiff with `sam_rho`, whole or in 4 micro-batches, equals
    grad F(theta + delta) + grad R(theta), delta = rho g_F / ||g_F|| from the whole batch's forget gradient.

    Single process. Under DDP/FSDP2 the same step applies delta to the parameters each process holds (all of them
    under DDP, its shards under FSDP2, with ||g_F|| completed across processes); that is not exercised here."""
    rho = 0.05
    update = _one_step_update("GradDiff", tmp_path, fmt, rows, tiny_target, micro, accumulation, sam_rho=rho)
    model = float_model(tiny_target)
    batch = first_batch(_trainer("GradDiff", tmp_path / "ref", fmt, rows, model), 8)
    params = [p for _, p in model.named_parameters()]
    retain = torch.autograd.grad(_nll(model, batch["retain"]), params)
    g_forget = torch.autograd.grad(-_nll(model, batch["forget"]), params)
    norm = float(inner(list(g_forget), list(g_forget)).sqrt())
    with torch.no_grad():
        for p, g in zip(params, g_forget, strict=True):
            p.add_(rho * g / norm)
    perturbed = torch.autograd.grad(-_nll(model, batch["forget"]), params)
    moved = max(float((a - b).abs().max()) for a, b in zip(perturbed, g_forget, strict=True))
    assert moved > 1e-4, "the perturbation must change the forget gradient"
    for (name, _), f, r in zip(model.named_parameters(), perturbed, retain, strict=True):
        want = f + r
        # + 2e-7: the update is read back as (weight before - weight after), exact only to the ulp of norm weights ~1
        atol = 1e-5 * float(want.abs().max()) + 2e-7
        torch.testing.assert_close(update[name], want, rtol=1e-3, atol=atol, msg=name)


@pytest.mark.parametrize(("micro", "accumulation"), [(8, 1), (2, 4)])
def test_npo_sam_update_is_the_npo_gradient_at_the_perturbed_point(
    micro, accumulation, tmp_path, tiny_dir, tiny_target, fmt, rows
):
    """NPO + SAM, the README's headline pairing: one SGD step (lr 1), whole or in 4 micro-batches, equals
    grad F(theta + delta) + grad R(theta), with F the NPO forget loss against the reference (the untrained tiny
    model, so the log-ratios are not zero), R = alpha * NLL(retain), delta = rho g_F / ||g_F|| from the whole batch,
    all taken by autograd here from NPO's formula: F = mean_seq (2 / beta) softplus(beta (log p(y|x) - log
    p_ref(y|x))), log-probs summed over each answer's tokens."""
    rho, beta, alpha = 0.05, 0.5, 2.0
    settings = {"sam_rho": rho, "beta": beta, "alpha": alpha}
    update = _one_step_update("NPO", tmp_path, fmt, rows, tiny_target, micro, accumulation, tiny_dir, **settings)
    model, ref = float_model(tiny_target), float_model(tiny_dir)
    batch = first_batch(_trainer("NPO", tmp_path / "ref", fmt, rows, model, ref_path=tiny_dir, **settings), 8)
    params = [p for _, p in model.named_parameters()]
    with torch.no_grad():
        ref_nll = _seq(ref, batch["forget"])[1]

    def npo_forget():
        log_ratio = -_seq(model, batch["forget"])[1] + ref_nll
        return ((2 / beta) * torch.nn.functional.softplus(beta * log_ratio)).mean()

    retain = torch.autograd.grad(alpha * _nll(model, batch["retain"]), params)
    g_forget = torch.autograd.grad(npo_forget(), params)
    norm = float(inner(list(g_forget), list(g_forget)).sqrt())
    with torch.no_grad():
        for p, g in zip(params, g_forget, strict=True):
            p.add_(rho * g / norm)
    perturbed = torch.autograd.grad(npo_forget(), params)
    moved = max(float((a - b).abs().max()) for a, b in zip(perturbed, g_forget, strict=True))
    assert moved > 1e-4, "the perturbation must change the forget gradient"
    for (name, _), f, r in zip(model.named_parameters(), perturbed, retain, strict=True):
        want = f + r
        atol = 1e-5 * float(want.abs().max()) + 2e-7  # as for GradDiff: the ulp of weights ~1
        torch.testing.assert_close(update[name], want, rtol=1e-3, atol=atol, msg=name)


def _seq(model, batch):
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return logits, losses.sequence_nll(logits, batch["labels"])[0]


def _nll(model, batch):
    logits, _ = _seq(model, batch)
    return losses.nll_loss(logits, batch["labels"])


@torch.no_grad()
def test_npo_uses_summed_log_ratio_against_the_reference(tmp_path, tiny_dir, tiny_target, fmt, rows):
    model = float_model(tiny_dir)
    trainer = _trainer("NPO", tmp_path, fmt, rows, model, ref_path=tiny_target, alpha=2.0, gamma=1.5, beta=0.5)
    batch = first_batch(trainer)
    ref = float_model(tiny_target)
    _, nll = _seq(model, batch["forget"])
    _, nll_ref = _seq(ref, batch["forget"])
    r = (-nll + nll_ref).tolist()
    forget = sum((2 / 0.5) * math.log1p(math.exp(0.5 * x)) for x in r) / len(r)
    expected = 1.5 * forget + 2.0 * float(_nll(model, batch["retain"]))
    assert float(trainer.compute_loss(model, batch)) == pytest.approx(expected, rel=1e-5)


@torch.no_grad()
def test_idkdpo_prefers_the_refusal(tmp_path, tiny_dir, tiny_target, fmt, rows):
    model = float_model(tiny_dir)
    trainer = _trainer("IdkDPO", tmp_path, fmt, rows, model, ref_path=tiny_target, alpha=0.5, beta=0.2)
    batch = first_batch(trainer)
    ref = float_model(tiny_target)
    original, alternate = batch["forget"]["original"], batch["forget"]["alternate"]
    chosen = -_seq(model, alternate)[1] + _seq(ref, alternate)[1]
    rejected = -_seq(model, original)[1] + _seq(ref, original)[1]
    margin = (chosen - rejected).tolist()
    forget = sum((2 / 0.2) * math.log1p(math.exp(-0.2 * m)) for m in margin) / len(margin)
    expected = forget + 0.5 * float(_nll(model, batch["retain"]))
    assert float(trainer.compute_loss(model, batch)) == pytest.approx(expected, rel=1e-5)


@torch.no_grad()
def test_idknll_descends_on_refusals(tmp_path, tiny_dir, fmt, rows):
    model = float_model(tiny_dir)
    trainer = _trainer("IdkNLL", tmp_path, fmt, rows, model, alpha=3.0, gamma=0.5)
    batch = first_batch(trainer)
    expected = 0.5 * float(_nll(model, batch["forget"])) + 3.0 * float(_nll(model, batch["retain"]))
    assert float(trainer.compute_loss(model, batch)) == pytest.approx(expected, rel=1e-5)


@torch.no_grad()
def test_simnpo_wga_satimp_undial_wiring(tmp_path, tiny_dir, tiny_target, fmt, rows):
    model, ref = float_model(tiny_dir), float_model(tiny_target)
    for method, forget_fn in [
        ("SimNPO", lambda lg, b: losses.simnpo_loss(*losses.sequence_nll(lg, b["labels"]), 4.5, 0.0)),
        ("WGA", lambda lg, b: losses.weighted_forget_loss(lg, b["labels"], 1.0)),
        ("SatImp", lambda lg, b: losses.weighted_forget_loss(lg, b["labels"], 5.0, 1.0)),
        ("UNDIAL", lambda lg, b: losses.undial_loss(lg, _seq(ref, b)[0], b["labels"], 10.0)),
    ]:
        trainer = _trainer(method, tmp_path / method, fmt, rows, model, ref_path=tiny_target)
        batch = first_batch(trainer)
        logits, _ = _seq(model, batch["forget"])
        spec = {k: p.default for k, p in METHODS[method].params.items()} | EXTRA.get(method, {})
        expected = spec["gamma"] * float(forget_fn(logits, batch["forget"]))
        expected += spec["alpha"] * float(_nll(model, batch["retain"]))
        assert float(trainer.compute_loss(model, batch)) == pytest.approx(expected, rel=1e-5), method


@torch.no_grad()
def test_rmu_hook_reads_the_named_layer_and_steers_to_the_control_vector(tmp_path, tiny_dir, fmt, rows):
    model = float_model(tiny_dir)
    trainer = _trainer("RMU", tmp_path, fmt, rows, model, ref_path=tiny_dir, steering_coeff=3.0)
    batch = first_batch(trainer)
    forget = batch["forget"]
    hidden = trainer.hidden(model, forget)
    states = model(
        input_ids=forget["input_ids"], attention_mask=forget["attention_mask"], output_hidden_states=True
    ).hidden_states
    torch.testing.assert_close(hidden, states[2])  # output of decoder layer 1 (states[0] = embeddings)
    control = trainer.control_vector(hidden)
    assert float(control.norm()) == pytest.approx(3.0, rel=1e-5)
    expected = losses.masked_activation_loss(
        states[2], losses.rmu_control_vector(hidden.shape[-1], 3.0, 0), forget["labels"]
    )
    # reference == starting model, so the retain (activation difference) term is 0
    assert float(trainer.compute_loss(model, batch)) == pytest.approx(float(expected), rel=1e-5)


@torch.no_grad()
def test_rmu_original_loss_per_topic_over_every_position(tmp_path, tiny_dir, tiny_target, fmt, rows):
    """activation_positions: all and forget rows carrying a topic: the original RMU code's loss, F.mse_loss of the
    steered activations against their topic's control vector plus alpha * F.mse_loss of the retain activations
    against the frozen model's, every position of the padded batch counted."""
    model = float_model(tiny_dir)
    trainer = _trainer(
        "RMU", tmp_path, fmt, rows, model, ref_path=tiny_target, steering_coeff=3.0, alpha=7.0,
        activation_positions="all",
    )  # fmt: skip
    batch = first_batch(trainer)
    forget, retain = batch["forget"], batch["retain"]
    assert (forget["labels"] == -100).any()  # padding and prompts, which the default mask leaves out
    forget["topic"] = torch.arange(forget["input_ids"].shape[0]) % 2

    def layer(m, b):
        return m(
            input_ids=b["input_ids"], attention_mask=b["attention_mask"], output_hidden_states=True
        ).hidden_states[2]

    dim = model.config.hidden_size
    control = torch.cat([losses.rmu_control_vector(dim, 3.0, 0, int(t)) for t in forget["topic"]])
    assert not torch.equal(control[0], control[1])
    expected = torch.nn.functional.mse_loss(layer(model, forget), control.expand(-1, forget["input_ids"].shape[1], -1))
    expected += 7.0 * torch.nn.functional.mse_loss(layer(model, retain), layer(trainer.ref_model, retain))
    assert float(trainer.compute_loss(model, batch)) == pytest.approx(float(expected), rel=1e-5)


def test_rmu_trains_only_matching_parameters(tmp_path, tiny_dir, fmt, rows):
    model = float_model(tiny_dir)
    regex = r"model\.layers\.[01]\.mlp\.down_proj\.weight"
    _trainer("RMU", tmp_path, fmt, rows, model, ref_path=tiny_dir, trainable_params_regex=regex)
    trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
    assert trainable == ["model.layers.0.mlp.down_proj.weight", "model.layers.1.mlp.down_proj.weight"]


def test_rmu_rejects_a_module_regex_matching_nothing(tmp_path, tiny_dir, fmt, rows):
    with pytest.raises(ValueError, match=r"module_regex: 'model\\.layers\\.7' matches no module.*model.layers.0"):
        _trainer(
            "RMU", tmp_path, fmt, rows, float_model(tiny_dir), ref_path=tiny_dir, module_regex=r"model\.layers\.7"
        )


@torch.no_grad()
def test_ceu_counts_tokens_after_masking(tmp_path, tiny_dir, fmt, rows):
    model = float_model(tiny_dir)
    trainer = _trainer("CEU", tmp_path, fmt, rows, model)
    batch = first_batch(trainer)
    counts = trainer._get_num_items_in_batch([batch], torch.device("cpu"))
    masked = losses.mask_first_answer_tokens(batch["forget"]["labels"], 1)
    assert int(counts["forget"]["tokens"]) == int(losses.label_token_count(masked))
    assert int(counts["forget"]["tokens"]) == int(losses.label_token_count(batch["forget"]["labels"])) - 4
    trainer._counts = counts
    logits, _ = _seq(model, batch["forget"])
    expected = losses.ceu_loss(logits, masked)
    assert float(trainer.compute_unlearning_loss(model, batch)[0]) == pytest.approx(float(expected), rel=1e-6)


def _dual_calls(monkeypatch, tmp_path, tiny_dir, fmt, rows, **kw):
    from hf_unlearn.trainers import pdu

    calls = []
    real = pdu.pdu_dual_update

    def spy(preference, retain_loss, eps, step):
        calls.append(retain_loss)
        return real(preference, retain_loss, eps, step)

    monkeypatch.setattr(pdu, "pdu_dual_update", spy)
    trainer = _trainer("PDU", tmp_path, fmt, rows, float_model(tiny_dir), **kw)
    trainer.train()
    return trainer, calls


def test_pdu_dual_update_once_per_optimizer_step(monkeypatch, tmp_path, tiny_dir, fmt, rows):
    # 8 forget rows, effective batch 4 (2 x 2 accumulation): 2 steps per epoch, 4 steps, 1 warm-up epoch
    trainer, calls = _dual_calls(
        monkeypatch,
        tmp_path,
        tiny_dir,
        fmt,
        rows,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        max_steps=4,
        dual_warmup_epochs=1.0,
        dual_step_size=0.5,
        retain_loss_eps=0.0,
    )
    assert len(calls) == 2  # steps 3 and 4 only: not per micro-batch, not during warm-up
    assert all(math.isfinite(c) and c > 0 for c in calls)
    assert trainer.retain_preference == pytest.approx(2.0 + 0.5 * sum(calls), rel=1e-6)
    logged = [h["retain_preference"] for h in trainer.state.log_history if "retain_preference" in h]
    assert logged[:3] == [2.0, 2.0, 2.0] and logged[3] > 2.0


def test_pdu_epoch_updates_use_one_pass_of_retain_loss(monkeypatch, tmp_path, tiny_dir, fmt, rows):
    trainer, calls = _dual_calls(
        monkeypatch,
        tmp_path,
        tiny_dir,
        fmt,
        rows,
        per_device_train_batch_size=4,
        max_steps=4,
        dual_update_upon="epoch",
        dual_warmup_epochs=0.0,
    )
    assert len(calls) == 2  # 2 epochs of 2 steps
    assert trainer.model.training  # the no-grad pass restores train mode


@pytest.mark.parametrize("method", ["NPO", "IdkDPO"])
def test_precomputed_reference_gives_the_live_loss(method, tmp_path, tiny_dir, tiny_target, fmt, rows):
    model = float_model(tiny_dir)
    trainer = _trainer(method, tmp_path, fmt, rows, model, ref_path=tiny_target, precompute_ref_log_probs=True)
    batch = first_batch(trainer, 6)
    assert "index" in batch["forget"] or "index" in batch["forget"]["original"]
    with torch.no_grad():
        live = trainer.compute_loss(model, batch)
    ref = trainer.ref_model
    trainer.precompute_reference()
    assert trainer.ref_model is None
    assert all(p.is_meta for p in ref.parameters())  # memory released even though `ref` is still referenced
    assert not any(m is ref for m in trainer.accelerator._models)
    with torch.no_grad():
        cached = trainer.compute_loss(model, batch)
    assert float(cached) == pytest.approx(float(live), rel=1e-6)
    assert float(live) != pytest.approx(
        float(_trainer(method, tmp_path, fmt, rows, model, ref_path=tiny_dir).compute_loss(model, batch).detach())
    )


def test_precompute_needs_sequence_log_probs_only(tmp_path, tiny_dir, fmt, rows):
    for method, kw in [("UNDIAL", {}), ("RMU", {}), ("NPO", {"retain_loss_type": "KL"})]:
        with pytest.raises(ValueError, match="precompute_ref_log_probs: .* full token distributions"):
            _trainer(
                method,
                tmp_path,
                fmt,
                rows,
                float_model(tiny_dir),
                ref_path=tiny_dir,
                precompute_ref_log_probs=True,
                **kw,
            )


def test_rmu_layer_name_is_the_same_under_lora(tiny_dir):
    from peft import LoraConfig, get_peft_model

    from hf_unlearn.trainers.method_utils import find_module

    model = float_model(tiny_dir)
    layer = model.model.layers[1]
    wrapped = get_peft_model(model, LoraConfig(r=2, target_modules="all-linear", task_type="CAUSAL_LM"))
    assert find_module(wrapped, r"model\.layers\.1") is layer
