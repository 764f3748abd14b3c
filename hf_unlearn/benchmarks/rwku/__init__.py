"""RWKU (Jin et al., NeurIPS 2024): unlearning what a model knows about real famous people, given only their names.

- `data`: the Hub dataset `jinzhuoran/RWKU` (configs, splits, columns, targets), or a local copy in its layout;
- `synthetic`: a stand-in in the same schema about fictitious people (tests, demo);
- `corpus`: the forget corpora the model generates about a target (passages, DPO pairs, refusals), stored with a
  fingerprint; single- and batch-target combination;
- `prompts`: every evaluation prompt, byte for byte as the authors' evaluators build them;
- `rouge`: ROUGE as the authors compute it (the `rouge` package), and a normalised variant;
- `metrics`: MIA, BBH / TriviaQA matching, TruthfulQA MC1/MC2, MMLU choice, fluency entropy;
- `results`: the authors' per-target result files, the paper's table row, RWKU_EVAL.json / RWKU_SUMMARY.json;
- `engine`: the model passes (batched generation and scoring) that produce those files.
"""
