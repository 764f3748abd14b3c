"""`make demo` / `make test` choose where to install: the active environment, or `.venv` on a PEP 668 system.

Dry runs only (`make -n`): nothing is installed or created.
"""

import os
import shutil
import subprocess
import venv

import pytest
from helpers import REPO

#: What the Makefile reads from the environment to choose an interpreter (a parent `make test` passes MAKEFLAGS).
CHOICE_VARIABLES = ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHON", "SYSTEM_PYTHON", "PY_EXTERNALLY_MANAGED", "VENV")

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def _dry_run(target, *assignments, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k not in CHOICE_VARIABLES and not k.startswith(("MAKE", "MFLAGS"))}
    env.update(env_extra or {})
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", target, *assignments],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.splitlines()


def test_an_externally_managed_python_gets_a_project_venv(tmp_path):
    venv_dir = tmp_path / "venv"
    lines = _dry_run("test", "PY_EXTERNALLY_MANAGED=1", f"VENV={venv_dir}", "SYSTEM_PYTHON=python3")
    python = f"{venv_dir}/bin/python"
    assert lines[0].startswith(f"python3 -m venv --system-site-packages {venv_dir} ||")
    assert lines[1] == f'{python} -c "import torch" 2>/dev/null || {python} -m pip install "torch==2.13.0"'
    assert lines[2] == f'{python} -m pip install -e ".[test,plot,peft,deepspeed,slurm,wmdp,quant]" -c constraints.txt'
    assert lines[3].endswith(f"{python} -m pytest -q --durations=15 tests")
    assert len(lines) == 4
    demo = _dry_run("demo", "PY_EXTERNALLY_MANAGED=1", f"VENV={venv_dir}", "SYSTEM_PYTHON=python3")
    assert demo[2] == f"{python} -m pip install -e ."
    assert demo[3].endswith(f"{python} -m hf_unlearn.cli demo --output-dir demo_runs")
    assert not venv_dir.exists()


def test_a_usable_python_is_installed_into_directly(tmp_path):
    lines = _dry_run("test", "PY_EXTERNALLY_MANAGED=0", "SYSTEM_PYTHON=python3", f"VENV={tmp_path / 'venv'}")
    assert not any("venv" in line for line in lines)
    assert lines[1] == 'python3 -m pip install -e ".[test,plot,peft,deepspeed,slurm,wmdp,quant]" -c constraints.txt'
    assert lines[2].endswith("python3 -m pytest -q --durations=15 tests")
    assert _dry_run("test", "PYTHON=/opt/py/bin/python", "PY_EXTERNALLY_MANAGED=1")[2].endswith(
        "/opt/py/bin/python -m pytest -q --durations=15 tests"
    )


@pytest.mark.parametrize("variable", ["VIRTUAL_ENV", "CONDA_PREFIX"])
def test_an_active_environment_is_used_whatever_the_interpreter(tmp_path, variable):
    lines = _dry_run("test", f"VENV={tmp_path / 'venv'}", env_extra={variable: str(tmp_path)})
    assert not any("venv" in line for line in lines)
    assert lines[-1].endswith("-m pytest -q --durations=15 tests")


def test_a_venv_interpreter_is_never_externally_managed(tmp_path):
    """The detection itself, on a real (pip-less) virtual environment not activated: pip may install there."""
    venv.create(tmp_path / "scratch", with_pip=False)
    scratch = tmp_path / "scratch" / "bin" / "python"
    lines = _dry_run("test", f"SYSTEM_PYTHON={scratch}", f"VENV={tmp_path / 'venv'}")
    assert not any("-m venv" in line for line in lines)
    assert lines[-1].endswith(f"{scratch} -m pytest -q --durations=15 tests")


def test_readme_quotes_the_makefile_test_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "python -m pytest -q --durations=15 tests" in readme
