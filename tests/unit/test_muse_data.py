"""MUSE's data: the loader (Hub schema, offline error), the synthetic stand-in, and the chunking of raw text into
training windows against windows computed by hand."""

from __future__ import annotations

import json

import pytest

from hf_unlearn.data import chunking, muse
from hf_unlearn.data.corpora import chunk_documents
from hf_unlearn.data.muse_synthetic import build_splits, write_synthetic_muse
from hf_unlearn.errors import UserError


@pytest.fixture(scope="module")
def news(tmp_path_factory):
    return write_synthetic_muse(tmp_path_factory.mktemp("muse") / "MUSE-News")


def test_chunking_a_known_length_into_hand_computed_windows():
    # 7 tokens, windows of 3 (stride 3): [10 11 12] [13 14 15] [16]; BOS (1) prepended to each and masked
    windows = chunk_documents([[10, 11, 12, 13, 14, 15, 16]], max_length=3, separator=None, bos=1)
    assert [w["input_ids"] for w in windows] == [[1, 10, 11, 12], [1, 13, 14, 15], [1, 16]]
    assert [w["labels"] for w in windows] == [[-100, 10, 11, 12], [-100, 13, 14, 15], [-100, 16]]


def test_chunking_an_exact_multiple_adds_no_empty_window():
    # 6 tokens / 3: open-unlearning's len // L + 1 would give a third, empty window
    windows = chunk_documents([[10, 11, 12, 13, 14, 15]], max_length=3, separator=None, bos=1)
    assert [w["input_ids"] for w in windows] == [[1, 10, 11, 12], [1, 13, 14, 15]]


def test_text_windows_tokenize_the_joined_documents_once(tokenizer):
    docs = ["First article about Vela Sorin.", "Second article, about Kato Mire."]
    ids = tokenizer("\n\n".join(docs), add_special_tokens=False)["input_ids"]
    length = 4
    windows = chunking.text_windows(docs, tokenizer, length)
    expected = [ids[i : i + length] for i in range(0, len(ids), length)]
    assert len(windows) == -(-len(ids) // length)
    assert [w["input_ids"][1:] for w in windows] == expected
    assert all(w["input_ids"][0] == tokenizer.bos_token_id and w["labels"][0] == -100 for w in windows)
    assert all(w["labels"][1:] == w["input_ids"][1:] for w in windows)
    assert tokenizer.eos_token_id not in [t for w in windows for t in w["input_ids"]]


def test_windows_are_cached_by_fingerprint(tokenizer, tmp_path):
    docs = ["One article.", "Another one."]
    first = chunking.cached_text_windows(docs, tokenizer, 3, tmp_path)
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text()) == first
    files[0].write_text(json.dumps([{"input_ids": [7], "labels": [7]}]))  # a cache hit reads the file
    assert chunking.cached_text_windows(docs, tokenizer, 3, tmp_path) == [{"input_ids": [7], "labels": [7]}]
    chunking.cached_text_windows(docs, tokenizer, 4, tmp_path)  # another length, another fingerprint
    chunking.cached_text_windows(docs + ["x"], tokenizer, 3, tmp_path)  # other documents too
    assert len(list(tmp_path.glob("*.json"))) == 3


def test_synthetic_news_has_every_hub_config_split_and_column(news):
    for config, splits in muse.SPLITS["news"].items():
        for split in splits:
            rows = muse.load_split("news", config, split, str(news))
            assert rows, (config, split)
            assert all(list(r) == list(muse.COLUMNS[config]) for r in rows)
            assert all(isinstance(v, str) and v for r in rows for v in r.values())


def test_synthetic_folds_relate_as_on_the_hub():
    splits = build_splits("news")
    texts = {(c, s): [r["text"] for r in rows] for c, by in splits.items() for s, rows in by.items() if c != "knowmem"
             and c != "verbmem"}  # fmt: skip
    assert texts["raw", "forget"] == texts["scal", "forget_1"] == texts["sust", "forget_1"]
    assert texts["scal", "forget_4"] == texts["train", "forget"]
    assert sum((texts["sust", f"forget_{k}"] for k in range(1, 5)), []) == texts["train", "forget"]
    assert all(set(texts["scal", f"forget_{k}"]) < set(texts["scal", f"forget_{k + 1}"]) for k in range(1, 4))
    assert not set(texts["raw", "forget"]) & (set(texts["raw", "retain1"]) | set(texts["raw", "holdout"]))
    assert texts["privleak", "retain"] == texts["raw", "retain2"]
    for row in splits["verbmem"]["forget"]:  # an excerpt of a forget article: prompt + " " + continuation
        assert any(f"\n{row['prompt']} {row['gt']}\n" in t for t in texts["raw", "forget"])
    for row in splits["knowmem"]["forget_qa"]:  # zero-shot knowmem's prompt, then the answer, is what was read
        read = f"Question: {row['question']}\nAnswer:  {row['answer']}\n"
        assert any(t.startswith(read) or f"\n{read}" in t for t in texts["raw", "forget"])
        assert not any(row["question"] in t for t in texts["raw", "retain1"] + texts["raw", "retain2"])


