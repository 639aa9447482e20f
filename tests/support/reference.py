"""Google's reference poses for the Coral PoseNet models (``reference/*_reference.csv`` beside the
models), and how close ours must come."""

from __future__ import annotations

import csv
from pathlib import Path

__all__ = ["PX_TOL", "SCORE_TOL", "reference"]

#: Largest difference from the reference: keypoint score, and position in source pixels (x, y).
SCORE_TOL, PX_TOL = 0.1, 4.0


def reference(models_dir: Path, name: str) -> list[list[dict[str, str]]]:
    """The reference poses of model ``name``: per pose, its keypoint rows (the CSV's columns)."""
    path = models_dir / "reference" / name.replace(".tflite", "_reference.csv")
    poses: dict[int, list[dict[str, str]]] = {}
    with path.open() as f:
        for row in csv.DictReader(f):
            poses.setdefault(int(row["pose_id"]), []).append(row)
    return [poses[k] for k in sorted(poses)]
