"""The probes on the untrained tiny model (mechanics, not which model wins): paraphrase and jailbreak records with
before/after and the retain control, and the logit lens, whose last layer must be the ordinary forward."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from hf_unlearn.benchmarks.base import KnowledgeMetric
from hf_unlearn.benchmarks.tofu import JAILBREAK_PREFIX, TOFU
from hf_unlearn.evaluation.evaluator import evaluate_loaded
from hf_unlearn.evaluation.settings import EvalSettings
from hf_unlearn.robustness.context import AttackContext
from hf_unlearn.robustness.logit_lens import PLOT_FILE, encode_pairs, layer_logprobs
from hf_unlearn.robustness.probes import PROBES

METRICS = ("forget_Q_A_Prob", "forget_Q_A_ROUGE", "forget_truth_ratio")


class ProbedTOFU(TOFU):
    """TOFU with the knowledge metrics these tests compare (the suite's own choice is not under test here)."""

    knowledge_metrics = tuple(KnowledgeMetric(key) for key in METRICS)


@pytest.fixture(scope="module")
def setup(tiny_dir, tmp_path_factory):
    from hf_unlearn.tiny import save_tiny

    root = tmp_path_factory.mktemp("probes")
    retain = save_tiny(root / "retain", seed=1)
    settings = EvalSettings(
        forget_split="forget01",
        data_source="bundled",
        metrics=",".join(METRICS) + ",model_utility",
        limit=4,
        max_new_tokens=8,
        device="cpu",
    )
    benchmark = ProbedTOFU()
    before = benchmark.evaluate(str(tiny_dir), root / "before", settings, progress=False, echo=False).summary
    control = benchmark.evaluate(str(retain), root / "before_retain", settings, progress=False, echo=False).summary

    def context(name: str, **options) -> AttackContext:
        return AttackContext(
            benchmark=benchmark,
            settings=settings,
            model=str(tiny_dir),
            retain_model=str(retain),
            output_dir=root / name,
            options=options,
            progress=False,
            before=before,
            control_before=control,
        )

    return context, before, control, retain, settings


def _eval_items(folder: Path, metric: str) -> dict:
    return json.loads((folder / "TOFU_EVAL.json").read_text())[metric]["value_by_index"]


def test_paraphrase_probe_records_before_and_after_on_paraphrased_questions(setup):
    context, before, control, _, settings = setup
    ctx = context("paraphrase")
    record = PROBES["paraphrase"](ctx)
    assert set(record.metrics) == set(METRICS)
    for key in METRICS:
        entry = record.metrics[key]
        assert entry["before"] == before[key] and entry["control_before"] == control[key]
        assert entry["after"] is not None and entry["control_after"] is not None
    # new questions, same answers: the probability differs from before
    assert record.metrics["forget_Q_A_Prob"]["after"] != pytest.approx(before["forget_Q_A_Prob"], rel=1e-9)
    assert record.settings["evaluation"]["question_key"] == "paraphrased_question"
    rows = ProbedTOFU().load_split("forget01_perturbed", "bundled")[: settings.limit]
    for i, item in _eval_items(ctx.output_dir, "forget_Q_A_ROUGE").items():
        assert rows[int(i)]["paraphrased_question"] in item["input"]
    assert (ctx.output_dir / "retain" / "TOFU_EVAL.json").is_file()
    assert record.to_json()["extra"]["fingerprint"]


def test_jailbreak_probe_scores_the_continuation_of_the_prefix(setup):
    context, before, _, _, _ = setup
    ctx = context("jailbreak")
    record = PROBES["jailbreak"](ctx)
    assert set(record.metrics) == {"forget_Q_A_ROUGE"}  # teacher-forced scores ignore a generation prefix
    entry = record.metrics["forget_Q_A_ROUGE"]
    assert entry["before"] == before["forget_Q_A_ROUGE"] and 0.0 <= entry["after"] <= 1.0
    assert record.settings["evaluation"]["answer_prefix"] == JAILBREAK_PREFIX
    items = _eval_items(ctx.output_dir, "forget_Q_A_ROUGE")
    assert len(items) == 4
    for item in items.values():
        assert item["input"].endswith(JAILBREAK_PREFIX)
        assert not item["generation"].startswith(JAILBREAK_PREFIX.strip())


def test_logit_lens_last_layer_is_the_ordinary_forward(setup, tiny_dir):
    import torch

    from hf_unlearn.models import load_eval_model, load_tokenizer

    _, _, _, _, settings = setup
    model = load_eval_model(tiny_dir, "float32", "cpu")
    with torch.no_grad():  # an untrained norm (weights 1) is idempotent and would hide a norm applied twice
        model.model.norm.weight.mul_(torch.linspace(0.5, 1.5, model.config.hidden_size))
    tokenizer = load_tokenizer(str(tiny_dir))
    encoded = encode_pairs(tokenizer, ProbedTOFU().answer_pairs(settings, tokenizer))
    lens = layer_logprobs(model, encoded, batch_size=3)  # 4 items: a full and a partial, padded batch
    assert lens.shape == (model.config.num_hidden_layers, 4)
    results, _ = evaluate_loaded(model, tokenizer, replace(settings, metrics="forget_Q_A_Prob"))
    items = results["forget_Q_A_Prob"]["value_by_index"]
    ordinary = torch.tensor([-items[str(i)]["avg_loss"] for i in range(4)], dtype=torch.float64)
    assert torch.allclose(lens[-1], ordinary, atol=1e-5, rtol=0)
    assert not torch.allclose(lens[0], ordinary, atol=1e-3, rtol=0)  # earlier layers are read, not the logits


def test_logit_lens_attack_reads_every_model_and_scores_erasure(setup, tiny_dir):
    context, before, _, retain, _ = setup
    ctx = context("logit_lens", full_model=str(tiny_dir), tau=0.0)
    record = PROBES["logit_lens"](ctx)
    extra = record.extra
    assert set(extra["mean_logprob"]) == {"unlearned", "retain", "full"}
    assert extra["layers"] == list(range(1, len(extra["mean_logprob"]["unlearned"]) + 1))
    assert extra["mean_prob"]["unlearned"][-1] == pytest.approx(before["forget_Q_A_Prob"], rel=1e-5)
    assert extra["mean_logprob"]["full"] == extra["mean_logprob"]["unlearned"]  # the same model read twice
    erasure = extra["erasure"]
    assert erasure["tau"] == 0.0 and all(e == 0.0 for e in erasure["erasure"])  # "unlearned" = full: nothing erased
    assert erasure["score"] in (0.0, None)
    assert record.settings["models"] == {"unlearned": str(tiny_dir), "retain": str(retain), "full": str(tiny_dir)}
    assert extra["plot"] == PLOT_FILE and (ctx.output_dir / PLOT_FILE).is_file()
