# Two commands do all the set-up: `make demo` (install + the embedded default) and `make test` (install + tests).
# They install into the active virtual or conda environment, else into `python` (`python3` where there is no
# `python`), unless that interpreter is externally managed (PEP 668: a stock Debian/Ubuntu Python refuses
# `pip install`); then into a project environment `.venv`, created on first use.
SYSTEM_PYTHON ?= $(shell command -v python >/dev/null 2>&1 && echo python || echo python3)
# 1 when pip may not install into SYSTEM_PYTHON; override (0 or 1) to choose.
PY_EXTERNALLY_MANAGED ?= $(if $(VIRTUAL_ENV)$(CONDA_PREFIX),0,$(shell $(SYSTEM_PYTHON) -c 'import pathlib, sys, sysconfig; marker = pathlib.Path(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"); print(int(sys.prefix == sys.base_prefix and marker.is_file()))' 2>/dev/null || echo 0))
VENV ?= .venv
ifeq ($(PY_EXTERNALLY_MANAGED),1)
PYTHON ?= $(VENV)/bin/python
else
PYTHON ?= $(SYSTEM_PYTHON)
endif
# The project environment is created only when it is the interpreter used (not with PYTHON=... given).
ENV_SETUP = $(filter $(VENV)/bin/python,$(PYTHON))
# torch is installed only when missing, so a CUDA build already on the machine stays.
TORCH_SPEC ?= torch==2.13.0
TEST_ENV = HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false

.PHONY: install install-test demo test test-fast lint format

# --system-site-packages: a torch the system already has (a CUDA build) is used, not reinstalled.
$(VENV)/bin/python:
	$(SYSTEM_PYTHON) -m venv --system-site-packages $(VENV) || { echo "make: could not create $(VENV) with $(SYSTEM_PYTHON) -m venv: install python3-venv (apt install python3-venv) or activate an environment"; exit 1; }

install: $(ENV_SETUP)
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "$(TORCH_SPEC)"
	$(PYTHON) -m pip install -e .

install-test: $(ENV_SETUP)
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "$(TORCH_SPEC)"
	$(PYTHON) -m pip install -e ".[test,plot,peft,deepspeed,slurm,wmdp,quant]" -c constraints.txt

demo: install
	$(TEST_ENV) $(PYTHON) -m hf_unlearn.cli demo --output-dir demo_runs

test: install-test
	$(TEST_ENV) $(PYTHON) -m pytest -q --durations=15 tests

# The unit tests only (tests/unit: pure code, no training); no install step, run `make install-test` once.
test-fast:
	$(TEST_ENV) $(PYTHON) -m pytest -q tests/unit

lint:
	ruff check . && ruff format --check .

format:
	ruff check --fix . && ruff format .
