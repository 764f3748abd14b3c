"""hf-unlearn: machine unlearning for LLMs as Hugging Face `Trainer` subclasses, with TOFU evaluation and Hub
publishing."""

__version__ = "0.1.0"
