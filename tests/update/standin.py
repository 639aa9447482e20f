"""Tiny real update files for the tests: a stand-in appliance wheel (pure Python, a console script
``posenet-appliance``) and one stand-in dependency wheel, locked by hash, signed like
``image-build/make-update.sh`` does. The verify/install/switch/rollback code runs for real on them.

The stand-in's ``posenet-appliance version`` prints its version; ``posenet-appliance serve PREFIX
STATE`` behaves like the service during a trial: a good version confirms with the real
``appliance.update.health.UpdateHealth`` (so PYTHONPATH must name the checkout), a bad one exits 1
at start, a hanging one never confirms.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

from appliance.update.bundle import build

MAIN = """
import sys, time
from pathlib import Path
VERSION = "{version}"
BEHAVIOUR = "{behaviour}"

def main():
    if sys.argv[1:2] == ["version"]:
        import standin_dep
        print(f"standin {{VERSION}} {{standin_dep.NAME}}")
        return 0
    if sys.argv[1:2] == ["serve"]:
        if BEHAVIOUR == "fail":  # as a newer version would: the configuration migrated, then a crash
            (Path(sys.argv[3]) / "config.json").write_text('{{"schema_version": 2}}')
            print("failing at start", file=sys.stderr)
            return 1
        from appliance.update.health import UpdateHealth
        health = UpdateHealth(Path(sys.argv[3]), Path(sys.argv[2]), confirm_seconds=0.3)
        for _ in range(400):
            health.tick(BEHAVIOUR == "good")
            if health.done:
                break
            time.sleep(0.05)
        time.sleep(float(sys.argv[4]) if len(sys.argv) > 4 else 0)
        return 0
    return 2
"""


def _wheel(out: Path, name: str, version: str, files: dict[str, str], entry: str = "", requires: str = "") -> Path:
    dist = f"{name}-{version}.dist-info"
    members = dict(files)
    members[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n" + (
        f"Requires-Dist: {requires}\n" if requires else ""
    )
    members[f"{dist}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: standin\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    if entry:
        members[f"{dist}/entry_points.txt"] = f"[console_scripts]\n{entry}\n"
    record = []
    for path, text in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    members[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    path = out / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for member, text in members.items():
            z.writestr(member, text)
    return path


def make_update(
    tmp: Path,
    key: Path,
    version: str,
    *,
    behaviour: str = "good",
    machine: str = "",
    python: str = "",
    out: Path | None = None,
) -> Path:
    """A signed update file for a stand-in ``version`` ("good", "fail" at start, or "hang")."""
    wheels = tmp / f"wheels-{version}-{behaviour}"
    wheels.mkdir(parents=True, exist_ok=True)
    own = _wheel(
        wheels,
        "posenet_appliance",
        version,
        {"posenet_standin.py": MAIN.format(version=version, behaviour=behaviour)},
        entry="posenet-appliance = posenet_standin:main",
        requires="standin-dep==1.0",
    )
    dep = _wheel(wheels, "standin_dep", "1.0", {"standin_dep.py": 'NAME = "dep-1.0"\n'})
    sha = hashlib.sha256(dep.read_bytes()).hexdigest()
    requirements = wheels / "requirements.txt"
    requirements.write_text(f"standin-dep==1.0 \\\n    --hash=sha256:{sha}\n")
    out = out or tmp / f"posenet-appliance-{version}-{behaviour}.update"
    build(key, out, wheel=own, wheels=[dep], requirements=requirements, version=version, machine=machine, python=python)
    return out
