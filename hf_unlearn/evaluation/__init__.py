"""TOFU evaluation: pure metric functions, batched scoring and generation, the evaluator."""
