r"""The one engine for the Java-style regular expressions in botocore service models: full match, linear time.

AWS service models write ``pattern`` constraints in Java regex syntax and the services apply them to the whole
value (Java's ``Matcher.matches()``). Python's ``re`` is a backtracking engine: the Bedrock ``jobName`` pattern
``[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*`` takes exponential time on a name such as ``"a" + "-" * 40 + "_"``
(measured: 0.5 s at 22 dashes, doubling with each dash). Validation must never hang, so this module parses the
Java syntax itself and runs a Thompson NFA (with a memoised subset construction), which is linear in the length
of the value whatever the pattern. The runtime request checks (:mod:`finetune_sdk.backends._aws.validation`) and
the AWS emulation (:mod:`finetune_sdk.testing`) both use it, so the SDK and the emulation never disagree.

Supported: literals, ``.``, escapes (``\d \s \w`` and their negations with Java's ASCII meaning, ``\h \H \v \V``,
``\t \n \r \f \a \e``, ``\xhh``, ``\uhhhh`` (a surrogate pair written as two escapes is one code point),
``\x{h..h}``, ``\0ooo``, ``\Q...\E``, escaped punctuation), POSIX ``\p{Alpha}``-style classes, Unicode general
categories (``\p{L}``, ``\p{Lu}``, ``\p{M}``), character classes with ranges, negation, nested classes (union)
and ``&&`` (intersection), groups (capturing, ``(?:``, named), alternation, the quantifiers
``* + ? {n} {n,} {n,m}`` with their lazy and possessive forms (a possessive quantifier is matched greedily: an
approximation), the anchors ``^ $ \A \z \Z``, word boundaries ``\b \B``, and look-around ``(?= (?! (?<= (?<!``
(each look-around is evaluated at every position in one extra linear pass, so matching stays linear).

Anything else (back-references, inline flags, atomic groups, Unicode scripts and blocks) raises
:class:`UnsupportedPattern`. At run time a caller then skips that one check with a debug log rather than guess
or block a user's request; the test suite walks every pattern of every service the SDK calls in the installed
botocore, so a construct that a new botocore introduces fails there first.

Examples:
    >>> JavaPattern(r"[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*").fullmatch("my-job.v2")
    True
    >>> JavaPattern(r"[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*").fullmatch("a" + "-" * 60 + "_")  # instant
    False
    >>> JavaPattern("([0-9a-zA-Z][_-]?){1,63}").fullmatch("my_model--x")
    False
    >>> JavaPattern(r"(?!\s*$).+").fullmatch("   ")  # look-ahead: not blank
    False
    >>> JavaPattern(r"[a-z]([a-z-]){0,62}(?<!-)").fullmatch("name-")  # look-behind: no trailing '-'
    False
"""

from __future__ import annotations

import bisect
import logging
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["CharSet", "JavaPattern", "UnsupportedPattern", "compile_java_pattern", "pattern_matches"]

logger = logging.getLogger(__name__)

_MAX_CODE = 0x10FFFF
#: bounded repeats are expanded into copies; above this the upper bound is dropped (the member's own
#: max-length constraint still applies), which keeps the automaton small
_MAX_EXPANSION = 2000


class UnsupportedPattern(ValueError):
    """The pattern uses a Java regex feature this engine does not implement."""


class CharSet:
    """A set of code points stored as sorted, merged, inclusive ``(lo, hi)`` ranges."""

    __slots__ = ("_his", "_los", "ranges")

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        merged: list[tuple[int, int]] = []
        for lo, hi in sorted(ranges):
            if merged and lo <= merged[-1][1] + 1:
                if hi > merged[-1][1]:
                    merged[-1] = (merged[-1][0], hi)
            else:
                merged.append((lo, hi))
        self.ranges: tuple[tuple[int, int], ...] = tuple(merged)
        self._los = [r[0] for r in merged]
        self._his = [r[1] for r in merged]

    @classmethod
    def of(cls, chars: str) -> CharSet:
        return cls((ord(c), ord(c)) for c in chars)

    def __contains__(self, code: int) -> bool:
        i = bisect.bisect_right(self._los, code) - 1
        return i >= 0 and code <= self._his[i]

    def union(self, other: CharSet) -> CharSet:
        return CharSet(self.ranges + other.ranges)

    def negate(self) -> CharSet:
        out: list[tuple[int, int]] = []
        start = 0
        for lo, hi in self.ranges:
            if lo > start:
                out.append((start, lo - 1))
            start = hi + 1
        if start <= _MAX_CODE:
            out.append((start, _MAX_CODE))
        return CharSet(out)

    def intersect(self, other: CharSet) -> CharSet:
        return self.negate().union(other.negate()).negate()

    def __repr__(self) -> str:
        return f"CharSet({list(self.ranges)!r})"


