"""MUSE's metric pieces against values computed by hand on tiny inputs."""

import math

import pytest
from helpers import REPO

from hf_unlearn.evaluation import metrics as M
from hf_unlearn.evaluation.likelihood import SequenceScore
from hf_unlearn.evaluation.muse import metrics as MM
from hf_unlearn.evaluation.muse.settings import (
    MuseEvalSettings,
    MuseInputError,
    check_metrics,
    closure,
    settings_from_recipe,
)
from hf_unlearn.evaluation.muse.suite import MuseOutputs, compute_model_metrics, needs, reference_metrics


# ---- KnowMem prompt ----------------------------------------------------------------------------------------------
def test_icl_prompt_byte_for_byte():
    shots = [("Who won?", "Ann"), ("Where?", "In Oslo")]
    assert MM.icl_prompt(shots, "When?") == (
        "Question: Who won?\nAnswer: Ann\n\nQuestion: Where?\nAnswer: In Oslo\n\nQuestion: When?\nAnswer: "
    )
    assert MM.icl_prompt([], "When?") == "Question: When?\nAnswer: "


def test_knowmem_prompt_ids_start_with_bos_and_are_cut(tokenizer):
    from hf_unlearn.evaluation.muse.engine import knowmem_prompts

    rows, shots = [{"question": "When?"}], [{"question": "Who won?", "answer": "Ann"}]
    (ids,) = knowmem_prompts(tokenizer, rows, shots, 512)
    text = "Question: Who won?\nAnswer: Ann\n\nQuestion: When?\nAnswer: "
    assert ids == [tokenizer.bos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"]
    assert knowmem_prompts(tokenizer, rows, shots, 5)[0] == ids[:5]  # the first tokens kept, BOS included


def test_knowmem_prompts_are_cut_at_open_unlearnings_512_tokens():
    """open-unlearning's QADataset cuts KnowMem prompts at 512 tokens, the original MUSE code does not: the README
    states it among the differences from the original."""
    from hf_unlearn.evaluation.muse.settings import MuseEvalSettings

    assert MuseEvalSettings.__dataclass_fields__["knowmem_max_length"].default == 512


def test_zero_shot_knowmem_prompt_is_bos_and_the_bare_question(tokenizer):
    from hf_unlearn.evaluation.muse.engine import knowmem_prompts

    (ids,) = knowmem_prompts(tokenizer, [{"question": "When?"}], [], 512)
    text = "Question: " + "When?" + "\nAnswer: "
    assert ids == [tokenizer.bos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"]


def test_recipe_icl_shots_reaches_the_settings():
    from hf_unlearn.recipe import RecipeError, load_recipe

    recipe_file = REPO / "recipes/tiny/News-forget_WGA_lr0.001_beta1_alpha5_epoch12.yaml"
    assert settings_from_recipe(load_recipe(recipe_file)).icl_shots == 0
    assert settings_from_recipe(load_recipe(recipe_file, {"eval.icl_shots": None})).icl_shots is None
    with pytest.raises(RecipeError, match="eval.icl_shots"):
        load_recipe(recipe_file, {"eval.icl_shots": -1})


# ---- token counts ------------------------------------------------------------------------------------------------
def test_completion_is_cut_at_prompt_length_plus_max_length():
    assert MM.completion_tail(3, [1, 2, 3, 4, 5, 6], 2) == ([1, 2, 3], [4, 5])
    assert MM.completion_tail(3, [1, 2, 3, 4], 2048) == ([1, 2, 3], [4])


def test_document_is_bos_plus_at_most_max_length_tokens():
    assert MM.document_ids([5, 6, 7, 8], 1, 3) == [1, 5, 6, 7]
    assert MM.document_ids([5, 6, 7, 8], None, 3) == [5, 6, 7]


def test_verbmem_sequence_labels_the_continuation(tokenizer):
    from hf_unlearn.evaluation.muse.engine import verbmem_prompts, verbmem_sequences

    rows = [{"prompt": "Ann won the prize", "gt": "in Oslo last year"}]
    (prompt,) = verbmem_prompts(tokenizer, rows)
    (seq,) = verbmem_sequences(tokenizer, rows, 2048)
    full = tokenizer("Ann won the prize in Oslo last year", add_special_tokens=False)["input_ids"]
    assert prompt[0] == tokenizer.bos_token_id and seq.prompt == ([tokenizer.bos_token_id] + full)[: len(prompt)]
    assert seq.prompt + seq.tail == [tokenizer.bos_token_id] + full
    assert tokenizer.decode(seq.tail).strip() == "in Oslo last year"
    assert verbmem_sequences(tokenizer, rows, 2)[0].tail == seq.tail[:2]


# ---- text clean-up and ROUGE -------------------------------------------------------------------------------------
def test_generation_is_cut_at_eos_and_the_first_stop_word():
    stops = MM.KNOWMEM_STOP_WORDS
    assert MM.clean_generation(" Paris\n\nQuestion: next", None, stops) == "Paris"
    assert MM.clean_generation("Rome\nQuestion: x", None, stops) == "Rome"
    assert MM.clean_generation("a Question: b\n\nc", None, stops) == "a"
    assert MM.clean_generation(" abc</s>def ", "</s>", ()) == "abc"
    assert MM.clean_generation("one\n\ntwo", None, ()) == "one\n\ntwo"  # VerbMem: no stop words


def test_ground_truth_removes_the_prompt_text():
    assert MM.ground_truth("the prompt the truth ", "the prompt") == "the truth"
    assert MM.ground_truth(" the truth", "") == "the truth"


def test_rouge_variants_by_hand():
    item = MM.rouge_item("the cat sat", "the cat", "prompt")
    # rouge1 recall 2/3; rougeL: LCS 2, precision 1, recall 2/3, F1 = 2 * 1 * 2/3 / (1 + 2/3) = 0.8
    assert item["rouge1_recall"] == pytest.approx(2 / 3)
    assert item["rougeL_recall"] == pytest.approx(2 / 3)
    assert item["rougeL_f1"] == pytest.approx(0.8)
    assert (item["input"], item["ground_truth"], item["generation"]) == ("prompt", "the cat sat", "the cat")
    # stemmed: "cats running" and "cat runs" are the same words
    assert MM.rouge_item("cats running", "cat runs", "")["rougeL_f1"] == pytest.approx(1.0)


def test_muse_rouge_aggregates_rougeL_f1_not_recall():
    items = [MM.rouge_item("the cat sat", "the cat", ""), MM.rouge_item("a b", "c", "")]
    result = MM.rouge_result(items)
    assert result["agg_value"] == pytest.approx(0.4)  # (0.8 + 0) / 2, where the recall mean would be 1/3
    assert list(result["value_by_index"]) == ["0", "1"]


# ---- privleak, MIAs, memorisation --------------------------------------------------------------------------------
def _score(logprobs, matches=None):
    return SequenceScore(-sum(logprobs), len(logprobs), list(logprobs), matches or [], list(logprobs))


def test_min_k_ratio_by_hand():
    assert M.min_k_score([-1, -2, -3, -4, -5], 0.4) == pytest.approx(4.5)  # lowest int(5 * 0.4) = 2: (5 + 4) / 2
    assert M.min_k_score([-1, -3], 0.4) == pytest.approx(3.0)  # max(1, int(0.8)) = 1
    assert M.min_k_score([], 0.4) == 0.0


def test_privleak_orientation_and_formula():
    # forget documents far more likely than holdout ones (memorised): Min-K scores lower -> AUC 1
    out = MuseOutputs(
        scores={
            "privleak_forget": [_score([-0.1, -0.2]), _score([-0.2, -0.1])],
            "privleak_holdout": [_score([-3.0, -2.0]), _score([-4.0, -5.0])],
        }
    )
    names = closure(("privleak",))
    assert names == ["mia_min_k", "privleak"]
    results = compute_model_metrics(names, out, 0.4, False)
    assert results["mia_min_k"]["auc"] == 1.0 and results["mia_min_k"]["agg_value"] == 1.0
    assert results["mia_min_k"]["forget"]["value_by_index"]["0"]["score"] == pytest.approx(0.2)
    # ((1 - 1.0) - (1 - 0.5)) / (1 - 0.5) * 100 = -100: memorised
    ref = {"mia_min_k": {"agg_value": 0.5}}
    assert reference_metrics(names, results, ref)["privleak"]["agg_value"] == pytest.approx(-100.0)
    # ((1 - 0.7) - (1 - 0.6)) / (1 - 0.6) * 100 = -25
    assert M.privleak(0.7, 0.6) == pytest.approx(-25.0)
    assert M.privleak(0.6, 0.6) == pytest.approx(0.0)


def test_privleak_without_reference_is_absent_with_the_reason():
    results = {"mia_min_k": {"agg_value": 0.9}}
    entry = reference_metrics(["mia_min_k", "privleak"], results, None)["privleak"]
    assert entry["agg_value"] is None and "--retain-logs" in entry["absent_reason"]


def test_extraction_strength_and_exact_memorization_by_hand():
    out = MuseOutputs(
        scores={"verbmem": [_score([-1] * 3, [False, True, True]), _score([-1] * 3, [True, True, False])]}
    )
    es = compute_model_metrics(["extraction_strength"], out, 0.4, False)["extraction_strength"]
    assert [v["score"] for v in es["value_by_index"].values()] == pytest.approx([2 / 3, 0.0])  # k* = 1; no suffix
    assert es["agg_value"] == pytest.approx(1 / 3)
    floored = compute_model_metrics(["extraction_strength"], out, 0.4, True)["extraction_strength"]
    assert floored["value_by_index"]["1"]["score"] == pytest.approx(1 / 3)  # open-unlearning's 1/n floor
    em = compute_model_metrics(["exact_memorization"], out, 0.4, False)["exact_memorization"]
    assert em["agg_value"] == pytest.approx(2 / 3)


def test_zlib_and_loss_attacks_use_the_scored_texts():
    out = MuseOutputs(
        scores={"privleak_forget": [_score([-1.0, -1.0])], "privleak_holdout": [_score([-2.0, -4.0])]},
        texts={"privleak_forget": ["aaaa"], "privleak_holdout": ["bbbb"]},
    )
    res = compute_model_metrics(["mia_loss", "mia_zlib"], out, 0.4, False)
    assert res["mia_loss"]["holdout"]["value_by_index"]["0"]["score"] == pytest.approx(3.0)
    expected = 1.0 / len(__import__("zlib").compress(b"aaaa"))
    assert res["mia_zlib"]["forget"]["value_by_index"]["0"]["score"] == pytest.approx(expected)
    assert not math.isnan(res["mia_zlib"]["auc"])


# ---- settings ----------------------------------------------------------------------------------------------------
def test_needs_of_the_default_suite():
    need = needs(closure(MuseEvalSettings().metrics))
    assert need.generate == {"verbmem", "forget_qa", "retain_qa"}
    assert need.score == {"verbmem", "privleak_forget", "privleak_holdout"}
    assert need.datasets >= {"forget_qa_icl", "retain_qa_icl"} and not need.moments and not need.gradnorm


def test_bad_settings_are_one_line_errors_naming_the_key():
    with pytest.raises(MuseInputError, match="corpus: 'wiki' is not one of news, books"):
        MuseEvalSettings(corpus="wiki")
    with pytest.raises(MuseInputError, match="metrics: 'forget_quality' is not a MUSE metric; allowed: "):
        MuseEvalSettings(metrics="forget_quality")
    with pytest.raises(ValueError, match="'rouge' is not a MUSE metric"):
        check_metrics("privleak,rouge")
    with pytest.raises(MuseInputError, match="data_source: '/no/such' is neither 'hub' nor a folder"):
        MuseEvalSettings(data_source="/no/such")
    with pytest.raises(MuseInputError, match="min_k_ratio"):
        MuseEvalSettings(min_k_ratio=0)
    check_metrics("all")
    assert MuseEvalSettings(metrics="privleak, mia_loss").metrics == ("privleak", "mia_loss")


def test_settings_from_recipe_reads_the_corpus_with_news_as_default():
    class FakeRecipe(dict):
        pass

    keys = {"eval.metrics": "default", "eval.limit": 3, "eval.batch_size": 4, "data.source": "auto"}
    settings = settings_from_recipe(FakeRecipe(keys))
    assert (settings.corpus, settings.source, settings.limit, settings.batch_size) == ("news", "hub", 3, 4)
    assert settings_from_recipe(FakeRecipe({**keys, "data.corpus": "books"})).corpus == "books"


def test_eval_options_become_settings():
    import argparse

    from hf_unlearn.evaluation.muse.settings import add_eval_arguments, settings_from_args

    parser = argparse.ArgumentParser()
    for common in ("--tokenizer", "--dtype", "--device"):
        parser.add_argument(common)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--limit", type=int)
    add_eval_arguments(parser.add_argument_group("muse"))
    args = parser.parse_args(["--corpus", "books", "--metrics", "privleak", "--icl-shots", "3", "--dtype", "float32"])
    settings = settings_from_args(args)
    assert (settings.corpus, settings.metrics, settings.icl_shots, settings.dtype) == (
        "books",
        ("privleak",),
        3,
        "float32",
    )
    assert settings.es_one_over_n is False and settings.source == "hub"
    with pytest.raises(SystemExit):
        parser.parse_args(["--corpus", "wiki"])
