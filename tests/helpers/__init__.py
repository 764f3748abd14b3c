"""Shared by tests/unit and tests/integration (importable as `helpers`: pytest puts tests/ on sys.path).

REPO is the repository root; HELPERS is this folder, where the driver scripts that tests launch live.
"""

from pathlib import Path

HELPERS = Path(__file__).resolve().parent
REPO = HELPERS.parent.parent