_DIGIT = CharSet([(0x30, 0x39)])
_SPACE = CharSet.of(" \t\n\x0b\f\r")
_WORD = CharSet([(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A), (0x5F, 0x5F)])
# Java's '.' without DOTALL: anything but a line terminator
_DOT = CharSet.of("\n\r\u0085\u2028\u2029").negate()
_HORIZONTAL = CharSet.of(" \t\xa0\u1680\u180e\u202f\u205f\u3000").union(CharSet([(0x2000, 0x200A)]))
_VERTICAL = CharSet.of("\n\x0b\f\r\x85\u2028\u2029")
_ASCII_LOWER = CharSet([(0x61, 0x7A)])
_ASCII_UPPER = CharSet([(0x41, 0x5A)])
_POSIX: dict[str, CharSet] = {
    "Lower": _ASCII_LOWER,
    "Upper": _ASCII_UPPER,
    "ASCII": CharSet([(0, 0x7F)]),
    "Alpha": _ASCII_LOWER.union(_ASCII_UPPER),
    "Digit": _DIGIT,
    "Alnum": _ASCII_LOWER.union(_ASCII_UPPER).union(_DIGIT),
    "Punct": CharSet.of("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "Graph": CharSet([(0x21, 0x7E)]),
    "Print": CharSet([(0x20, 0x7E)]),
    "Blank": CharSet.of(" \t"),
    "Cntrl": CharSet([(0, 0x1F), (0x7F, 0x7F)]),
    "XDigit": CharSet([(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)]),
    "Space": _SPACE,
}
#: Unicode general-category initials accepted in \p{..} (\p{L}, \p{Lu}, \p{N}, \p{Z}...)
_CATEGORIES = frozenset("LMNPSZC")


@lru_cache(maxsize=1)
def _category_ranges() -> dict[str, list[tuple[int, int]]]:
    """Inclusive code-point ranges of every two-letter Unicode general category (one pass, cached)."""
    table: dict[str, list[tuple[int, int]]] = {}
    start, current = 0, unicodedata.category("\x00")
    for code in range(1, _MAX_CODE + 2):
        cat = unicodedata.category(chr(code)) if code <= _MAX_CODE else ""
        if cat != current:
            table.setdefault(current, []).append((start, code - 1))
            start, current = code, cat
    return table


@lru_cache(maxsize=64)
def _unicode_category(category: str) -> CharSet:
    """Code points whose general category is ``category`` (one letter matches the whole class)."""
    table = _category_ranges()
    if len(category) == 2:
        return CharSet(table.get(category, []))
    return CharSet(r for cat, ranges in table.items() if cat.startswith(category) for r in ranges)


_SIMPLE_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "a": "\a", "e": "\x1b"}


# --- AST -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Set:
    chars: CharSet


@dataclass(frozen=True)
class _Cat:
    items: tuple[object, ...]


@dataclass(frozen=True)
class _Alt:
    options: tuple[object, ...]


@dataclass(frozen=True)
class _Rep:
    item: object
    low: int
    high: int | None


@dataclass(frozen=True)
class _Assert:
    kind: str  # "start", "end", "word" (a word boundary) or "nonword" (not one)


@dataclass(frozen=True)
class _Look:
    """A look-around of ``item``: ahead or behind, negated or not."""

    item: object
    ahead: bool
    negate: bool


_SWAP = {"start": "end", "end": "start"}


