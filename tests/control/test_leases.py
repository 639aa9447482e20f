"""The lease table: caps in all and per host, ownership, expiry, every change pushed."""

from __future__ import annotations

from appliance.control.leases import Lease, LeaseTable
from appliance.transport.udp import TargetSpec


def _lease(port: int, owner: tuple[str, int], expires: float) -> Lease:
    return Lease(TargetSpec("127.0.0.1", 9000 + port), owner, expires)


def test_caps_ownership_and_expiry() -> None:
    pushed: list[int] = []
    table = LeaseTable(lambda specs: pushed.append(len(specs)), total=5, per_host=2)
    for host, port, expires in [("a", 1, 10.0), ("a", 2, 20.0), ("b", 1, 10.0), ("c", 1, 10.0)]:
        assert table.full((host, port)) == ""
        table.put((host, port), _lease(port, (host, 5000), expires))
    assert "at most 2 subscriptions per computer" in table.full(("a", 3))
    table.put(("d", 1), _lease(1, ("d", 5000), 10.0))
    assert "full (5)" in table.full(("e", 1))
    assert table.full(("a", 1)) == ""  # renewing an existing one always fits
    assert table.owned_by(("a", 5000)) == [("a", 1), ("a", 2)] and table.owned_by(("a", 5000), 2) == [("a", 2)]
    assert table.owned_by(("a", 5001)) == []
    spec = table.update(("a", 2), format="arr", mirror=True)
    assert spec is not None and (spec.format, spec.mirror) == ("arr", True) and table.update(("z", 1)) is None
    assert table.expire(10.0) == 4 and len(table) == 1 and table.drop([("a", 2), ("a", 2)]) == 1
    assert pushed == [1, 2, 3, 4, 5, 5, 1, 0]
