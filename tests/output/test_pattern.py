"""OSC 1.0 address patterns: the linear-time matcher against a plain recursive reference written from
the specification, the caps and errors, and the cost of the worst patterns."""

from __future__ import annotations

import contextlib
import time
from statistics import median

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.control.messages import CONTROL_METHODS, matching
from appliance.output.osc.pattern import (
    MAX_ALTERNATIVES,
    MAX_PATTERN,
    MAX_WILDCARDS,
    PatternError,
    compile_pattern,
)


def reference(pattern: str, address: str) -> bool:
    """OSC 1.0 matching, straight from the specification (backtracking: small inputs only)."""
    if not pattern:
        return not address
    c = pattern[0]
    if c == "*":
        return any(reference(pattern[1:], address[i:]) for i in range(len(address) + 1) if "/" not in address[:i])
    if c == "{":
        end = pattern.index("}")
        return any(
            address.startswith(option) and reference(pattern[end + 1 :], address[len(option) :])
            for option in pattern[1:end].split(",")
        )
    if not address or (address[0] == "/" and c != "/"):
        return False
    if c == "?":
        return reference(pattern[1:], address[1:])
    if c == "[":
        end = pattern.index("]", 1)
        body = pattern[1:end]
        negate = body.startswith("!")
        body = body[1:] if negate else body
        members, i = set(), 0
        while i < len(body):
            if i + 2 < len(body) and body[i + 1] == "-":
                members |= {chr(x) for x in range(ord(body[i]), ord(body[i + 2]) + 1)}
                i += 3
            else:
                members.add(body[i])
                i += 1
        return (address[0] in members) != negate and reference(pattern[end + 1 :], address[1:])
    return address[0] == c and reference(pattern[1:], address[1:])


ALPHABET = "ab/"
LITERAL = st.text("ab", min_size=1, max_size=3)
CLASS = st.builds(
    lambda neg, items: "[" + ("!" if neg else "") + "".join(items) + "]",
    st.booleans(),
    st.lists(st.sampled_from(["a", "b", "c", "a-b", "b-c"]), min_size=1, max_size=3),
)
PIECE = st.one_of(
    LITERAL,
    st.just("/"),
    st.just("*"),
    st.just("?"),
    CLASS,
    st.builds(lambda opts: "{" + ",".join(opts) + "}", st.lists(st.text("ab", max_size=2), min_size=1, max_size=3)),
)
PATTERNS = st.builds(lambda pieces: "/" + "".join(pieces), st.lists(PIECE, max_size=6)).filter(
    lambda p: sum(p.count(c) for c in "*?[{") <= MAX_WILDCARDS
)
ADDRESSES = st.builds(lambda s: "/" + s, st.text(ALPHABET + "c", max_size=8))


@given(pattern=PATTERNS, address=ADDRESSES)
@settings(max_examples=1000, deadline=None)
def test_the_matcher_agrees_with_the_specification(pattern: str, address: str) -> None:
    assert compile_pattern(pattern).matches(address) == reference(pattern, address), (pattern, address)


@pytest.mark.parametrize(
    ("pattern", "address", "matches"),
    [
        ("/posenet/inf?", "/posenet/info", True),
        ("/posenet/*", "/posenet/listeners/add", False),  # * never crosses /
        ("/*/*/a*d", "/posenet/listeners/add", True),
        ("/posenet/[!a-k]*", "/posenet/mirror", True),
        ("/posenet/[!a-m]*", "/posenet/mirror", False),
        ("/posenet/[a-]*", "/posenet/-x", True),  # a - last is plain
        ("/a{,b}c", "/ac", True),
        ("/a{,b}c", "/abc", True),
        ("/{info,format}", "/format", True),
        ("/x*", "/x", True),
    ],
)
def test_examples(pattern: str, address: str, matches: bool) -> None:
    assert compile_pattern(pattern).matches(address) is matches


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("/posenet/[z-a]x", "backwards range [z-a]"),
        ("/" + "*" * 36 + "x", f"more than {MAX_WILDCARDS} wildcards"),
        ("/posenet/[info", "unclosed ["),
        ("/posenet/{info", "unclosed {"),
        ("/posenet/info]", "stray ]"),
        ("/posenet/}", "stray }"),
        ("/posenet/[]", "empty []"),
        ("/posenet/[!]", "empty []"),
        ("/a[/]b", "/ inside []"),
        ("/{a/b,c}", "/ inside [] or {}"),
        ("/{a*,b}", "only plain strings inside {}"),
        ("/{" + ",".join("x" * (MAX_ALTERNATIVES + 1)) + "}", f"more than {MAX_ALTERNATIVES} strings"),
        ("/" + "x" * MAX_PATTERN, f"longer than {MAX_PATTERN}"),
        ("posenet/info", "starts with /"),
    ],
)
def test_malformed_and_over_cap_patterns_raise_one_line(pattern: str, reason: str) -> None:
    with pytest.raises(PatternError) as raised:
        compile_pattern(pattern)
    assert reason in str(raised.value) and "\n" not in str(raised.value)
    assert isinstance(raised.value, ValueError)


def _cost_us(fn: object, repeat: int = 200) -> float:
    """Median microseconds of ``fn()`` over ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return median(times) * 1e6


WORST = [
    "/" + "*" * 36 + "x",  # the packet that froze the box for 19 s: refused by the cap
    "/posenet/" + "*a" * 8 + "x",  # as many stars as allowed, each able to stop anywhere
    "/*?*?*?*?*?*?*?*?",
    "/posenet/{" + ",".join(f"x{i}" for i in range(MAX_ALTERNATIVES - 1)) + ",info}",  # a long {} list
    "/posenet/" + "[[[[]" * 4 + "x",  # nested-looking brackets
    "/posenet/listeners/" + "?" * MAX_WILDCARDS,
]


@pytest.mark.parametrize("pattern", WORST)
def test_the_worst_patterns_cost_microseconds(pattern: str) -> None:
    """Against every control address (what the control port does per message), uncached."""

    def one() -> None:
        matching.cache_clear()
        with contextlib.suppress(PatternError):
            matching(pattern)

    # Generous for a loaded 2-core machine: the old regex translation took seconds for the first.
    assert _cost_us(one) < 2000, pattern


def test_long_addresses_cost_linear_time() -> None:
    """Doubling the address doubles the cost (give or take), never squares or explodes it."""
    pattern = compile_pattern("/" + "*a" * 8 + "*b")
    short, long = "/" + "a" * 2000, "/" + "a" * 4000
    ratio = _cost_us(lambda: pattern.matches(long), 30) / _cost_us(lambda: pattern.matches(short), 30)
    assert not pattern.matches(long) and ratio < 3.5, ratio


def test_the_control_addresses_are_found_by_patterns() -> None:
    every = tuple(m.address for m in CONTROL_METHODS)
    assert tuple(m.address for m in matching("/*/*")) == tuple(a for a in every if a.count("/") == 2)
    assert tuple(m.address for m in matching("/posenet/{listeners,smoothing}/*")) == tuple(
        a for a in every if a.count("/") == 3 and a.split("/")[2] in ("listeners", "smoothing")
    )
    assert matching("/posenet/info")[0].address == "/posenet/info" and matching("/nothing") == ()
