"""The refusal ("I don't know") dataset: reproducible draws keyed by (seed, epoch, index), DPO/NLL layouts."""

import pytest
import torch

from hf_unlearn.data.formatting import ChatFormatter
from hf_unlearn.data.idk import IdkForgetRetainDataset, build_idk_dpo_dataset, build_idk_nll_dataset, idk_index
from hf_unlearn.data.pairing import retain_index
from hf_unlearn.data.tofu import load_idk_answers, load_split


@pytest.fixture(scope="module")
def parts(tokenizer):
    fmt = ChatFormatter(tokenizer)
    rows = {"forget": load_split("forget01", "bundled")[:10], "retain": load_split("retain99", "bundled")[:12]}
    return fmt, rows


def _answer_text(fmt, feat):
    ids = [t for t, label in zip(feat["input_ids"], feat["labels"], strict=True) if label != -100]
    return fmt.tokenizer.decode(ids, skip_special_tokens=True).strip()


def test_dpo_items_pair_original_refusal_and_retain_partner(parts):
    fmt, rows = parts
    ds = build_idk_dpo_dataset({"seed": 3}, fmt, rows)
    idk = load_idk_answers()
    assert len(ds) == 10
    item = ds[4]
    assert item["forget"]["original"] == ds.forget[4]
    alt = item["forget"]["alternate"]
    j = idk_index(3, 0, 4, len(idk))
    assert _answer_text(fmt, alt) == idk[j]
    assert alt["index"] == 4 * len(idk) + j
    # same question as the original: the prompt part is identical
    n_prompt = alt["labels"].count(-100)
    assert alt["input_ids"][:n_prompt] == item["forget"]["original"]["input_ids"][:n_prompt]
    partner = retain_index(3, 0, 4, len(rows["retain"]))
    assert item["retain"]["input_ids"] == fmt.encode_rows(rows["retain"])[partner]["input_ids"]


def test_refusals_are_reproducible_and_change_per_epoch(parts):
    fmt, rows = parts
    a = build_idk_nll_dataset({"seed": 0}, fmt, rows)
    torch.manual_seed(1234)  # the global RNG plays no part
    b = build_idk_nll_dataset({"seed": 0}, fmt, rows)
    first = [a[i]["forget"]["input_ids"] for i in range(len(a))]
    assert first == [b[i]["forget"]["input_ids"] for i in range(len(b))]
    a.set_epoch(1)
    second = [a[i]["forget"]["input_ids"] for i in range(len(a))]
    assert second != first
    c = build_idk_nll_dataset({"seed": 1}, fmt, rows)
    assert [c[i]["forget"]["input_ids"] for i in range(len(c))] != first


def test_refusal_draw_is_independent_of_the_retain_draw():
    n = 97
    same = sum(idk_index(0, 0, i, n) == retain_index(0, 0, i, n) for i in range(400))
    assert same < 20  # chance level is about 4


def test_reference_features_cover_every_epoch(parts):
    fmt, rows = parts
    ds = IdkForgetRetainDataset(fmt, rows["forget"], fmt.encode_rows(rows["retain"]), load_idk_answers(), seed=0)
    alternates = ds.reference_features("forget.alternate", 3)
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            feat = ds[i]["forget"]["alternate"]
            assert alternates[feat["index"]] == feat
    originals = ds.reference_features("forget.original", 3)
    assert sorted(originals) == list(range(len(ds)))
    with pytest.raises(ValueError, match="no 'retain' sequences"):
        ds.reference_features("retain", 1)


def test_empty_inputs_fail_clearly(parts):
    fmt, rows = parts
    with pytest.raises(ValueError, match="no refusal answers"):
        IdkForgetRetainDataset(fmt, rows["forget"], rows["retain"], [])
    with pytest.raises(ValueError, match="forget set is empty"):
        IdkForgetRetainDataset(fmt, [], rows["retain"], ["I don't know."])
