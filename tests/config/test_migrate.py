"""Schema version 2: the model families' knobs in their own parts of ``decoder``, ``accelerator`` for
version 1's ``inference.backend``; version 1 files, patches and API clients keep working."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from appliance.config.merge import merge_patch
from appliance.config.models import SCHEMA_VERSION, AppConfig, migrate
from appliance.config.store import ConfigStore

V1 = {
    "schema_version": 1,
    "device_name": "stage-left",
    "inference": {"backend": "cpu", "threads": 3},
    "decoder": {"max_poses": 4, "nms_radius": 14.0, "crop_to_person": False},
}


def test_migrate_moves_version_1_names_and_leaves_its_input_alone() -> None:
    given = json.loads(json.dumps(V1))
    out = migrate(given)
    assert given == V1
    assert out["schema_version"] == SCHEMA_VERSION == 2
    assert out["inference"] == {"accelerator": "cpu", "threads": 3}
    assert out["decoder"] == {"max_poses": 4, "posenet": {"nms_radius": 14.0}, "movenet": {"crop_to_person": False}}
    assert migrate({})["schema_version"] == 2  # no version: the first one
    assert migrate({"schema_version": 99}) == {"schema_version": 99}  # unknown: left for validation to refuse


def test_a_version_1_file_loads_and_is_saved_as_version_2(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(V1))
    store = ConfigStore(path)
    config = store.load()
    assert not store.safe_mode
    assert (config.device_name, config.inference.accelerator, config.inference.threads) == ("stage-left", "cpu", 3)
    assert config.decoder.posenet.nms_radius == 14.0 and config.decoder.movenet.crop_to_person is False
    saved = json.loads(path.read_text())
    assert saved["schema_version"] == 2
    assert saved["decoder"]["posenet"] == {"nms_radius": 14.0} and "nms_radius" not in saved["decoder"]
    assert saved["inference"]["accelerator"] == "cpu" and "backend" not in saved["inference"]
    again = ConfigStore(path)
    assert again.load() == config and store.generation == 1 and again.generation == 0  # v2: not written again


def test_a_patch_in_version_1_names_changes_the_familys_setting(tmp_path: Path) -> None:
    """An API client or a boot-partition patch of version 1 (``decoder.nms_radius``, ``inference.backend``)."""
    store = ConfigStore.in_dir(tmp_path)
    store.load()

    def patch(current: dict[str, Any]) -> dict[str, Any]:
        return dict(merge_patch(current, {"decoder": {"nms_radius": 20.0}, "inference": {"backend": "edgetpu"}}))

    config = store.update(patch)
    assert config.decoder.posenet.nms_radius == 20.0 and config.inference.accelerator == "edgetpu"
    assert config.decoder.movenet.crop_to_person is True  # the other family's untouched


def test_a_bad_value_under_an_old_name_is_refused_at_its_new_place() -> None:
    with pytest.raises(ValidationError) as info:
        AppConfig.model_validate({"decoder": {"nms_radius": 0}})
    assert [e["loc"] for e in info.value.errors()] == [("decoder", "posenet", "nms_radius")]
    with pytest.raises(ValidationError):
        AppConfig.model_validate({"schema_version": 3})


def test_every_section_of_the_page_has_a_title_for_people() -> None:
    """The page heads each group of settings with its section's ``title``, never a class name."""
    sections = AppConfig.model_json_schema()["$defs"]
    titles = {name: schema.get("title", "") for name, schema in sections.items()}
    assert all(title and title != name and "Config" not in title for name, title in titles.items()), titles


def test_a_version_1_patch_over_a_version_2_configuration_is_migrated_whole() -> None:
    """A boot-partition ``posenet.json`` written for version 1, merged over today's settings."""
    current = AppConfig().model_dump(mode="json")
    patch = {"schema_version": 1, "decoder": {"nms_radius": 33.0}, "inference": {"backend": "cpu"}}
    config = AppConfig.model_validate(merge_patch(current, patch))
    assert config.schema_version == 2 and config.decoder.posenet.nms_radius == 33.0
    assert config.inference.accelerator == "cpu" and config.decoder.max_poses == AppConfig().decoder.max_poses
