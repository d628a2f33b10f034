from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import pytest

from swarmstream.patches import versions

PYPROJECT = Path(__file__).parents[3] / "pyproject.toml"


def test_the_installed_versions_are_the_tested_ones():
    assert versions.untested() == {}, "the corrections in swarmstream/patches were written for versions.TESTED"


def test_pyproject_pins_the_tested_versions():
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    for name, tested in versions.TESTED.items():
        assert f"{name}=={tested}" in dependencies, name


def test_other_versions_are_refused_with_the_tested_ones_named(monkeypatch):
    monkeypatch.setattr(versions, "untested", lambda: {"faust-streaming": "0.16.0"})
    with pytest.raises(versions.UntestedVersions) as refused:
        versions.check(allow_untested=False)
    message = str(refused.value)
    assert "faust-streaming 0.16.0" in message
    assert "faust-streaming==0.15.3" in message and "aiokafka==0.14.0" in message
    assert versions.ALLOW_ENV in message


def test_the_override_runs_them_with_a_warning(monkeypatch, caplog):
    monkeypatch.setattr(versions, "untested", lambda: {"aiokafka": "0.15.0"})
    with caplog.at_level(logging.WARNING, logger=versions.__name__):
        versions.check(allow_untested=True)
    assert "aiokafka 0.15.0" in caplog.text