def _reverse(node: object) -> object:
    """The pattern matching the reversed strings: a look-ahead runs as a look-behind over the reversed text."""
    if isinstance(node, _Cat):
        return _Cat(tuple(_reverse(item) for item in reversed(node.items)))
    if isinstance(node, _Alt):
        return _Alt(tuple(_reverse(item) for item in node.options))
    if isinstance(node, _Rep):
        return _Rep(_reverse(node.item), node.low, node.high)
    if isinstance(node, _Assert):
        return _Assert(_SWAP.get(node.kind, node.kind))
    if isinstance(node, _Look):
        return _Look(_reverse(node.item), not node.ahead, node.negate)
    return node


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0

    # helpers
    def _peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.p[j] if j < len(self.p) else None

    def _take(self) -> str:
        if self.i >= len(self.p):
            raise UnsupportedPattern(f"unexpected end of pattern {self.p!r}")
        c = self.p[self.i]
        self.i += 1
        return c

    def parse(self) -> object:
        node = self._alternation()
        if self.i != len(self.p):
            raise UnsupportedPattern(f"unbalanced ')' at {self.i} in {self.p!r}")
        return node

    def _alternation(self) -> object:
        options = [self._sequence()]
        while self._peek() == "|":
            self.i += 1
            options.append(self._sequence())
        return options[0] if len(options) == 1 else _Alt(tuple(options))

    def _sequence(self) -> object:
        items: list[object] = []
        while True:
            c = self._peek()
            if c is None or c in "|)":
                break
            if c == "\\" and self._peek(1) == "Q":
                self.i += 2
                end = self.p.find("\\E", self.i)
                literal = self.p[self.i :] if end < 0 else self.p[self.i : end]
                self.i = len(self.p) if end < 0 else end + 2
                quoted: list[object] = [_Set(CharSet.of(ch)) for ch in literal]
                if quoted:  # a quantifier after \E applies to the last quoted character
                    quoted[-1] = self._quantified(quoted[-1])
                items.extend(quoted)
                continue
            atom = self._atom()
            items.append(self._quantified(atom))
        return items[0] if len(items) == 1 else _Cat(tuple(items))

    def _quantified(self, atom: object) -> object:
        while True:
            c = self._peek()
            if c == "*":
                self.i += 1
                atom = _Rep(atom, 0, None)
            elif c == "+":
                self.i += 1
                atom = _Rep(atom, 1, None)
            elif c == "?":
                self.i += 1
                atom = _Rep(atom, 0, 1)
            elif c == "{" and self._bounds_ahead():
                low, high = self._bounds()
                atom = _Rep(atom, low, high)
            else:
                return atom
            # lazy ('?') and possessive ('+') suffixes accept the same strings for a full match
            # (possessive ones may reject more in contrived patterns; none of the AWS models use them)
            if self._peek() in ("?", "+"):
                self.i += 1

    def _bounds_ahead(self) -> bool:
        j = self.i + 1
        digits = 0
        while j < len(self.p) and self.p[j].isdigit():
            j += 1
            digits += 1
        if digits == 0:
            return False
        if j < len(self.p) and self.p[j] == "}":
            return True
        if j < len(self.p) and self.p[j] == ",":
            j += 1
            while j < len(self.p) and self.p[j].isdigit():
                j += 1
            return j < len(self.p) and self.p[j] == "}"
        return False

    def _bounds(self) -> tuple[int, int | None]:
        self.i += 1  # '{'
        start = self.i
        while self._peek() is not None and self._peek() != "}":
            self.i += 1
        body = self.p[start : self.i]
        self.i += 1  # '}'
        if "," in body:
            lo_s, hi_s = body.split(",", 1)
            low, high = int(lo_s), (int(hi_s) if hi_s else None)
        else:
            low = high = int(body)
        if high is not None and high < low:
            raise UnsupportedPattern(f"bad repetition {{{body}}} in {self.p!r}")
        return low, high

    def _atom(self) -> object:
        c = self._take()
        if c == "(":
            if self._peek() == "?":
                nxt = self._peek(1)
                if nxt == ":":
                    self.i += 2
                elif nxt in ("=", "!") or (nxt == "<" and self._peek(2) in ("=", "!")):
                    ahead = nxt != "<"
                    negate = (nxt if ahead else self._peek(2)) == "!"
                    self.i += 2 if ahead else 3
                    inner = self._alternation()
                    if self._peek() != ")":
                        raise UnsupportedPattern(f"missing ')' in {self.p!r}")
                    self.i += 1
                    return _Look(inner, ahead, negate)
                elif nxt == "<" and (self._peek(2) or "").isalpha():
                    end = self.p.find(">", self.i)
                    if end < 0:
                        raise UnsupportedPattern(f"unterminated group name in {self.p!r}")
                    self.i = end + 1
                else:
                    raise UnsupportedPattern(f"group construct (?{nxt} (inline flags, atomic group) in {self.p!r}")
            node = self._alternation()
            if self._peek() != ")":
                raise UnsupportedPattern(f"missing ')' in {self.p!r}")
            self.i += 1
            return node
        if c == "[":
            return _Set(self._class())
        if c == ".":
            return _Set(_DOT)
        if c == "^":
            return _Assert("start")
        if c == "$":
            return _Assert("end")
        if c == "\\":
            return self._escape(in_class=False)
        return _Set(CharSet.of(c))

    def _hex(self, digits: int) -> int:
        text = self.p[self.i : self.i + digits]
        if len(text) != digits or any(ch not in "0123456789abcdefABCDEF" for ch in text):
            raise UnsupportedPattern(f"bad hexadecimal escape in {self.p!r}")
        self.i += digits
        return int(text, 16)

    def _escape(self, *, in_class: bool) -> _Set | _Assert:
        c = self._take()
        if c in "dDsSwW":
            base = {"d": _DIGIT, "s": _SPACE, "w": _WORD}[c.lower()]
            return _Set(base if c.islower() else base.negate())
        if c in _SIMPLE_ESCAPES:
            return _Set(CharSet.of(_SIMPLE_ESCAPES[c]))
        if c == "x":
            if self._peek() == "{":
                end = self.p.find("}", self.i)
                if end < 0:
                    raise UnsupportedPattern(f"bad \\x{{...}} escape in {self.p!r}")
                code = int(self.p[self.i + 1 : end], 16)
                self.i = end + 1
            else:
                code = self._hex(2)
            return _Set(CharSet([(code, code)]))
        if c == "u":
            code = self._hex(4)
            # Java reads a high surrogate escape followed by a low one as the code point the pair encodes
            if 0xD800 <= code <= 0xDBFF and self.p.startswith("\\u", self.i):
                saved = self.i
                self.i += 2
                low = self._hex(4)
                if 0xDC00 <= low <= 0xDFFF:
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                else:
                    self.i = saved
            return _Set(CharSet([(code, code)]))
        if c in "hHvV":
            base = _HORIZONTAL if c in "hH" else _VERTICAL
            return _Set(base if c.islower() else base.negate())
        if c == "0":
            j = self.i
            while j < len(self.p) and j < self.i + 3 and self.p[j] in "01234567":
                j += 1
            code = int(self.p[self.i : j] or "0", 8)
            self.i = j
            return _Set(CharSet([(code, code)]))
        if c in "pP":
            chars = self._property()
            return _Set(chars if c == "p" else chars.negate())
        if not in_class:
            if c == "A":
                return _Assert("start")
            if c in "zZ":
                return _Assert("end")
            if c == "b":
                return _Assert("word")
            if c == "B":
                return _Assert("nonword")
        if c.isalnum():
            raise UnsupportedPattern(f"escape \\{c} in {self.p!r}")
        return _Set(CharSet.of(c))

    def _property(self) -> CharSet:
        if self._peek() == "{":
            end = self.p.find("}", self.i)
            if end < 0:
                raise UnsupportedPattern(f"bad \\p{{...}} in {self.p!r}")
            name = self.p[self.i + 1 : end]
            self.i = end + 1
        else:
            name = self._take()
        posix = name.removeprefix("Is")
        if posix in _POSIX:
            return _POSIX[posix]
        category = name.removeprefix("Is") if name.startswith("Is") and len(name) <= 4 else name
        if category in _CATEGORIES or (len(category) == 2 and category[0] in _CATEGORIES):
            return _unicode_category(category)
        # scripts and blocks (\p{IsLatin}, \p{InGreek}) would need more Unicode tables: refuse, don't guess
        raise UnsupportedPattern(f"property class \\p{{{name}}} in {self.p!r}")

    def _class(self) -> CharSet:
        negate = False
        if self._peek() == "^":
            negate = True
            self.i += 1
        result = self._class_union(first=True)
        while self._peek() == "&" and self._peek(1) == "&":
            self.i += 2
            result = result.intersect(self._class_union(first=False))
        if self._take() != "]":
            raise UnsupportedPattern(f"unterminated character class in {self.p!r}")
        return result.negate() if negate else result

    def _class_union(self, *, first: bool) -> CharSet:
        ranges = CharSet()
        start = True
        while True:
            c = self._peek()
            if c is None:
                raise UnsupportedPattern(f"unterminated character class in {self.p!r}")
            if c == "]" and not (start and first):
                return ranges
            if c == "&" and self._peek(1) == "&":
                return ranges
            start = False
            if c == "[":
                self.i += 1
                ranges = ranges.union(self._class())
                continue
            lo = self._class_atom()
            if isinstance(lo, CharSet):
                ranges = ranges.union(lo)
                continue
            if (
                self._peek() == "-"
                and self._peek(1) not in ("]", None)
                and not (self._peek(1) == "[" or (self._peek(1) == "&" and self._peek(2) == "&"))
            ):
                self.i += 1
                hi = self._class_atom()
                if isinstance(hi, CharSet):
                    raise UnsupportedPattern(f"bad character range in {self.p!r}")
                if hi < lo:
                    raise UnsupportedPattern(f"bad character range {chr(lo)}-{chr(hi)} in {self.p!r}")
                ranges = ranges.union(CharSet([(lo, hi)]))
            else:
                ranges = ranges.union(CharSet([(lo, lo)]))

    def _class_atom(self) -> int | CharSet:
        """One code point, or a whole set for escapes like ``\\d``."""
        c = self._take()
        if c != "\\":
            return ord(c)
        escaped = self._escape(in_class=True)
        if isinstance(escaped, _Assert):  # pragma: no cover - _escape(in_class=True) never returns one
            raise UnsupportedPattern(f"anchor inside a character class in {self.p!r}")
        ranges = escaped.chars.ranges
        if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
            return ranges[0][0]
        return escaped.chars


