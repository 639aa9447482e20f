"""OSC 1.0 address patterns, matched in linear time (no regular expressions, no backtracking).

A pattern is compiled once (``compile_pattern``) and matched against addresses (``Pattern.matches``):

* ``?`` one character, ``*`` any run of characters (both never across ``/``);
* ``[abc]`` one of, ``[a-z]`` a range, ``[!a-z]`` none of (``-`` last and ``!`` not first are plain);
* ``{foo,bar}`` one of the strings (plain characters only; ``{,s}``: nothing or ``s``).

Matching goes part by part (the address and the pattern must have as many ``/``-separated parts),
and within a part keeps the *set* of positions the pattern may have reached as the bits of one
integer (bit ``i``: the first ``i`` characters are matched); each construct moves the whole set at
once with a few integer operations on per-character position masks (bit-parallel, like shift-and).
A match costs at most ``O(len(pattern) x len(address))`` bit operations, never exponential.

Caps bound what a packet can ask for: ``MAX_PATTERN`` characters, ``MAX_WILDCARDS`` constructs and
``MAX_ALTERNATIVES`` strings inside ``{}``; a malformed or over-cap pattern raises ``PatternError``
with a one-line reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "MAX_ALTERNATIVES",
    "MAX_PATTERN",
    "MAX_WILDCARDS",
    "Pattern",
    "PatternError",
    "compile_pattern",
    "is_pattern",
]

#: Longest pattern accepted (characters), most wildcard constructs (``*``, ``?``, ``[]``, ``{}``) and
#: most strings in all its ``{}`` together.
MAX_PATTERN = 256
MAX_WILDCARDS = 16
MAX_ALTERNATIVES = 32

SPECIAL = frozenset("*?[]{}")


class PatternError(ValueError):
    """A malformed or over-cap address pattern; the message is one line saying why."""


def is_pattern(text: str) -> bool:
    """Whether ``text`` uses any pattern character (``*?[]{}``)."""
    return not SPECIAL.isdisjoint(text)


@dataclass(frozen=True, slots=True)
class _Chars:
    """One address part as bit masks: for each character, the positions where it occurs."""

    size: int
    at: dict[str, int]


@lru_cache(maxsize=256)
def _chars(part: str) -> _Chars:
    at: dict[str, int] = {}
    for i, c in enumerate(part):
        at[c] = at.get(c, 0) | 1 << i
    return _Chars(len(part), at)


#: One construct: moves the set of reached positions (bits of an int) through one address part.
_Step = Callable[[int, _Chars], int]


def _literal(text: str) -> _Step:
    def step(reached: int, part: _Chars) -> int:
        starts = part.at.get(text[0], 0)
        for j in range(1, len(text)):
            starts &= part.at.get(text[j], 0) >> j
        return (reached & starts) << len(text)

    return step


def _star(reached: int, part: _Chars) -> int:
    if not reached:
        return 0
    lowest = reached & -reached
    return ((1 << (part.size + 1)) - 1) & ~(lowest - 1)  # every position from the first one on


def _question(reached: int, part: _Chars) -> int:
    return (reached & ((1 << part.size) - 1)) << 1


def _one_of(test: Callable[[str], bool]) -> _Step:
    def step(reached: int, part: _Chars) -> int:
        ok = 0
        for c, positions in part.at.items():
            if test(c):
                ok |= positions
        return (reached & ok) << 1

    return step


def _alternatives(options: tuple[str, ...]) -> _Step:
    steps = [_literal(o) for o in options if o]
    empty = "" in options

    def step(reached: int, part: _Chars) -> int:
        out = reached if empty else 0
        for s in steps:
            out |= s(reached, part)
        return out

    return step


@dataclass(frozen=True, slots=True)
class _Part:
    """One ``/``-separated part: the literal text when it has no construct, else its steps."""

    text: str
    steps: tuple[_Step, ...] | None

    def matches(self, part: str) -> bool:
        if self.steps is None:
            return part == self.text
        chars, reached = _chars(part), 1
        for step in self.steps:
            reached = step(reached, chars)
            if not reached:
                return False
        return bool(reached >> chars.size & 1)


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled OSC address pattern; ``matches(address)`` costs O(len(pattern) x len(address))."""

    text: str
    parts: tuple[_Part, ...]

    def matches(self, address: str) -> bool:
        """Whether the address (a plain OSC address, e.g. ``/posenet/info``) matches this pattern."""
        pieces = address.split("/")
        if len(pieces) != len(self.parts):
            return False
        return all(p.matches(s) for p, s in zip(self.parts, pieces, strict=True))

    def select(self, addresses: Iterable[str]) -> tuple[str, ...]:
        """The ``addresses`` this pattern matches, in their order; each distinct address part is
        matched once (addresses that share a prefix share its cost)."""
        seen: dict[tuple[int, str], bool] = {}

        def part(i: int, piece: str) -> bool:
            if (i, piece) not in seen:
                seen[i, piece] = self.parts[i].matches(piece)
            return seen[i, piece]

        out = []
        for address in addresses:
            pieces = address.split("/")
            if len(pieces) == len(self.parts) and all(part(i, s) for i, s in enumerate(pieces)):
                out.append(address)
        return tuple(out)


