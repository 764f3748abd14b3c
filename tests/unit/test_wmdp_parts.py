"""WMDP's pure parts: corpus parsing and chunking, where each corpus comes from (the gated one included), the
harness summary, the recipes and the eval settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hf_unlearn.benchmarks import get_benchmark
from hf_unlearn.data import corpora
from hf_unlearn.errors import UserError
from hf_unlearn.evaluation.harness import SIMPLE_EVALUATE_ARGS, summarize
from hf_unlearn.recipe import Recipe, load_recipe

REPO = Path(__file__).resolve().parents[2]
WMDP = get_benchmark("wmdp")


def test_chunking_concatenates_documents_with_a_separator():
    windows = corpora.chunk_documents([[1, 2, 3], [4, 5], [6]], max_length=3, separator=0)
    # stream: 1 2 3 0 4 5 0 6
    assert [w["input_ids"] for w in windows] == [[1, 2, 3], [0, 4, 5], [0, 6]]
    assert all(w["labels"] == w["input_ids"] for w in windows)


def test_chunking_leaves_no_empty_window():
    windows = corpora.chunk_documents([[1, 2], [3]], max_length=2, separator=None)
    assert [w["input_ids"] for w in windows] == [[1, 2], [3]]
    assert corpora.chunk_documents([], max_length=4, separator=0) == []


def test_lines_are_json_text_or_plain():
    lines = ['{"text": "a paper"}', "plain line", "", "   ", "42", '{"other": 1}']
    assert corpora.parse_lines(lines) == ["a paper", "plain line", "42", '{"other": 1}']


def test_gated_bio_corpus_says_how_to_get_it(monkeypatch):
    """ "Gated" only when the Hub says so: its refusal (as `datasets` relays it, or its GatedRepoError in the
    chain); a network error is reported as one, offline mode as offline mode."""
    import datasets
    from datasets.exceptions import DatasetNotFoundError
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    failures = {
        "gated": DatasetNotFoundError(f"Dataset '{corpora.GATED_BIO_REPO}' is a gated dataset on the Hub."),
        "network": ConnectionError("Couldn't reach 'cais/wmdp-bio-forget-corpus' on the Hub (ConnectTimeout)"),
    }

    def refuse(*args, **kwargs):
        raise failures[kind]

    monkeypatch.setattr(datasets, "load_dataset", refuse)
    messages = {}
    for kind in failures:
        with pytest.raises(corpora.CorpusError) as err:
            WMDP.load_split("bio", "auto")
        messages[kind] = str(err.value)
    assert all("\n" not in m and corpora.GATED_BIO_REPO in m and "data.forget_file" in m for m in messages.values())
    assert "is gated on the Hub" in messages["gated"] and "request access" in messages["gated"]
    assert "gated" not in messages["network"] and "ConnectTimeout" in messages["network"]
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(corpora.CorpusError, match="offline mode is on.*data.forget_file") as err:
        WMDP.load_split("bio", "auto")
    assert "gated" not in str(err.value)


def test_hub_refusal_reads_the_exception_chain():
    from huggingface_hub.errors import OfflineModeIsEnabled

    from hf_unlearn.errors import hub_refusal

    class GatedRepoError(Exception):  # matched by name: huggingface_hub's, raised under datasets' own error
        pass

    try:
        try:
            raise GatedRepoError("403")
        except GatedRepoError as inner:
            raise FileNotFoundError("Dataset 'x' cannot be accessed") from inner
    except FileNotFoundError as outer:
        assert hub_refusal(outer) == "gated"
    assert hub_refusal(ConnectionError("Couldn't reach 'cais/wmdp' on the Hub (OfflineModeIsEnabled)")) == "offline"
    assert hub_refusal(OfflineModeIsEnabled("offline")) == "offline"
    assert hub_refusal(ConnectionError("Couldn't reach 'cais/wmdp' on the Hub (ConnectError)")) is None


def test_training_on_the_gated_corpus_stops_in_one_line(capsys, monkeypatch, tmp_path, tiny_dir):
    from huggingface_hub import constants

    from hf_unlearn.cli import main

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    recipe = REPO / "recipes/wmdp/bio-cyber_RMU_lr5e-05_s6.5_alpha1200_epoch1.yaml"
    code = main(["train", str(recipe), "--model", str(tiny_dir), "--output_dir", str(tmp_path / "run")])
    (err,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2
    assert "offline mode is on" in err and "data.forget_file" in err and "access" in err and "gated" not in err


def test_hub_corpora_are_the_specified_ones(monkeypatch):
    import datasets
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    asked = []

    def fake(repo, config, split):
        asked.append((repo, config, split))
        return {"text": ["doc", ""]}

    monkeypatch.setattr(datasets, "load_dataset", fake)
    assert WMDP.load_split("cyber") == [{"text": "doc"}]
    WMDP.load_split("cyber-retain")
    WMDP.load_split("bio-retain")
    WMDP.load_split("wikitext")
    assert asked == [
        ("cais/wmdp-corpora", "cyber-forget-corpus", "train"),
        ("cais/wmdp-corpora", "cyber-retain-corpus", "train"),
        ("cais/wmdp-corpora", "bio-retain-corpus", "train"),
        ("Salesforce/wikitext", "wikitext-2-raw-v1", "test"),
    ]


def test_forget_file_replaces_the_bio_corpus(tmp_path):
    (tmp_path / "cyber-forget-corpus.jsonl").write_text('{"text": "cyber doc"}\n')
    own = tmp_path / "mine.jsonl"
    own.write_text('{"text": "bio doc"}\n')
    rows = WMDP.load_split("bio-cyber", str(tmp_path), forget_file=str(own))
    assert rows == [{"text": "bio doc"}, {"text": "cyber doc"}]
    with pytest.raises(corpora.CorpusError, match="no bio-forget-corpus.jsonl: request access"):
        WMDP.load_split("bio", str(tmp_path))
    with pytest.raises(corpora.CorpusError, match="data.forget_file: no such file"):
        WMDP.load_split("bio", str(tmp_path), forget_file=str(tmp_path / "absent.jsonl"))


def test_summary_reads_groups_and_tasks_like_open_unlearning():
    results = {
        "results": {
            "wmdp_cyber": {"alias": "wmdp_cyber", "acc,none": 0.3, "acc_stderr,none": 0.01},
            "mmlu_anatomy": {"acc,none": 0.9},
        },
        "groups": {"mmlu": {"alias": "mmlu", "acc,none": 0.55, "acc_stderr,none": "N/A"}},
    }
    assert summarize(results, ["wmdp_cyber", "mmlu"]) == {
        "wmdp_cyber/acc": 0.3,
        "wmdp_cyber/acc_stderr": 0.01,
        "mmlu/acc": 0.55,
    }


def test_summary_adds_the_mmlu_subjects_the_paper_reports():
    from hf_unlearn.benchmarks.wmdp import MMLU_SUBJECTS

    results = {
        "results": {
            "wmdp_bio": {"acc,none": 0.3},
            "mmlu_college_biology": {"alias": " - college_biology", "acc,none": 0.61, "acc_stderr,none": 0.04},
            "mmlu_virology": {"acc,none": 0.45},
            "mmlu_computer_security": {"acc,none": 0.7},
            "mmlu_anatomy": {"acc,none": 0.9},
        },
        "groups": {"mmlu": {"acc,none": 0.55}},
    }
    summary = summarize(results, ["wmdp_bio", "mmlu"], MMLU_SUBJECTS)
    assert summary == {
        "wmdp_bio/acc": 0.3,
        "mmlu/acc": 0.55,
        "mmlu_college_biology/acc": 0.61,
        "mmlu_college_biology/acc_stderr": 0.04,
        "mmlu_virology/acc": 0.45,
        "mmlu_computer_security/acc": 0.7,
    }  # college computer science absent from these results: left out; anatomy is not one of the four
    assert set(MMLU_SUBJECTS) == {
        "mmlu_college_biology", "mmlu_virology", "mmlu_college_computer_science", "mmlu_computer_security"
    }  # fmt: skip


def test_add_bos_token_defaults_to_the_references_rule():
    """lm-eval 0.4.2 and 0.4.8 scored causal LMs without BOS and forced it on for Gemma; a setting overrides."""
    import argparse

    from hf_unlearn.benchmarks.wmdp import WMDPSettings
    from hf_unlearn.evaluation.harness import reference_add_bos_token

    assert [reference_add_bos_token(t) for t in ("mistral", "llama", None, "gemma", "gemma2")] == [
        False, False, False, True, True
    ]  # fmt: skip
    assert WMDPSettings().resolved_add_bos_token("mistral") is False
    assert WMDPSettings(add_bos_token=True).resolved_add_bos_token("mistral") is True
    assert WMDPSettings(add_bos_token=False).resolved_add_bos_token("gemma") is False
    recipe = Recipe.from_dict({"benchmark": "wmdp", "model": "tiny", "method": "RMU", "eval": {"add_bos_token": True}})
    assert WMDP.eval_settings(recipe).add_bos_token is True
    assert WMDP.eval_settings(Recipe.from_dict({"benchmark": "wmdp", "model": "tiny"})).add_bos_token is None
    parser = argparse.ArgumentParser()
    WMDP.add_eval_arguments(parser)
    for flag, value in (([], None), (["--add-bos-token", "true"], True), (["--add-bos-token", "false"], False)):
        args = parser.parse_args(flag)
        args.limit, args.batch_size, args.dtype, args.device, args.tokenizer = None, 4, "auto", None, None
        assert WMDP.eval_settings_from_args(args).add_bos_token is value


def test_a_task_dataset_that_cannot_be_had_is_one_line():
    from datasets.exceptions import DatasetNotFoundError

    from hf_unlearn.evaluation.harness import dataset_message

    offline = dataset_message(
        "wmdp_bio", ConnectionError("Couldn't reach 'cais/wmdp' on the Hub (OfflineModeIsEnabled)")
    )
    assert offline.startswith("eval.tasks: lm-eval task wmdp_bio needs the dataset cais/wmdp")
    assert "offline mode is on" in offline and "HF_HUB_OFFLINE" in offline
    gated = dataset_message("x", DatasetNotFoundError("Dataset 'org/x' is a gated dataset on the Hub."))
    assert "dataset org/x" in gated and "gated" in gated and "request access" in gated
    other = dataset_message("x", ConnectionError("Couldn't reach 'org/x' on the Hub (ConnectError)"))
    assert "gated" not in other and "offline" not in other and "ConnectError" in other


def test_harness_settings_are_open_unlearnings():
    assert SIMPLE_EVALUATE_ARGS["system_instruction"] is None
    assert SIMPLE_EVALUATE_ARGS["apply_chat_template"] is False


@pytest.mark.parametrize("path", sorted((REPO / "recipes" / "wmdp").glob("*.yaml")), ids=lambda p: p.stem)
def test_recipes_load_with_their_settings(path):
    recipe = load_recipe(path)
    assert recipe.run_name == path.stem
    assert recipe["model"] == "HuggingFaceH4/zephyr-7b-beta" and recipe["method"] == "RMU"
    assert recipe["module_regex"] == r"model\.layers\.7"
    assert recipe["trainable_params_regex"] == r"model\.layers\.(5|6|7)\.mlp\.down_proj\.weight"
    assert recipe["learning_rate"] == 5e-5 and recipe["data.max_length"] == 512
    settings = WMDP.eval_settings(recipe)
    assert settings.tasks == ("wmdp_bio", "wmdp_cyber", "mmlu")


def test_open_unlearning_and_paper_recipes_differ_as_specified():
    ou = load_recipe(REPO / "recipes/wmdp/cyber_RMU_lr5e-05_s2_alpha1_epoch1.yaml")
    paper = load_recipe(REPO / "recipes/wmdp/bio-cyber_RMU_lr5e-05_s6.5_alpha1200_epoch1.yaml")
    assert (ou["retain_split"], ou["steering_coeff"], ou["alpha"], ou["max_steps"]) == ("cyber-retain", 2, 1, 80)
    assert ou["effective_batch_size"] == 16 and ou["per_device_train_batch_size"] == 1
    assert (paper["retain_split"], paper["steering_coeff"], paper["alpha"], paper["max_steps"]) == (
        "wikitext",
        6.5,
        1200,
        150,
    )
    assert paper["effective_batch_size"] == 4 and paper["seed"] == 42
    # data and precision as each reference has them
    assert (paper["data.schedule"], paper["activation_positions"]) == ("documents", "all")
    assert (ou["data.schedule"], ou["activation_positions"]) == ("windows", "tokens")
    assert (paper["model_dtype"], paper["bf16"]) == ("bfloat16", False)  # the original: bf16 weights, no autocast
    assert (ou["model_dtype"], ou["bf16"]) == ("bfloat16", True)  # open-unlearning: bf16 weights and autocast


def test_recipe_rejects_tofu_splits_and_metrics():
    base = {"benchmark": "wmdp", "model": "tiny", "method": "RMU"}
    assert Recipe.from_dict(base)["forget_split"] == "cyber"
    with pytest.raises(ValueError, match="forget_split"):
        Recipe.from_dict({**base, "forget_split": "forget10"})
    with pytest.raises(ValueError, match="eval.tasks"):
        Recipe.from_dict({**base, "eval": {"metrics": "forget_quality"}})


def test_card_extras_report_before_after_and_mmlu_drop():
    recipe = Recipe.from_dict({"benchmark": "wmdp", "model": "tiny", "method": "RMU"})
    after = {"wmdp_cyber/acc": 0.27, "mmlu/acc": 0.55, "mmlu/acc_stderr": 0.01}
    before = {"wmdp_cyber/acc": 0.44, "mmlu/acc": 0.58}
    meta = {"settings": {"dtype": "bfloat16", "add_bos_token": False}}
    extras = WMDP.card_extras(after, before, recipe, meta)
    assert extras["scoring_text"] == "both models with bfloat16 weights, no BOS before the prompts"
    assert extras["chance"] == "25%"
    assert extras["accuracy_rows"] == [
        {"task": "wmdp_cyber", "after": "27.0%", "before": "44.0%"},
        {"task": "mmlu", "after": "55.0%", "before": "58.0%"},
    ]
    assert extras["mmlu_drop"] == "3.0 points"
    assert json.dumps(extras)


@pytest.mark.parametrize("method", ["GradDiff", "NPO", "SimNPO", "RMU"])
def test_raw_text_methods_get_chunked_forget_retain_pairs(method, tokenizer, tmp_path):
    (tmp_path / "cyber-forget-corpus.jsonl").write_text('{"text": "exploit the buffer overflow"}\nshellcode here\n')
    (tmp_path / "cyber-retain-corpus.jsonl").write_text("a sorting algorithm in C\n")
    recipe = Recipe.from_dict(
        {"benchmark": "wmdp", "model": "tiny", "method": method, "data": {"source": str(tmp_path), "max_length": 4}}
    )
    data = WMDP.train_data(recipe, tokenizer)
    assert [r["text"] for r in data.rows["forget"]] == ["exploit the buffer overflow", "shellcode here"]
    item = data.dataset[0]
    ids, labels = item["forget"]["input_ids"], item["forget"]["labels"]
    assert len(ids) == 5 and ids[0] == tokenizer.bos_token_id  # BOS + 4 tokens, as open-unlearning's windows
    assert labels == [-100] + ids[1:]
    batch = data.collator([data.dataset[i] for i in range(len(data.dataset))])
    assert batch["forget"]["input_ids"].shape[1] == 5 and (batch["retain"]["labels"] != -100).any()


def test_question_answer_methods_are_refused(tokenizer, tmp_path):
    recipe = Recipe.from_dict(
        {"benchmark": "wmdp", "model": "tiny", "method": "IdkDPO", "data": {"source": str(tmp_path)}}
    )
    with pytest.raises(UserError, match="method: IdkDPO trains on question-answer rows"):
        WMDP.train_data(recipe, tokenizer)


# ---- how the corpora are read (data.schedule) --------------------------------------------------------------------
class CountingTokenizer:
    """The tokenizer, recording every text it is asked to tokenise."""

    def __init__(self, tokenizer) -> None:
        self.__dict__["_tok"], self.__dict__["texts"] = tokenizer, []

    def __call__(self, text, **kwargs):
        self.texts.extend([text] if isinstance(text, str) else text)
        return self._tok(text, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tok, name)

    def __setattr__(self, name, value):
        setattr(self._tok, name, value)


def test_step_plan_alternates_topics_and_counts_batches_per_topic():
    from hf_unlearn.data.schedules import schedule_steps, step_plan

    assert step_plan(5, 2) == [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2)]
    assert step_plan(3, 1) == [(0, 0), (0, 1), (0, 2)]
    plan = step_plan(150, 2)
    assert [k for k, _ in plan] == [i % 2 for i in range(150)]
    assert [b for k, b in plan if k == 1] == list(range(75))  # 75 batches per topic
    # the original's num_batches = min(max_num_batches, fewest batches of any forget or retain corpus)
    assert schedule_steps([6000, 250, 722], 150) == 150
    assert schedule_steps([6000, 40, 722], 150) == 40
    assert schedule_steps([6000, 40, 722], -1) == 40


def _corpus_folder(folder: Path, n: int = 600, long_every: int = 50) -> Path:
    """bio/cyber forget and wikitext files of `n` numbered documents; every `long_every`-th is longer than 768
    tokens, so truncation shows."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("bio-forget-corpus", "cyber-forget-corpus", "wikitext"):
        docs = [f"{name} document {i} " + ("filler text " * 600 if i % long_every == 0 else "") for i in range(n)]
        (folder / f"{name}.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    return folder


def test_paper_recipe_reads_the_original_rmu_schedule(tmp_path, tokenizer, tiny_dir):
    """Step i: topic i mod 2, that topic's batch i // 2 of 4 documents in file order, retain batch i // 2; each
    document with BOS and cut at 512 tokens (bio), 768 (cyber), 512 (retain); only those documents tokenised."""
    from hf_unlearn.data.schedules import DocumentSchedule

    folder = _corpus_folder(tmp_path / "corpora")
    recipe = load_recipe(
        REPO / "recipes/wmdp/bio-cyber_RMU_lr5e-05_s6.5_alpha1200_epoch1.yaml",
        {"data.source": str(folder), "model": str(tiny_dir)},
    )
    counting = CountingTokenizer(tokenizer)
    data = WMDP.train_data(recipe, counting)
    assert isinstance(data.dataset, DocumentSchedule) and data.dataset.in_order
    assert len(data.dataset) == 150 * 4
    docs = {n: corpora.read_file(folder / f"{n}.jsonl", "x") for n in ("bio-forget-corpus", "cyber-forget-corpus")}
    wiki = corpora.read_file(folder / "wikitext.jsonl", "x")
    names, limit = ["bio-forget-corpus", "cyber-forget-corpus"], {0: 512, 1: 768}
    bos = tokenizer.bos_token_id
    for step in range(150):
        topic, batch = step % 2, step // 2
        items = [data.dataset[4 * step + j] for j in range(4)]
        assert [it["forget"]["topic"] for it in items] == [topic] * 4, step
        for j, item in enumerate(items):
            doc = docs[names[topic]][4 * batch + j]
            full = [bos] + tokenizer(doc, add_special_tokens=False)["input_ids"]
            assert item["forget"]["input_ids"] == full[: limit[topic]], (step, j)
            assert item["forget"]["labels"] == item["forget"]["input_ids"]  # every position trained on
            retain = [bos] + tokenizer(wiki[4 * batch + j], add_special_tokens=False)["input_ids"]
            assert item["retain"]["input_ids"] == retain[:512]
    lengths = {(i // 4 % 2, len(data.dataset[i]["forget"]["input_ids"])) for i in range(600)}
    assert (0, 512) in lengths and (1, 768) in lengths and max(n for _, n in lengths) == 768
    # tokenised: the 75 batches of each topic and of wikitext, each document once; nothing after them
    read = 75 * 4
    assert sorted(counting.texts) == sorted(docs[names[0]][:read] + docs[names[1]][:read] + wiki[:read])
    assert [r["text"] for r in data.rows["forget"]] == docs[names[0]][:read] + docs[names[1]][:read]
    batch = data.collator([data.dataset[i] for i in range(4)])
    assert batch["forget"]["topic"].tolist() == [0] * 4
    assert (batch["forget"]["input_ids"][:, 0] == tokenizer.eos_token_id).any()  # left padding with EOS


def test_documents_schedule_stops_at_the_fewest_whole_batches(tmp_path, tokenizer, caplog):
    folder = _corpus_folder(tmp_path / "corpora", n=14)  # 3 whole batches of 4 per corpus
    recipe = Recipe.from_dict(
        {"benchmark": "wmdp", "model": "tiny", "method": "RMU", "forget_split": "bio-cyber", "max_steps": 150,
         "effective_batch_size": 4, "per_device_train_batch_size": 4,
         "data": {"source": str(folder), "schedule": "documents"}}
    )  # fmt: skip
    data = WMDP.train_data(recipe, tokenizer)
    assert len(data.dataset) == 3 * 4  # steps 0-2: bio 0, cyber 0, bio 1
    assert [data.dataset[4 * s]["forget"]["topic"] for s in range(3)] == [0, 1, 0]
    assert "3 whole batches" in caplog.text


def test_windows_start_with_bos_and_tokenise_only_the_documents_read(tmp_path, tokenizer):
    """open-unlearning's windows (BOS first, masked); a run of 2 steps x 4 windows tokenises a random sample of
    documents holding 8 windows, not the corpus."""
    folder = tmp_path / "corpora"
    folder.mkdir()
    docs = [f"passage {i} " + "about sorting algorithms and compilers " * 8 for i in range(200)]
    for name in ("cyber-forget-corpus", "cyber-retain-corpus"):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    recipe = Recipe.from_dict(
        {"benchmark": "wmdp", "model": "tiny", "method": "RMU", "max_steps": 2, "effective_batch_size": 4,
         "per_device_train_batch_size": 4, "data": {"source": str(folder), "max_length": 16}}
    )  # fmt: skip
    counting = CountingTokenizer(tokenizer)
    data = WMDP.train_data(recipe, counting)
    window = data.dataset.forget[0]
    assert window["input_ids"][0] == tokenizer.bos_token_id and window["labels"][0] == -100
    assert len(window["input_ids"]) == 17 and window["labels"][1:] == window["input_ids"][1:]
    forget, retain = [r["text"] for r in data.rows["forget"]], [r["text"] for r in data.rows["retain"]]
    assert 8 <= len(forget) < 20 and 8 <= len(retain) < 20 and forget != retain
    assert forget == [d for d in docs if d in forget]  # file order
    assert len(data.dataset.forget) >= 8 and len(data.dataset.retain) >= 8
    tokenised = set(counting.texts)
    assert len([d for d in docs if d in tokenised]) == len(set(forget) | set(retain)) < 40
    everything = Recipe.from_dict({**recipe.to_yaml_dict(), "max_steps": -1, "num_train_epochs": 1})
    assert len(WMDP.train_data(everything, tokenizer).rows["forget"]) == 200  # bounded by epochs: every document
