"""Publishing a finished run: a curated BF16 export folder with a generated model card, pushed in one Hub commit.

run folder -> `load_run` (finished? recipe, logs, evals) -> `build_export` (weights, tokenizer, plot, card)
-> `push_export` (create repo, one commit). `publish_run` chains them.
"""

from hf_unlearn.publish.errors import PublishError, redact
from hf_unlearn.publish.publisher import PublishResult, publish_run

__all__ = ["PublishError", "PublishResult", "publish_run", "redact"]