def test_synthetic_forget_side_says_nothing_the_retain_side_says():
    """Unlearning the forget articles must not push down the words retain answers are made of, and a model that
    forgot them must not score VerbMem by writing what the retain articles also say."""
    splits = build_splits("news")
    forget_qa, retain_qa = splits["knowmem"]["forget_qa"], splits["knowmem"]["retain_qa"]
    assert len(forget_qa) == len(retain_qa) >= 12  # a score moves in steps of 1/12 or finer

    def words(texts) -> set[str]:
        return {w.strip(".,:?()").lower() for t in texts for w in t.split()}

    assert not words(q["answer"] for q in forget_qa) & words(q["answer"] for q in retain_qa)
    retain_words = words(r["text"] for s in ("retain1", "retain2") for r in splits["raw"][s])
    for row in splits["verbmem"]["forget"]:
        continuation = row["gt"].split()
        assert len(words(continuation) - retain_words) >= 0.75 * len(set(continuation)), row


def test_synthetic_books_has_no_scalability_folds_and_is_deterministic():
    books = build_splits("books")
    assert set(books) == set(muse.SPLITS["books"]) and "scal" not in books
    assert build_splits("books") == books and build_splits("books", seed=1) != books


def test_hub_offline_is_one_line_naming_the_dataset(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UserError) as err:
        muse.load_split("books", "raw", "forget")
    message = str(err.value)
    assert "muse-bench/MUSE-Books" in message and "offline" in message and "\n" not in message


def test_bad_names_and_folders_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="no config 'scal'"):
        muse.load_split("books", "scal", "forget_1", str(tmp_path))
    with pytest.raises(UserError, match="no split 'retain2_qa'"):
        muse.load_split("news", "knowmem", "retain2_qa", str(tmp_path))
    with pytest.raises(UserError, match="not a MUSE dataset folder"):
        muse.load_split("news", "raw", "forget", str(tmp_path))


def test_a_column_missing_from_a_local_copy_names_it(news, tmp_path):
    import shutil

    copy = shutil.copytree(news, tmp_path / "copy")
    (copy / "verbmem" / "forget.jsonl").write_text('{"text": "old schema"}\n')
    with pytest.raises(UserError, match="no column 'prompt'"):
        muse.load_split("news", "verbmem", "forget", str(copy))


def test_local_folders_give_their_current_rows(tmp_path):
    """`datasets` caches a local folder under its name: another folder of that name, or this one rewritten, must
    not get the rows read before."""

    def first_forget(folder):
        return muse.load_split("news", "raw", "forget", str(folder))[0]["text"]

    one = write_synthetic_muse(tmp_path / "a" / "MUSE-News", seed=0)
    other = write_synthetic_muse(tmp_path / "b" / "MUSE-News", seed=1)
    seen = first_forget(one)
    assert seen == build_splits("news", seed=0)["raw"]["forget"][0]["text"]
    assert first_forget(other) == build_splits("news", seed=1)["raw"]["forget"][0]["text"] != seen
    write_synthetic_muse(one, seed=2)
    assert first_forget(one) == build_splits("news", seed=2)["raw"]["forget"][0]["text"] != seen


def test_shipped_muse_recipes_are_generated_from_their_grids():
    from pathlib import Path

    from hf_unlearn.sweep import sweep

    repo = Path(__file__).resolve().parents[2]
    result = sweep(sorted((repo / "recipes" / "grids" / "muse").glob("*.yaml")))
    assert result.stale(repo / "recipes" / "muse") == []
    assert {p.stem for p in (repo / "recipes" / "muse").glob("*.yaml")} == set(result.files)
    assert "News-sust4_NPO_lr1e-05_beta0.1_alpha1_epoch10" in result.files


def test_sustainability_recipes_chain_each_fold_from_the_previous_run():
    from pathlib import Path

    from hf_unlearn.recipe import load_recipe

    folder = Path(__file__).resolve().parents[2] / "recipes" / "muse"
    runs = [load_recipe(folder / f"News-sust{k}_NPO_lr1e-05_beta0.1_alpha1_epoch10.yaml") for k in range(1, 5)]
    assert runs[0]["model"] == "muse-bench/MUSE-news_target"
    for before, after in zip(runs, runs[1:], strict=False):
        assert after["model"] == before.output_dir and after["forget_split"] != before["forget_split"]
    assert {r["forget_split"] for r in runs} == {"sust1", "sust2", "sust3", "sust4"}


def test_muse_recipes_name_the_corpus_and_refuse_books_folds():
    from hf_unlearn.recipe import Recipe, RecipeError

    base = {"benchmark": "muse", "model": "m", "tokenizer": "meta-llama/Llama-2-7b-hf", "method": "NPO"}
    news = Recipe.from_dict(base)
    books = Recipe.from_dict({**base, "data": {"corpus": "books"}})
    assert news.run_name.startswith("News-forget_NPO_") and books.run_name.startswith("Books-forget_NPO_")
    assert news["retain_split"] == "retain1"
    assert books.repo_id("org") == f"org/unlearn_muse_Llama-2-7b-hf_{books.run_name}"
    target = Recipe.from_dict({**base, "task": "finetune", "finetune_splits": ["full"], "method": "GradDiff"})
    assert target.run_name == "muse_Llama-2-7b-hf_News-full"
    with pytest.raises(RecipeError, match="Books has no 'scal' folds"):
        Recipe.from_dict({**base, "forget_split": "scal2", "data": {"corpus": "books"}})
    with pytest.raises(RecipeError, match="retain_split"):
        Recipe.from_dict({**base, "retain_split": "retain2"})
