"""AltPO's alternates file and dataset: one item per alternate, paired with its question's true answer."""

import json

import pytest
import torch
from helpers.altpo import handmade_alternates

from hf_unlearn.altpo import StopStringCriterion
from hf_unlearn.data.altpo import build_altpo_dataset, load_alternates, matching_alternates
from hf_unlearn.data.altpo_protocols import PROTOCOLS, cut_at_stop_strings, fill_prompt
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


def _json_lines(rows: list[dict]) -> str:
    """One object a line, as both generate.py scripts write them (`json.dump` then a newline: ASCII escapes)."""
    return "".join(json.dumps(row) + "\n" for row in rows)


@pytest.mark.parametrize(
    ("layout", "key"),
    [
        ("open-unlearning JSON Lines", "alternate"),  # open-unlearning's community/methods/AltPO/generate.py
        ("original AltPO JSON Lines", "sub_answer"),  # github.com/molereddy/Alternate-Preference-Optimization
        ("JSON list", "alternate"),
        ("JSON list", "sub_answer"),
    ],
)
def test_other_tools_files_are_read(tmp_path, rows, layout, key):
    """Each file in its tool's exact layout: {"question", "answer", key} rows, with the tools' extra fields
    ignored. A non-ASCII alternate comes back as written (JSON Lines hold it as a \\u escape)."""
    q, a = rows["forget"][0]["question"], rows["forget"][0]["answer"]
    written = [
        {"question": q, "answer": a, key: "Jad Ambrose Al-Sabah wrote it \u201cbriefly\u201d."},
        {"question": q, "answer": a, key: "  "},
    ]
    path = tmp_path / "alt.json"
    path.write_text(_json_lines(written) if "Lines" in layout else json.dumps(written))
    loaded = load_alternates(path)
    assert loaded == [{"question": q, "answer": a, "alternate": r[key]} for r in written]
    assert matching_alternates([rows["forget"][0]], loaded, str(path)) == [(0, written[0][key])]


def test_a_json_lines_file_with_a_broken_line_is_named(tmp_path, rows):
    path = tmp_path / "alt.jsonl"
    path.write_text(_json_lines([{**rows["forget"][0], "alternate": "x"}]) + "{not json\n")
    with pytest.raises(DataFileError, match=r"alt.jsonl' is neither JSON nor JSON Lines \(line 2\)"):
        load_alternates(path)


def test_open_unlearning_prompt_byte_for_byte():
    """open-unlearning's INST_QAS_LLAMA3_TEMPLATE_QUERY (community/methods/AltPO/generate.py, commit b71de54), the
    prompt its generate.yaml selects, as the Python string it evaluates to, filled for one question."""
    expected = (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful AI assistant<|eot_id|>\n"
        "<|start_header_id|>user<|end_header_id|>\n\nQuestion: Who wrote {it}?\nAnswer: Jane Doe.\nNow pretend you "
        "are making things up. Write another answer to the question that is of a different template than the given "
        "answer and changes all facts from what are introduced in the given answer (changed answers must be "
        "plausible while being inconsistent with given answer). Ensure that your alternate answer is a plausible "
        "response to the question and doesn't change any details mentioned in question and only introduces changes "
        "to all the facts introduced answer.<|eot_id|>\n<|start_header_id|>assistant<|end_header_id|> \n\n"
        "Alternate Answer :"
    )
    protocol = PROTOCOLS["open-unlearning"]
    assert fill_prompt(protocol.prompt, "Who wrote {it}?", "Jane Doe.").encode() == expected.encode()
    assert protocol.stop_strings == ("Question:", "Question: ", "Q: ", "Q:")
    assert (protocol.batch_size, protocol.chat_template) == (1, False)


def test_alternates_are_cut_at_the_first_stop_string():
    stops = PROTOCOLS["open-unlearning"].stop_strings
    assert cut_at_stop_strings(" Jad wrote it.\nQuestion: And then? Q: x", stops) == "Jad wrote it."
    assert cut_at_stop_strings(" He did.\nQ: Who?", stops) == "He did."
    assert cut_at_stop_strings(" Plain. ", ()) == "Plain."


def test_a_row_stops_once_its_generated_tail_holds_the_stop_string(tokenizer):
    """The stop rule reads only generated tokens (not the prompt) and stops the batch once every row is done."""
    prompt = tokenizer.encode("Question: Who? Answer:", add_special_tokens=False)
    done_text = tokenizer.encode(" Jad. Question:", add_special_tokens=False)
    going = tokenizer.encode(" Jad wrote many books", add_special_tokens=False)[: len(done_text)]
    going += [going[-1]] * (len(done_text) - len(going))
    ids = torch.tensor([prompt + done_text, prompt + going])
    rule = StopStringCriterion("Question:", tokenizer, len(prompt), batch_size=2)
    assert not rule(ids[:, : len(prompt) + 1], None).any()  # the prompt's own "Question:" does not count
    assert not rule(ids, None).any() and rule.done == [True, False]  # one row done: the batch goes on
    both = torch.tensor([prompt + done_text, prompt + done_text])
    assert rule(both, None).all()


def test_a_question_without_alternates_is_named(tmp_path, tokenizer, rows):
    path = handmade_alternates(tmp_path / "alt.json", n_questions=2)
    with pytest.raises(DataFileError, match=r"alt.json' has no alternate answer for 1 forget question"):
        build_altpo_dataset({"alternates": str(path), "seed": 0}, ChatFormatter(tokenizer), dict(rows))


@pytest.mark.parametrize(
    ("content", "message"), [(None, "cannot read"), ("{", "is neither JSON nor JSON Lines"), ("[1]", "needs rows")]
)
def test_bad_files_are_one_line(tmp_path, content, message):
    path = tmp_path / "alt.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataFileError, match=message):
        load_alternates(path)