class _Parser:
    """Turns one pattern into parts of steps, counting constructs against the caps."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.wildcards = 0
        self.alternatives = 0

    def construct(self) -> None:
        self.wildcards += 1
        if self.wildcards > MAX_WILDCARDS:
            raise PatternError(f"more than {MAX_WILDCARDS} wildcards in the address pattern")

    def part(self, text: str) -> _Part:
        if not is_pattern(text):
            return _Part(text, None)
        steps: list[_Step] = []
        literal, i = "", 0
        while i < len(text):
            c = text[i]
            if c not in SPECIAL:
                literal += c
                i += 1
                continue
            if literal:
                steps.append(_literal(literal))
                literal = ""
            self.construct()
            if c == "*":
                if not steps or steps[-1] is not _star:  # ** is *
                    steps.append(_star)
                i += 1
            elif c == "?":
                steps.append(_question)
                i += 1
            elif c == "[":
                step, i = self.bracket(text, i)
                steps.append(step)
            elif c == "{":
                step, i = self.braces(text, i)
                steps.append(step)
            else:
                raise PatternError(f"stray {c} in the address pattern")
        if literal:
            steps.append(_literal(literal))
        return _Part(text, tuple(steps))

    def bracket(self, text: str, start: int) -> tuple[_Step, int]:
        end = text.find("]", start + 1)
        if end < 0:
            raise PatternError("unclosed [ in the address pattern")
        body = text[start + 1 : end]
        negate = body.startswith("!")
        body = body[1:] if negate else body
        if not body:
            raise PatternError("empty [] in the address pattern")
        ranges: list[tuple[str, str]] = []
        i = 0
        while i < len(body):
            if i + 2 < len(body) and body[i + 1] == "-":
                lo, hi = body[i], body[i + 2]
                if lo > hi:
                    raise PatternError(f"backwards range [{lo}-{hi}] in the address pattern")
                ranges.append((lo, hi))
                i += 3
            else:
                ranges.append((body[i], body[i]))
                i += 1
        members = tuple(ranges)

        def test(c: str) -> bool:
            return any(lo <= c <= hi for lo, hi in members) != negate

        return _one_of(test), end + 1

    def braces(self, text: str, start: int) -> tuple[_Step, int]:
        end = text.find("}", start)
        if end < 0:
            raise PatternError("unclosed { in the address pattern")
        body = text[start + 1 : end]
        if is_pattern(body):
            raise PatternError("only plain strings inside {} in the address pattern")
        options = tuple(body.split(","))
        self.alternatives += len(options)
        if self.alternatives > MAX_ALTERNATIVES:
            raise PatternError(f"more than {MAX_ALTERNATIVES} strings inside {{}} in the address pattern")
        return _alternatives(options), end + 1


def _split(text: str) -> list[str]:
    """``text`` split at every ``/`` outside ``[]`` and ``{}`` (a ``/`` inside them is an error)."""
    depth_closer = ""
    for c in text:
        if depth_closer:
            if c == "/":
                raise PatternError("/ inside [] or {} in the address pattern")
            if c == depth_closer:
                depth_closer = ""
        elif c in "[{":
            depth_closer = "]" if c == "[" else "}"
    return text.split("/")


def compile_pattern(text: str) -> Pattern:
    """Compile an OSC address pattern (it starts with ``/``).

    Raises:
        PatternError: longer than ``MAX_PATTERN``, more constructs than the caps, or malformed
            (unclosed or stray brackets, a backwards range such as ``[z-a]``, ``/`` inside ``[]``).
    """
    if len(text) > MAX_PATTERN:
        raise PatternError(f"address pattern longer than {MAX_PATTERN} characters")
    if not text.startswith("/"):
        raise PatternError("an address pattern starts with /")
    parser = _Parser(text)
    return Pattern(text, tuple(parser.part(p) for p in _split(text)))
