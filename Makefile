# Two commands do all the set-up: `make demo` (install + the embedded default) and `make test` (install + tests).
PYTHON ?= python
# torch is installed only when missing, so a CUDA build already on the machine stays.
TORCH_SPEC ?= torch==2.13.0
TEST_ENV = HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false

.PHONY: install install-test demo test lint format

install:
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "$(TORCH_SPEC)"
	$(PYTHON) -m pip install -e .

install-test:
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "$(TORCH_SPEC)"
	$(PYTHON) -m pip install -e ".[test,plot,peft,deepspeed]" -c constraints.txt

demo: install
	$(TEST_ENV) hf-unlearn demo --output-dir demo_runs

test: install-test
	$(TEST_ENV) $(PYTHON) -m pytest -q tests

lint:
	ruff check . && ruff format --check .

format:
	ruff check --fix . && ruff format .
