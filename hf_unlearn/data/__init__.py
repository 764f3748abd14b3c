"""TOFU data: splits, chat formatting, forget/retain pairing and collation."""

from hf_unlearn.data.collator import NestedPaddingCollator, pad_features
from hf_unlearn.data.formatting import ChatFormatter
from hf_unlearn.data.pairing import ForgetRetainDataset
from hf_unlearn.data.tofu import load_split

__all__ = ["ChatFormatter", "ForgetRetainDataset", "NestedPaddingCollator", "load_split", "pad_features"]
