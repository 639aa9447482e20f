"""First boot (and every boot; it is idempotent): unique host name, settings from the boot partition.

* Host name: a box still called ``raspberrypi`` (or ``posenet``, ``localhost``) becomes
  ``posenet-XXXX`` (XXXX from /etc/machine-id), so two boxes on one network never share a name.
  A name someone chose is left alone.
* Settings: ``posenet.json`` on the boot partition (readable from any laptop) is a JSON merge
  patch on the saved configuration: the fields it names change, the rest stay (on a new box: the
  defaults). A valid result is saved (atomically) and the file renamed ``posenet.json.applied``; an
  invalid one is renamed ``posenet.json.invalid`` with the reason in ``posenet.json.error.txt``
  beside it, and the saved configuration is not touched. This is also how an owner who lost the
  access token recovers it: ``{"http": {"token": "a new one of 12 or more characters"}}`` (physical
  access to the card is the proof).
* Owner: a box must never be open to whoever finds it first. If no access token is set after that,
  one is generated and written to ``posenet-token.txt`` on the boot partition (open the card on a
  laptop to read it; ``posenet-appliance claim`` on the box sets another). It is never logged.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from appliance.config.atomic import write_atomic
from appliance.config.merge import merge_patch
from appliance.config.models import AppConfig
from appliance.config.store import ConfigStore, describe_errors
from appliance.guards import new_token, secret_problems
from appliance.sysinfo import machine_id

__all__ = [
    "DEFAULT_NAMES",
    "TOKEN_NAME",
    "FirstBootPaths",
    "apply_boot_settings",
    "ensure_owner",
    "give_to_service_user",
    "set_unique_hostname",
]

logger = logging.getLogger(__name__)
DEFAULT_NAMES = {"", "raspberrypi", "posenet", "localhost"}
SETTINGS_NAME = "posenet.json"
TOKEN_NAME = "posenet-token.txt"


@dataclass(frozen=True, slots=True)
class FirstBootPaths:
    """Where things are; tests point these into a temporary folder."""

    boot: Path = Path("/boot/firmware")
    state_dir: Path = Path("/var/lib/posenet-appliance")
    hostname: Path = Path("/etc/hostname")
    hosts: Path = Path("/etc/hosts")


def set_unique_hostname(paths: FirstBootPaths, *, live: bool = True) -> str | None:
    """Rename a default host name to ``posenet-XXXX``; returns the new name, or None if unchanged."""
    try:
        current = paths.hostname.read_text().strip()
    except FileNotFoundError:
        current = ""
    if current not in DEFAULT_NAMES:
        return None
    new = f"posenet-{machine_id()}"
    write_atomic(paths.hostname, (new + "\n").encode(), mode=0o644, keep_backup=False)
    try:
        lines = paths.hosts.read_text().splitlines()
    except FileNotFoundError:
        lines = ["127.0.0.1\tlocalhost"]
    lines = [ln for ln in lines if not ln.startswith("127.0.1.1")] + [f"127.0.1.1\t{new}"]
    write_atomic(paths.hosts, ("\n".join(lines) + "\n").encode(), mode=0o644, keep_backup=False)
    if live:
        subprocess.run(["hostname", new], check=False, capture_output=True)
    logger.warning("host name set to %s", new)
    return new


def apply_boot_settings(paths: FirstBootPaths) -> str:
    """Apply ``posenet.json`` from the boot partition if present; returns what happened, one line."""
    src = paths.boot / SETTINGS_NAME
    if not src.exists():
        return f"no {SETTINGS_NAME} on the boot partition"
    store = ConfigStore.in_dir(paths.state_dir)
    store.load()
    try:
        patch = json.loads(src.read_bytes())
        if not isinstance(patch, dict):
            raise ValueError("the file is not a JSON object")
        config = AppConfig.model_validate(merge_patch(store.config.model_dump(mode="json"), patch))
        problems = secret_problems(config.http.token, config.osc_control.subscribe_key)
        if problems:
            raise ValueError("; ".join(f"{which}: {why.split(' (')[0]}" for which, why in problems))
    except (ValueError, ValidationError) as exc:
        reason = describe_errors(exc) if isinstance(exc, ValidationError) else str(exc).splitlines()[0]
        src.replace(src.with_name(SETTINGS_NAME + ".invalid"))
        src.with_name(SETTINGS_NAME + ".error.txt").write_text(f"not applied: {reason}\n")
        logger.error("boot settings not applied: %s", reason)
        return f"{SETTINGS_NAME} is invalid ({reason}); kept the saved settings"
    store.save(config)
    give_to_service_user(store)
    src.replace(src.with_name(SETTINGS_NAME + ".applied"))
    return f"applied {SETTINGS_NAME} from the boot partition"


def give_to_service_user(store: ConfigStore) -> None:
    """Files root wrote in the state directory belong to its owner (the service user reads them)."""
    if os.geteuid() != 0:
        return
    owner = store.path.parent.stat()
    for f in (store.path, store.path.with_name(store.path.name + ".bak")):
        if f.exists():
            os.chown(f, owner.st_uid, owner.st_gid)


def ensure_owner(paths: FirstBootPaths) -> str:
    """A box with no access token gets one, written to ``posenet-token.txt`` on the boot partition
    (never to a log); returns what happened, one line."""
    store = ConfigStore.in_dir(paths.state_dir)
    store.load()
    if store.config.http.token:
        return "access token: set"
    token = new_token()
    store.update(lambda current: {**current, "http": {**current["http"], "token": token}})
    give_to_service_user(store)
    note = (
        f"This box's access token:\n\n    {token}\n\n"
        "Every change from another computer needs it: the web page asks for it once. Keep it somewhere safe,\n"
        'then delete this file. A new one: put {"http": {"token": "..."}} (12 characters or more) in\n'
        "posenet.json here, or run 'sudo posenet-appliance claim' on the box.\n"
    )
    write_atomic(paths.boot / TOKEN_NAME, note.encode(), mode=0o600, keep_backup=False)
    logger.warning("no access token was set: generated one, written to %s on the boot partition", TOKEN_NAME)
    return f"access token: generated, see {TOKEN_NAME} on the boot partition"
