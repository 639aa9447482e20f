"""The lease table: the subscriptions made over the control port, by stream address, with their
owner (the control sender that made them) and expiry; capped in all and per host."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from appliance.transport.udp import TargetSpec

__all__ = ["MAX_PER_HOST", "MAX_SUBSCRIPTIONS", "Lease", "LeaseTable"]

#: Most subscriptions at once, and per receiving host (so that a few hosts cannot take every slot).
MAX_SUBSCRIPTIONS = 16
MAX_PER_HOST = 4

#: A stream address: (host, port).
Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Lease:
    """A confirmed subscription: where poses go (``spec``), who made it (control sender ``owner``),
    and until when (``expires``, ``time.monotonic()`` seconds)."""

    spec: TargetSpec
    owner: Address
    expires: float


class LeaseTable:
    """Leases by stream address; every change calls ``on_change`` with the specs in force."""

    def __init__(
        self,
        on_change: Callable[[list[TargetSpec]], None],
        total: int = MAX_SUBSCRIPTIONS,
        per_host: int = MAX_PER_HOST,
    ) -> None:
        self._leases: dict[Address, Lease] = {}
        self._on_change = on_change
        self.total, self.per_host = total, per_host

    def __len__(self) -> int:
        return len(self._leases)

    def get(self, key: Address) -> Lease | None:
        """The lease streaming to ``key``, if any."""
        return self._leases.get(key)

    def snapshot(self) -> dict[Address, Lease]:
        """A copy of the table."""
        return dict(self._leases)

    def full(self, key: Address) -> str:
        """Why a new lease for ``key`` does not fit ("" when it does, or when ``key`` has one)."""
        if key in self._leases:
            return ""
        if len(self._leases) >= self.total:
            return f"the subscription list is full ({self.total})"
        if sum(1 for k in self._leases if k[0] == key[0]) >= self.per_host:
            return f"at most {self.per_host} subscriptions per computer"
        return ""

    def owned_by(self, owner: Address, port: int | None = None) -> list[Address]:
        """The stream addresses ``owner`` made (only ``port``'s, if given)."""
        return [k for k, lease in self._leases.items() if lease.owner == owner and port in (None, k[1])]

    def put(self, key: Address, lease: Lease) -> None:
        """Add or replace the lease for ``key`` (``full`` was checked)."""
        self._leases[key] = lease
        self._changed()

    def update(self, key: Address, **spec: Any) -> TargetSpec | None:
        """Change fields of the spec of ``key``'s lease (``format=``, ``coords=``, ``mirror=``);
        returns the new spec, or None without a lease."""
        lease = self._leases.get(key)
        if lease is None:
            return None
        self._leases[key] = replace(lease, spec=replace(lease.spec, **spec))
        self._changed()
        return self._leases[key].spec

    def drop(self, keys: Iterable[Address]) -> int:
        """End the leases of ``keys``; returns how many there were."""
        gone = [k for k in keys if self._leases.pop(k, None) is not None]
        if gone:
            self._changed()
        return len(gone)

    def expire(self, now: float) -> int:
        """End the leases whose time is up; returns how many."""
        return self.drop([k for k, lease in self._leases.items() if lease.expires <= now])

    def _changed(self) -> None:
        self._on_change([lease.spec for lease in self._leases.values()])
