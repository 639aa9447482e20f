"""The configuration model: defaults, descriptions, strictness, field-named errors."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from appliance.config.models import AppConfig
from appliance.config.store import describe_errors


def test_defaults_are_valid_and_every_field_is_described() -> None:
    schema = AppConfig.model_json_schema()

    def walk(node: dict[str, Any], path: str) -> None:
        assert not node.get("required"), f"{path} has fields without a default: {node.get('required')}"
        for name, prop in node.get("properties", {}).items():
            ref = prop.get("$ref") or (prop.get("items") or {}).get("$ref")
            target = schema["$defs"][ref.rsplit("/", 1)[1]] if ref else {}
            # A nested section is described by its model's docstring (pydantic puts it on the $ref).
            assert prop.get("description") or target.get("description"), f"{path}{name} has no description"
            if ref:
                walk(target, f"{path}{name}.")

    walk(schema, "")
    AppConfig()  # every default validates


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"bogus": 1}, "bogus"),
        ({"targets": [{"host": "x", "port": 0}]}, "targets.0.port"),
        ({"targets": [{"host": "a b", "port": 9000}]}, "targets.0.host"),
        ({"targets": [{"host": "x", "port": 9000, "format": "json"}]}, "targets.0.format"),
        ({"targets": [{"host": "x", "port": 9000}] * 17}, "targets"),
        ({"decoder": {"min_pose_score": 1.5}}, "decoder.min_pose_score"),
        ({"decoder": {"max_poses": 0}}, "decoder.max_poses"),
        ({"source": "webcam"}, "source"),
        ({"inference": {"device": "gpu"}}, "inference.device"),
        ({"device_name": ""}, "device_name"),
        ({"schema_version": 99}, "schema_version"),
        ({"http": {"port": 9001}, "osc_control": {"port": 9001}}, "must differ"),
    ],
)
def test_invalid_values_name_the_field(patch: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        AppConfig.model_validate(patch)
    assert field in describe_errors(exc.value)


def test_round_trip_through_json() -> None:
    c = AppConfig.model_validate({"targets": [{"host": "[::1]", "port": 9000, "format": "bundle"}]})
    assert c.targets[0].host == "::1"
    assert AppConfig.model_validate_json(c.model_dump_json()) == c
