"""hf-unlearn: machine unlearning for LLMs as Hugging Face `Trainer` subclasses, with the TOFU, MUSE and WMDP
evaluations, a robustness suite and Hub publishing. Importing it drops two third-party warnings that say nothing
about a run (`noise`)."""

from hf_unlearn import noise

__version__ = "0.1.0"

noise.install()
