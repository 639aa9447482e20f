"""The reply budget: no address is ever sent more bytes than it sent the control port, plus a small
allowance that refills slowly. A forged source can make the box reflect, never amplify."""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["REPLY_ALLOWANCE", "REPLY_REFILL", "ReplyBudget"]

#: Bytes an address may receive beyond what it sent, and how fast (bytes per second) that comes back.
REPLY_ALLOWANCE, REPLY_REFILL = 2048.0, 64.0
#: Most credit one address can build up by sending (bytes).
MAX_CREDIT = 65536.0


class ReplyBudget:
    """Byte credit per host (IP address as text): what it sent, plus ``allowance`` refilling at
    ``refill`` bytes/s; the ``size`` most recently seen hosts are remembered (a forgotten host starts
    again with the allowance only). Times are ``time.monotonic()`` seconds; not thread-safe."""

    def __init__(self, allowance: float = REPLY_ALLOWANCE, refill: float = REPLY_REFILL, size: int = 1024) -> None:
        self.allowance, self.refill, self.size = allowance, refill, size
        self._credit: OrderedDict[str, tuple[float, float]] = OrderedDict()  # host -> (bytes, at)
        self.refused = 0  # answers not sent for want of credit

    def _now_credit(self, host: str, now: float) -> float:
        credit, last = self._credit.pop(host, (self.allowance, now))
        if credit < self.allowance:
            credit = min(self.allowance, credit + max(0.0, now - last) * self.refill)
        return credit

    def _put(self, host: str, credit: float, now: float) -> None:
        self._credit[host] = (credit, now)
        while len(self._credit) > self.size:
            self._credit.popitem(last=False)

    def received(self, host: str, size: int, now: float) -> None:
        """``host`` sent ``size`` bytes: that much more may go back to it."""
        self._put(host, min(self._now_credit(host, now) + size, MAX_CREDIT), now)

    def spend(self, host: str, size: int, now: float) -> bool:
        """Whether ``size`` bytes may go to ``host`` now (then they are spent; else nothing is)."""
        credit = self._now_credit(host, now)
        allowed = credit >= size
        self._put(host, credit - size if allowed else credit, now)
        if not allowed:
            self.refused += 1
        return allowed