# --- NFA ----------------------------------------------------------------------------------------------
#: index of each position fact in the tuple the closure is keyed on (look-arounds follow, from index 3)
_FACT = {"start": 0, "end": 1, "word": 2}


class _NFA:
    """States are integers. ``sets[s]`` is the CharSet of a consuming state (``None`` otherwise);
    ``asserts[s]`` is the position fact an epsilon state needs: a key of ``_FACT``, ``"nonword"`` or the index
    of a look-around in ``looks``."""

    def __init__(self) -> None:
        self.sets: list[CharSet | None] = []
        self.to: list[int] = []  # target of a consuming state
        self.eps: list[list[int]] = []
        self.asserts: list[str | int | None] = []
        self.looks: list[_Look] = []

    def add(
        self,
        chars: CharSet | None = None,
        to: int = -1,
        eps: Sequence[int] = (),
        assert_: str | int | None = None,
    ) -> int:
        self.sets.append(chars)
        self.to.append(to)
        self.eps.append(list(eps))
        self.asserts.append(assert_)
        return len(self.sets) - 1

    def build(self, node: object, out: int) -> int:
        """A state from which ``node`` leads to ``out`` (built back to front, so no patching is needed)."""
        if isinstance(node, _Set):
            return self.add(node.chars, to=out)
        if isinstance(node, _Cat):
            for item in reversed(node.items):
                out = self.build(item, out)
            return out
        if isinstance(node, _Alt):
            return self.add(eps=[self.build(opt, out) for opt in node.options])
        if isinstance(node, _Assert):
            return self.add(eps=[out], assert_=node.kind)
        if isinstance(node, _Look):
            self.looks.append(node)
            return self.add(eps=[out], assert_=len(self.looks) - 1)
        if isinstance(node, _Rep):
            high = node.high
            if high is not None and high > _MAX_EXPANSION:
                high = None
            low = min(node.low, _MAX_EXPANSION)
            if high is None:
                loop = self.add()
                self.eps[loop] = [self.build(node.item, loop), out]
                tail = loop
            else:
                tail = out
                for _ in range(high - low):
                    tail = self.add(eps=[self.build(node.item, tail), out])
            for _ in range(low):
                tail = self.build(node.item, tail)
            return tail
        raise UnsupportedPattern(f"internal: unknown node {node!r}")  # pragma: no cover


