"""ConfigStore: load with safe mode, save validated and atomically, one change at a time.

Loading never stops the box: a missing file gives the defaults; a corrupt or invalid one is set
aside as ``config.json.bad-<time>``, the last good ``.bak`` (or the defaults) is used, and
``safe_mode`` says why. Saving validates the whole model in memory first, then writes atomically.
Every change is one read-modify-write under the store's lock, and listeners hear of changes in the
order they were saved (inside that lock), so the newest configuration is always the one in force.
A change that changes nothing writes nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from appliance import failpoints
from appliance.config.atomic import write_atomic
from appliance.config.models import SCHEMA_VERSION, AppConfig, migrate

__all__ = ["ConfigStore", "default_state_dir", "describe_errors", "load_config_file", "migrate", "parse_config"]

logger = logging.getLogger(__name__)
FILE_NAME = "config.json"


def default_state_dir() -> Path:
    """$STATE_DIRECTORY (systemd StateDirectory=), else ~/.local/state/posenet-appliance."""
    import os

    env = os.environ.get("STATE_DIRECTORY")
    if env:
        return Path(env.split(":")[0])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "posenet-appliance"


def describe_errors(exc: ValidationError) -> str:
    """One line naming every failing field: ``targets.0.port: Input should be ...; ...``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def parse_config(raw: bytes) -> tuple[AppConfig, object]:
    """A configuration file's bytes -> (the configuration, migrated to ``SCHEMA_VERSION``, and the
    file's own ``schema_version``).

    Raises:
        ValueError: not JSON, or not a JSON object.
        ValidationError: invalid (after migration).
    """
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("the file is not a JSON object")
    return AppConfig.model_validate(migrate(data)), data.get("schema_version", 1)


def load_config_file(path: Path) -> AppConfig:
    """The configuration in the file at ``path``, migrated from an older schema version if need be
    (the one way to read a configuration file: the store, the CLI's ``--config`` and ``check``).

    Raises:
        OSError: unreadable. ValueError: not a JSON object. ValidationError: invalid.
    """
    return parse_config(path.read_bytes())[0]


class ConfigStore:
    """The saved configuration of one state directory (or one explicit file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self.config = AppConfig()
        self.safe_mode = ""  # why we run on fallback settings; empty when all is well
        self.generation = 0  # saves made by this store (1, 2, ...): which change is which
        self._listeners: list[Callable[[AppConfig], None]] = []

    @classmethod
    def in_dir(cls, state_dir: Path) -> ConfigStore:
        """The store for ``state_dir/config.json``."""
        return cls(state_dir / FILE_NAME)

    def remove_stale_temporaries(self) -> int:
        """Delete the temporary files of saves a power cut interrupted; returns how many."""
        gone = 0
        for pattern in (f".{self.path.name}.tmp-*", f".{self.path.name}.bak-tmp-*"):
            for stale in self.path.parent.glob(pattern):
                with contextlib.suppress(OSError):
                    stale.unlink()
                    gone += 1
        return gone

    def load(self) -> AppConfig:
        """Load (see the module docstring); never raises for bad file contents. Temporary files of
        saves a power cut interrupted are removed first."""
        with self._lock:
            if self.path.parent.is_dir() and (gone := self.remove_stale_temporaries()):
                logger.warning("config: removed %d temporary file(s) of interrupted saves", gone)
            self.safe_mode = ""
            if not self.path.exists():
                self.config = AppConfig()
                return self.config
            try:
                self.config, version = parse_config(self.path.read_bytes())
                if version != SCHEMA_VERSION:
                    self._upgrade(version)
                return self.config
            except (ValueError, ValidationError, OSError) as exc:
                reason = describe_errors(exc) if isinstance(exc, ValidationError) else str(exc).splitlines()[0]
            aside = self.path.with_name(f"{self.path.name}.bad-{time.strftime('%Y%m%dT%H%M%S')}")
            try:
                self.path.rename(aside)
            except OSError:
                aside = self.path
            backup = self.path.with_name(self.path.name + ".bak")
            try:
                self.config = parse_config(backup.read_bytes())[0]
                used = "the last good settings"
            except (ValueError, ValidationError, OSError):
                self.config = AppConfig()
                used = "default settings"
            self.safe_mode = f"{self.path.name} was invalid ({reason}); kept as {aside.name}; running on {used}"
            logger.warning("config: %s", self.safe_mode)
            return self.config

    def _upgrade(self, version: object) -> None:
        """Save a configuration just migrated from ``version`` in the current one (a failure to write
        is logged: the migrated settings are in force either way, and migrated again next time)."""
        try:
            self._save_locked(self.config)
        except OSError as exc:
            logger.warning("config: migrated from schema version %s, not saved: %s", version, exc)
            return
        logger.warning("config: migrated from schema version %s to %d and saved", version, SCHEMA_VERSION)

    def save(self, config: AppConfig | dict[str, Any]) -> AppConfig:
        """Validate, persist atomically, then publish; returns the saved model.

        Raises:
            ValidationError: invalid; nothing is written and the current settings stay.
            OSError: the disk refused; the file on disk is unchanged.
        """
        with self._lock:
            model = self._save_locked(self._validate(config))
            self._publish(model)
        return model

    def update(
        self,
        change: Callable[[dict[str, Any]], dict[str, Any]],
        check: Callable[[AppConfig, AppConfig], None] | None = None,
    ) -> AppConfig:
        """Apply ``change`` to a copy of the current settings, validate, ``check(old, new)`` (may raise
        to refuse), save and publish, atomically with respect to every other change. Returns the
        configuration in force; nothing is written when nothing changed.

        Raises:
            ValidationError: invalid; nothing changed.
            ConfigError: refused by ``check``; nothing changed.
            OSError: the disk refused; nothing changed.
        """
        with self._lock:
            old = self.config
            model = self._validate(change(old.model_dump(mode="json")))
            if model == old and self.path.exists() and not self.safe_mode:
                return old
            if check is not None:
                check(old, model)
            model = self._save_locked(model)
            self._publish(model)
        return model

    @staticmethod
    def _validate(config: AppConfig | dict[str, Any]) -> AppConfig:
        return AppConfig.model_validate(config if isinstance(config, dict) else config.model_dump())

    def _save_locked(self, model: AppConfig) -> AppConfig:
        if failpoints.ACTIVE:
            failpoints.hit("config.save")
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = json.dumps(model.model_dump(mode="json"), indent=2).encode() + b"\n"
        write_atomic(self.path, data)
        self.config = model
        self.safe_mode = ""
        self.generation += 1
        return model

    def _publish(self, model: AppConfig) -> None:
        for fn in list(self._listeners):
            fn(model)

    def subscribe(self, fn: Callable[[AppConfig], None]) -> None:
        """Call ``fn(config)`` after every successful save, in save order, under the store's lock
        (``generation`` is that save's): ``fn`` must be quick and must not wait for another thread."""
        self._listeners.append(fn)
