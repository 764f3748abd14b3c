"""Sub-commands of the `hf-unlearn` console script, one module each."""
