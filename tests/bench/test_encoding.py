"""``bench pipeline`` compares like with like: its python-osc baseline builds exactly the datagrams
each format sends (one bundle per person where the format splits, every message of ``individual``
its own datagram), for any number of people and with events."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from appliance.bench.encoding import python_osc_datagrams
from appliance.output.osc import FORMATS, OutputOptions
from appliance.types import Poses


def _poses(n: int) -> Poses:
    rng = np.random.default_rng(n)
    kp = rng.random((n, 17, 3), dtype=np.float32) * np.array([1280, 720, 1], np.float32)
    scores = np.sort(rng.random(n, dtype=np.float32))[::-1].copy()
    poses = Poses(kp, scores, np.arange(n, dtype=np.int32) + 3, (1280, 720), 77, 1.0, 1_700_000_000.123456)
    return dataclasses.replace(poses, entered=np.array([3], np.int32), left=np.array([1, 2], np.int32))


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("people", [0, 1, 2, 6, 10])
@pytest.mark.parametrize("options", [OutputOptions(), OutputOptions(coords="pixels", mirror=True, max_datagram=600)])
def test_the_python_osc_baseline_builds_the_same_datagrams(fmt: str, people: int, options: OutputOptions) -> None:
    ours = FORMATS[fmt](_poses(people), options)
    theirs = [bytes(d.dgram) for d in python_osc_datagrams(fmt, _poses(people), options)]
    assert theirs == ours


def test_the_baseline_refuses_what_it_cannot_build() -> None:
    with pytest.raises(ValueError, match="immediately only"):
        python_osc_datagrams("bundle", _poses(1), OutputOptions(timetag="capture"))
    with pytest.raises(ValueError, match="no python-osc baseline"):
        python_osc_datagrams("morse", _poses(1), OutputOptions())
