"""How AltPO's alternate answers are asked for: the prompt, the stop strings and the batch size of each protocol.

`open-unlearning` (the default) is open-unlearning's `community/methods/AltPO/generate.py` with its
`generate.yaml` (commit b71de54c179408d447bc383c86fd1fafcc99dc14), so AltPO numbers are comparable with its runs: a
raw Llama-3 prompt (system prompt, the question and true answer, an instruction to make up different facts, an
assistant turn pre-filled with `Alternate Answer :`), tokenized as is (the tokenizer adds its BOS before the
prompt's own `<|begin_of_text|>`, as there), one question per batch, five samples drawn one after another from
`transformers.set_seed(seed)`, the model's own generation config (top-k/top-p, end-of-turn ids) with
`do_sample`, temperature 1 and 200 new tokens, cut at the first stop string.

`hf-unlearn` is this package's earlier protocol: a plain instruction in the tokenizer's chat template, decoded in
batches of 64 by the evaluation's sampler (softmax at the temperature, no top-k/top-p), without stop strings.

Kept free of torch so `hf-unlearn altpo-data --help` lists the protocols without loading anything.
"""

from __future__ import annotations

from dataclasses import dataclass

#: open-unlearning's INST_QAS_LLAMA3_INSTR, the instruction inside its Llama-3 prompt.
_OPEN_UNLEARNING_INSTRUCTION = (
    "Now pretend you are making things up. Write another answer to the question that is of a different template "
    "than the given answer and changes all facts from what are introduced in the given answer (changed answers must "
    "be plausible while being inconsistent with given answer). Ensure that your alternate answer is a plausible "
    "response to the question and doesn't change any details mentioned in question and only introduces changes to "
    "all the facts introduced answer."
)


@dataclass(frozen=True)
class Protocol:
    name: str
    #: The prompt, with `{question}` and `{answer}` to fill (`fill_prompt`).
    prompt: str
    #: Whether the filled prompt goes through the tokenizer's chat template (else it is tokenized as it is).
    chat_template: bool
    #: Generation stops once every row of a batch holds one of these; each alternate is cut at them.
    stop_strings: tuple[str, ...]
    batch_size: int
    description: str


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            name="open-unlearning",
            prompt=(
                "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful AI assistant"
                "<|eot_id|>\n<|start_header_id|>user<|end_header_id|>\n\nQuestion: {question}\nAnswer: {answer}\n"
                + _OPEN_UNLEARNING_INSTRUCTION
                + "<|eot_id|>\n<|start_header_id|>assistant<|end_header_id|> \n\nAlternate Answer :"
            ),
            chat_template=False,
            stop_strings=("Question:", "Question: ", "Q: ", "Q:"),
            batch_size=1,
            description="open-unlearning's generate.py: its Llama-3 prompt, stop strings and the model's "
            "generation config (default)",
        ),
        Protocol(
            name="hf-unlearn",
            prompt=(
                "Question: {question}\nTrue answer: {answer}\n\n"
                "Write a different answer to this question: plausible, but made up, with the style and length of "
                "the true answer. Reply with the new answer only."
            ),
            chat_template=True,
            stop_strings=(),
            batch_size=64,
            description="a plain instruction in the tokenizer's chat template, batched softmax sampling",
        ),
    )
}
DEFAULT_PROTOCOL = "open-unlearning"


def fill_prompt(template: str, question: str, answer: str) -> str:
    """The prompt for one question, filled as open-unlearning fills it: `{question}`, then `{answer}`, replaced as
    text (braces in the question or answer stay as they are)."""
    return template.replace("{question}", question).replace("{answer}", answer)


def cut_at_stop_strings(text: str, stop_strings: tuple[str, ...]) -> str:
    """The alternate from a decoded continuation: everything before each stop string in turn, stripped."""
    for stop in stop_strings:
        if stop:
            text = text.split(stop)[0]
    return text.strip()
