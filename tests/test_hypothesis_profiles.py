"""CI runs the same Hypothesis examples on every fresh clone: the profile tests/conftest.py
loads is derandomized whenever the CI variable is set, and by default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import settings

from tests.conftest import hypothesis_profile

ROOT = Path(__file__).resolve().parents[1]


def test_the_profile_follows_ci_then_hypothesis_profile() -> None:
    assert hypothesis_profile({"CI": "true"}) == "ci"
    assert hypothesis_profile({"CI": "true", "HYPOTHESIS_PROFILE": "explore"}) == "ci"
    assert hypothesis_profile({}) == "ci"
    assert hypothesis_profile({"HYPOTHESIS_PROFILE": "explore"}) == "explore"
    ci, explore = settings.get_profile("ci"), settings.get_profile("explore")
    assert ci.derandomize and ci.database is None and ci.deadline is None and ci.print_blob
    assert not explore.derandomize and explore.max_examples > ci.max_examples


def test_this_run_loaded_the_chosen_profile() -> None:
    name = hypothesis_profile(os.environ)
    assert settings.get_current_profile_name() == name
    if os.environ.get("CI"):
        assert name == "ci" and settings.default.derandomize and settings.default.database is None


def test_a_fresh_interpreter_with_ci_set_loads_the_derandomized_profile() -> None:
    # what `CI=true bash .ci/run` gets, even with a stray HYPOTHESIS_PROFILE in the shell
    env = {**os.environ, "CI": "true", "HYPOTHESIS_PROFILE": "explore"}
    code = ("import tests.conftest; from hypothesis import settings; "
            "print(settings.get_current_profile_name(), settings.default.derandomize)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["ci", "True"]


def test_decorated_tests_inherit_the_profile() -> None:
    # a test's own @settings(max_examples=...) keeps the loaded profile's derandomize
    assert settings(max_examples=7).derandomize == settings.default.derandomize


def test_ci_script_runs_exactly_the_readme_test_command() -> None:
    command = ("python3 -m venv .venv && .venv/bin/pip install -e '.[test,cluster]' "
               "&& .venv/bin/python -m pytest")
    readme = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert command in readme and command in script
