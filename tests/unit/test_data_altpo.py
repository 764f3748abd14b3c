"""AltPO's alternates file and dataset: one item per alternate, paired with its question's true answer."""

import json

import pytest
from helpers.altpo import handmade_alternates

from hf_unlearn.data.altpo import build_altpo_dataset, load_alternates
from hf_unlearn.data.formatting import ChatFormatter
from hf_unlearn.data.tofu import DataFileError, load_split


@pytest.fixture(scope="module")
def rows():
    return {"forget": load_split("forget01", "bundled")[:3], "retain": load_split("retain99", "bundled")[:4]}


def test_one_item_per_alternate_against_its_true_answer(tmp_path, tokenizer, rows):
    path = handmade_alternates(tmp_path / "alt.json", n_questions=3, samples=2)
    fmt = ChatFormatter(tokenizer)
    rows = dict(rows)
    dataset = build_altpo_dataset({"alternates": str(path), "seed": 0}, fmt, rows)
    assert len(dataset) == 6
    item = dataset[3]  # question 1, second alternate
    question, answer = rows["forget"][1]["question"], rows["forget"][1]["answer"]
    assert item["forget"]["original"]["input_ids"] == fmt.encode(question, answer)["input_ids"]
    alternate = f"A made-up answer, number 1, to: {question}"
    assert item["forget"]["alternate"]["input_ids"] == fmt.encode(question, alternate)["input_ids"]
    assert item["forget"]["alternate"]["index"] == 3
    assert [r["alternate"] for r in rows["alternates"]][3] == alternate  # fingerprinted with the run's data


def test_open_unlearning_layout_is_read_and_blank_alternates_are_dropped(tmp_path, rows):
    q = rows["forget"][0]
    path = tmp_path / "ou.json"
    path.write_text(json.dumps([{**q, "alternate": "  "}, {**q, "alternate": " Someone else. "}]))
    assert len(load_alternates(path)) == 2
    from hf_unlearn.data.altpo import matching_alternates

    assert matching_alternates([q], load_alternates(path), str(path)) == [(0, "Someone else.")]


def test_a_question_without_alternates_is_named(tmp_path, tokenizer, rows):
    path = handmade_alternates(tmp_path / "alt.json", n_questions=2)
    with pytest.raises(DataFileError, match=r"alt.json' has no alternate answer for 1 forget question"):
        build_altpo_dataset({"alternates": str(path), "seed": 0}, ChatFormatter(tokenizer), dict(rows))


@pytest.mark.parametrize(("content", "message"), [(None, "cannot read"), ("{", "is not JSON"), ("[1]", "needs rows")])
def test_bad_files_are_one_line(tmp_path, content, message):
    path = tmp_path / "alt.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataFileError, match=message):
        load_alternates(path)
