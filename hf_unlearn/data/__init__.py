"""TOFU data: splits (`tofu`), chat formatting (`formatting`), forget/retain pairing (`pairing`), padding
(`collator`). Nothing is imported here so that recipe validation stays free of torch."""