def _is_word(text: str, i: int) -> bool:
    return 0 <= i < len(text) and ord(text[i]) in _WORD


class _Machine:
    """One automaton plus the automata of its look-arounds; every run is linear in the text."""

    def __init__(self, node: object) -> None:
        self._nfa = _NFA()
        self._accept = self._nfa.add()
        self._start = self._nfa.build(node, self._accept)
        # a look-ahead at i is a look-behind at len - i over the reversed text, of the reversed pattern
        self._looks = [
            (_Machine(_reverse(look.item) if look.ahead else look.item), look.ahead, look.negate)
            for look in self._nfa.looks
        ]
        self._words = any(kind in ("word", "nonword") for kind in self._nfa.asserts)
        self._closures: dict[tuple[frozenset[int], tuple[bool, ...]], frozenset[int]] = {}
        self._steps: dict[tuple[frozenset[int], str], frozenset[int]] = {}

    def _look_flags(self, text: str) -> list[list[bool]]:
        n = len(text)
        flags: list[list[bool]] = []
        for machine, ahead, negate in self._looks:
            if ahead:
                behind = machine.ends_at(text[::-1])
                holds = [behind[n - i] for i in range(n + 1)]
            else:
                holds = machine.ends_at(text)
            flags.append([h != negate for h in holds])
        return flags

    def _facts(self, text: str, i: int, looks: list[list[bool]]) -> tuple[bool, ...]:
        boundary = self._words and _is_word(text, i - 1) != _is_word(text, i)
        return (i == 0, i == len(text), boundary, *(flag[i] for flag in looks))

    def _closure(self, states: frozenset[int], facts: tuple[bool, ...]) -> frozenset[int]:
        key = (states, facts)
        hit = self._closures.get(key)
        if hit is not None:
            return hit
        nfa = self._nfa
        seen: set[int] = set()
        stack = list(states)
        while stack:
            s = stack.pop()
            if s in seen:
                continue
            kind = nfa.asserts[s]
            if kind is not None:
                if kind == "nonword":
                    holds = not facts[_FACT["word"]]
                elif isinstance(kind, int):
                    holds = facts[3 + kind]
                else:
                    holds = facts[_FACT[kind]]
                if not holds:
                    continue  # the assertion fails at this position; this path dies
            seen.add(s)
            stack.extend(nfa.eps[s])
        result = frozenset(seen)
        if len(self._closures) > 20_000:
            self._closures.clear()
        self._closures[key] = result
        return result

    def _step(self, current: frozenset[int], ch: str) -> frozenset[int]:
        key = (current, ch)
        moved = self._steps.get(key)
        if moved is None:
            nfa = self._nfa
            code = ord(ch)
            moved = frozenset(nfa.to[s] for s in current if (cs := nfa.sets[s]) is not None and code in cs)
            if len(self._steps) > 50_000:
                self._steps.clear()
            self._steps[key] = moved
        return moved

    def fullmatch(self, text: str) -> bool:
        looks = self._look_flags(text) if self._looks else []
        current = self._closure(frozenset((self._start,)), self._facts(text, 0, looks))
        for i, ch in enumerate(text):
            moved = self._step(current, ch)
            if not moved:
                return False
            current = self._closure(moved, self._facts(text, i + 1, looks))
        return self._accept in current

    def ends_at(self, text: str) -> list[bool]:
        """For each position ``i`` (0..len), whether the pattern matches some ``text[j:i]``."""
        looks = self._look_flags(text) if self._looks else []
        start = frozenset((self._start,))
        out: list[bool] = []
        moved: frozenset[int] = frozenset()
        for i in range(len(text) + 1):
            current = self._closure(moved | start, self._facts(text, i, looks))
            out.append(self._accept in current)
            if i < len(text):
                moved = self._step(current, text[i])
        return out


