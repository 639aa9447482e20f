"""The update tests' fixture: a box in a temp dir (``tests.update.helpers.make_box``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.update.helpers import Box, make_box


@pytest.fixture
def box(tmp_path: Path) -> Box:
    return make_box(tmp_path)
