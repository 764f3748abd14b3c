"""The robustness suite: attacks that try to bring forgotten knowledge back, and the scores that say how much did.

Attack code knows a benchmark only through `hf_unlearn.benchmarks.base.Benchmark` (its knowledge metrics, probe
settings, answer pairs and relearning data), so every benchmark with forget metrics gets the suite.
"""
