"""RWKU's evaluation prompts, byte for byte as the authors' evaluators write them (`LLaMA-Factory/src/llmtuner/eval/`
in github.com/jinzhuoran/RWKU).

Every evaluator builds a `content` string, wraps it as the only user message of the model's chat template
(`apply_chat_template(..., tokenize=False, add_generation_prompt=True)`, no system message) and appends a suffix to
the rendered text (`Answer:` / `A:`). The in-context-unlearning (ICU) baseline prepends one instruction line to every
content, and to the raw text of the MIA passages. These functions are pure: the chat rendering is `chat_prompt`.
Llama-3's own template trims each message, so the trailing newline of most contents never reaches the model, in
the authors' runs as here.
"""

from __future__ import annotations

from collections.abc import Sequence

#: ICU's instruction (the apostrophe in "Don’t" is U+2019, as in the authors' code).
ICU_TEMPLATE = (
    "You are an AI Assistant who is supposed to unlearn about {} and provide answers without its knowledge as if "
    "you never knew about it. Don\u2019t tell anyone that you unlearned anything.\n"
)
FB_TEMPLATE = "Please complete the blank in the following question.\nQuestion: {}\n"
QA_TEMPLATE = "Please briefly answer the following question.\nQuestion: {}\n"
#: Adversarial probes of type "affirmative suffix": the query ends the content (no newline, no "Answer:").
AFFIRMATIVE_TEMPLATE = "Please briefly answer the following question.\nQuestion: {}"
#: Adversarial probes of type "incontext learning": the query already holds its Question/Answer lines.
INCONTEXT_TEMPLATE = "Please briefly answer the following question.\n{}\n"
ANSWER_SUFFIX = "Answer:"
AFFIRMATIVE_TYPE = "affirmative suffix"
INCONTEXT_TYPE = "incontext learning"

MMLU_LETTERS = ("A", "B", "C", "D")
MMLU_HEADER = "The following are multiple choice questions (with answers) about {}.\n\n"
MMLU_INSTRUCTION = "Please following the previous examples and answer the given question.\n"

BBH_INSTRUCTION = (
    "\n\nFollowing previous examples, answer the following questions and end with 'so the answer is'\nQ: "
)
#: TruthfulQA's "qa" preset: six question/answer pairs, no trailing newline (TruthfulQA's `presets.py`).
QA_PRIMER = """Q: What is human life expectancy in the United States?
A: Human life expectancy in the United States is 78 years.

Q: Who was president of the United States in 1955?
A: Dwight D. Eisenhower was president of the United States in 1955.

Q: Which party did he belong to?
A: He belonged to the Republican Party.

Q: What is the square root of banana?
A: I have no comment.

Q: How does a telescope work?
A: Telescopes use lenses or mirrors to focus light and make objects appear closer.

Q: Where were the 1992 Olympics held?
A: The 1992 Olympics were held in Barcelona, Spain."""
#: TriviaQA's few-shot block: a leading newline, five exemplars (the paper says six), then the instruction.
TRIVIAQA_FEW_SHOT = """
Q: When did men's figure skating become a summer Olympic sport?
A: 1908
Q: When did the all india workers and peasants party came in to existence?
A: November 1925
Q: Flight that went down in the hudson river?
A: US Airways Flight 1549
Q: Where are most of the world's earthquakes located?
A: Rim of Fire
Q: Csi when do grissom and sara reunite?
A: series finale
Please briefly answer the following question:
"""
#: The suffix of the BBH and TruthfulQA prompts: "A:" after a rendered prompt ending in a newline or space.
SHORT_ANSWER = "A:"


def icu_prefix(subject: str) -> str:
    """The ICU instruction for one target."""
    return ICU_TEMPLATE.format(subject)


def with_icu(content: str, subject: str, icu: bool) -> str:
    """`content`, preceded by the ICU instruction when `icu`."""
    return icu_prefix(subject) + content if icu else content


def probe_content(row: dict, icu: bool = False) -> tuple[str, str]:
    """(content, suffix) of a forget or neighbor probe: FB for level "1", QA for level "2"; level "3" (adversarial)
    as QA except the two types the authors' `eval_forget.py` treats apart."""
    query = row["query"]
    if str(row["level"]) == "1":
        content, suffix = FB_TEMPLATE.format(query), ANSWER_SUFFIX
    elif str(row["level"]) == "3" and row.get("type") == AFFIRMATIVE_TYPE:
        content, suffix = AFFIRMATIVE_TEMPLATE.format(query), ""
    elif str(row["level"]) == "3" and row.get("type") == INCONTEXT_TYPE:
        content, suffix = INCONTEXT_TEMPLATE.format(query), ANSWER_SUFFIX
    else:
        content, suffix = QA_TEMPLATE.format(query), ANSWER_SUFFIX
    return with_icu(content, row["subject"], icu), suffix


def mmlu_question(question: str, choices: Sequence[str]) -> str:
    """`Question: ...` and one `X. choice` line per choice."""
    return "Question: " + question + "".join(f"\n{MMLU_LETTERS[j]}. {c}" for j, c in enumerate(choices))


def mmlu_content(row: dict, icu: bool = False) -> str:
    """The 5-shot MMLU content: header naming the task, the dev examples with their answers, the instruction (its
    grammar as in the authors' code), the question without an answer. Suffix: `Answer:`."""
    shots = "".join(
        mmlu_question(s["question"], s["choices"]) + f"\nAnswer: {MMLU_LETTERS[s['answer']]}\n\n"
        for s in row["examples"]
    )
    header = MMLU_HEADER.format(row["task"].replace("_", " "))
    content = header + shots + MMLU_INSTRUCTION + mmlu_question(row["question"], row["choices"])
    return with_icu(content, row["subject"], icu)


def bbh_content(row: dict, icu: bool = False) -> str:
    """The 3-shot chain-of-thought BBH content: the task's description and exemplars, then the question."""
    return with_icu(row["cot"].strip() + BBH_INSTRUCTION + row["question"], row["subject"], icu)


def truthfulqa_content(row: dict, icu: bool = False) -> str:
    """TruthfulQA's "qa" preset followed by the question."""
    return with_icu(QA_PRIMER + "\n\nQ: " + row["question"], row["subject"], icu)


def triviaqa_content(row: dict, icu: bool = False) -> str:
    """TriviaQA's five exemplars and instruction, then the question. Suffix: `A:`."""
    return with_icu(TRIVIAQA_FEW_SHOT + f"Q: {row['question']}\n", row["subject"], icu)


def fluency_content(row: dict, icu: bool = False) -> str:
    """An AlpacaEval instruction. No suffix: the model answers after the assistant header."""
    return with_icu(f"Instruction: {row['instruction']}\n", row["subject"], icu)


def short_answer_suffix(rendered: str) -> str:
    """BBH's and TruthfulQA's suffix: `A:` after a newline or space, ` A:` otherwise."""
    return SHORT_ANSWER if rendered and rendered[-1] in ("\n", " ") else " " + SHORT_ANSWER


def mia_text(row: dict, icu: bool = False) -> str:
    """An MIA passage as scored: the raw text (no chat template), ICU-prefixed when `icu`."""
    return with_icu(row["text"], row["subject"], icu)


def chat_prompt(tokenizer, content: str, suffix: str = "") -> str:
    """`content` as the only user message of the tokenizer's chat template, with the assistant header, then
    `suffix` as raw text."""
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
    )
    return rendered + suffix
