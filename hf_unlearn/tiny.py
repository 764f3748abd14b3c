"""The embedded default model: a tiny Llama-architecture model with a Llama-3-style tokenizer, built offline.

It lets the whole product (finetune, unlearn, evaluate, publish) run on a CPU with no network, through exactly the
code paths the real Llama-3.2 recipes use. The tokenizer is a byte-level BPE trained on the bundled TOFU text and
uses Llama-3's special-token names and a Llama-3.2-like chat template (dated system header included).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from hf_unlearn.data.tofu import bundled_dir

TINY_MODEL_ID = "tiny"
BOS, EOT, EOT_TEXT, PAD = "<|begin_of_text|>", "<|eot_id|>", "<|end_of_text|>", "<|finetune_right_pad_id|>"
SPECIAL_TOKENS = [BOS, EOT_TEXT, "<|start_header_id|>", "<|end_header_id|>", EOT, PAD]

CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- if not date_string is defined %}{%- set date_string = '26 Jul 2024' %}{%- endif %}"
    "{%- if messages[0]['role'] == 'system' %}"
    "{%- set system_message = messages[0]['content']|trim %}{%- set messages = messages[1:] %}"
    "{%- else %}{%- set system_message = '' %}{%- endif %}"
    "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}"
    "{{- 'Cutting Knowledge Date: December 2023\\n' }}"
    "{{- 'Today Date: ' + date_string + '\\n\\n' }}"
    "{{- system_message }}{{- '<|eot_id|>' }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)

#: Architecture of the default tiny model: small enough for CPU tests, big enough to memorise a TOFU subset.
TINY_CONFIG = dict(
    hidden_size=128,
    intermediate_size=384,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=512,
    tie_word_embeddings=True,
    rope_theta=500000.0,
)

#: Llama-3.2-1B's architecture, for benchmarks with random weights (they need its cost, not its knowledge).
LLAMA_3_2_1B_CONFIG = dict(
    vocab_size=128256,
    hidden_size=2048,
    intermediate_size=8192,
    num_hidden_layers=16,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=64,
    max_position_embeddings=131072,
    rms_norm_eps=1e-5,
    tie_word_embeddings=True,
    rope_theta=500000.0,
    rope_scaling={
        "rope_type": "llama3",
        "factor": 32.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    },
)


def _corpus() -> list[str]:
    texts = ["You are a helpful assistant.", "Cutting Knowledge Date: December 2023", "Today Date: 10 Apr 2025"]
    for path in sorted(bundled_dir().glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            for value in row.values():
                if isinstance(value, str):
                    texts.append(value)
                elif isinstance(value, list):
                    texts.extend(v for v in value if isinstance(v, str))
    return texts


def build_tokenizer(vocab_size: int = 2048):
    """Byte-level BPE with Llama-3 special tokens, a BOS post-processor and the chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer)
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B:1", special_tokens=[(BOS, bos_id)]
            ),
        ]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOT,
        pad_token=PAD,
        model_max_length=512,
        padding_side="right",
        chat_template=CHAT_TEMPLATE,
    )


def build_model(tokenizer, seed: int = 0, **overrides):
    """A randomly initialised LlamaForCausalLM sized by TINY_CONFIG (fp32)."""
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    vocab = tokenizer.get_vocab()
    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=vocab[BOS],
        eos_token_id=[vocab[EOT], vocab[EOT_TEXT]],
        pad_token_id=vocab[PAD],
        **{**TINY_CONFIG, **overrides},
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    model.generation_config = GenerationConfig(
        bos_token_id=vocab[BOS], eos_token_id=[vocab[EOT], vocab[EOT_TEXT]], pad_token_id=vocab[PAD], do_sample=False
    )
    return model


def save_tiny(directory: str | Path, seed: int = 0, **overrides) -> Path:
    """Build and save the tiny model + tokenizer into `directory` (BF16 weights, like a published checkpoint)."""
    directory = Path(directory)
    tok = build_tokenizer()
    model = build_model(tok, seed=seed, **overrides)
    directory.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(directory)
    model.save_pretrained(directory)
    return directory


def ensure_tiny(cache_dir: str | Path | None = None) -> Path:
    """The path of the default tiny model, building it once into a cache folder."""
    if cache_dir is None:
        from huggingface_hub import constants

        cache_dir = Path(constants.HF_HOME) / "hf_unlearn" / "tiny-llama"
    cache_dir = Path(cache_dir)
    if not (cache_dir / "model.safetensors").exists():
        save_tiny(cache_dir)
    return cache_dir
