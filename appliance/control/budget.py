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


#: The share of the event loop's time the control port may take, and the most it may take at once (s).
WORK_SHARE, WORK_BURST = 0.2, 0.05


class WorkBudget:
    """Event-loop time for the control port: ``share`` of every second, at most ``burst`` seconds
    saved up. Once it is spent the port stops reading for as long as it takes to earn it back (the
    kernel queues, then drops): a flood of costly messages takes at most ``share`` of the loop, and
    the API, the watchdog and the poses keep their time."""

    def __init__(self, share: float = WORK_SHARE, burst: float = WORK_BURST) -> None:
        self.share, self.burst = share, burst
        self._seconds, self._at = burst, 0.0
        self.pauses = 0  # times reading was paused

    def spend(self, seconds: float, now: float) -> float:
        """A datagram took ``seconds`` of the loop, ending at ``now`` (``time.perf_counter()``);
        returns how long to stop reading (0: go on)."""
        self._seconds = min(self.burst, self._seconds + max(0.0, now - self._at) * self.share) - seconds
        self._at = now
        if self._seconds >= 0:
            return 0.0
        self.pauses += 1
        return -self._seconds / self.share