class JavaPattern:
    """A compiled Java-syntax pattern whose :meth:`fullmatch` runs in time linear in the input.

    Raises:
        UnsupportedPattern: the pattern uses a construct this engine does not implement.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._machine = _Machine(_Parser(pattern).parse())

    def fullmatch(self, text: str) -> bool:
        """Whether the whole of ``text`` matches (Java ``Matcher.matches()`` semantics)."""
        return self._machine.fullmatch(text)

    def __repr__(self) -> str:
        return f"JavaPattern({self.pattern!r})"


@lru_cache(maxsize=512)
def compile_java_pattern(pattern: str) -> JavaPattern:
    """A cached :class:`JavaPattern` for ``pattern``.

    Raises:
        UnsupportedPattern: the pattern uses a construct this engine does not implement.
    """
    return JavaPattern(pattern)


def pattern_matches(pattern: str, value: str) -> bool:
    """Whether ``value`` fully matches ``pattern``; ``True`` (with a debug log) for a pattern the engine
    cannot read, so an unknown construct never blocks a request at run time.

    Examples:
        >>> pattern_matches("[a-z]+", "abc"), pattern_matches("[a-z]+", "ab1")
        (True, False)
        >>> pattern_matches("(?i)abc", "ABC")  # inline flags: not supported, so not enforced
        True
    """
    try:
        return compile_java_pattern(pattern).fullmatch(value)
    except UnsupportedPattern as exc:
        logger.debug("skipping a pattern check the engine cannot read: %s", exc)
        return True
