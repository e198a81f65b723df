"""Settings: one declaration each, read from the environment, a clear message for a bad value."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from chalicelib.config import Settings, SettingsError, load_settings


def test_unset_and_empty_variables_take_the_declared_defaults() -> None:
    assert load_settings({}) == Settings()
    assert load_settings({"RUN_EXPIRES_AFTER_SECONDS": "", "MODEL_MAP": ""}) == Settings()


def test_each_setting_is_read_from_its_variable_with_its_type() -> None:
    settings = load_settings(
        {"RUN_EXPIRES_AFTER_SECONDS": "20", "MODEL_MAP": '{"*": "m"}', "RUN_QUEUE_URL": "q"}
    )
    assert settings.run_expires_after_seconds == 20
    assert settings.model_map == {"*": "m"} and settings.run_queue_url == "q"


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("SWEEP_MAX_RUNS", "many", "SWEEP_MAX_RUNS='many': expected a non-negative integer"),
        ("RETENTION_DAYS", "-1", "RETENTION_DAYS='-1': expected a non-negative integer"),
        ("MODEL_MAP", "[1]", "MODEL_MAP='[1]': expected a JSON object of strings"),
        ("MODEL_MAP", "{", "MODEL_MAP='{': expected a JSON object of strings"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, raw: str, message: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({name: raw})
    assert str(error.value) == message


def test_every_setting_has_a_variable_and_a_meaning_and_the_readme_lists_it() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for setting in fields(Settings):
        assert setting.metadata["meaning"], setting.name
        if setting.name != "stage":  # set per stage in .chalice/config.json, not by hand
            assert f"`{setting.metadata['env']}`" in readme, setting.metadata["env"]
