"""Pronounceable names and the unique per-system name code.

A system name is ``"<Words> <CODE>"``, e.g. ``"Tauvex Drimor KM-0417"``:

* ``<Words>`` are one or two syllable words drawn at random (not unique on their own);
* ``<CODE>`` is two letters, a dash and a fixed-width zero-padded number, encoding a code
  ``c = P(index)`` where ``P`` is a bijection of ``[0, 2**k)`` and ``2**k >= n_systems``.

Uniqueness argument (holds for any ``n_systems <= 2**40``):

1. ``P`` is a composition of bijections of the ring ``Z / 2**k``: ``x -> a*x + c`` with
   ``a`` odd (odd numbers are invertible mod ``2**k``) and ``x -> x ^ (x >> s)`` with
   ``s >= 1`` (its inverse is computed bit-block by bit-block from the top). Hence distinct
   indices ``0 <= i < n_systems <= 2**k`` map to distinct codes. All arithmetic is done in
   uint64, which wraps mod ``2**64``; masking to the low ``k`` bits then gives the exact
   value mod ``2**k``, so no N-sized table is ever built and the cost per name is O(1).
2. ``c -> (c % 24, (c // 24) % 24, c // 576)`` is a mixed-radix bijection, and printing
   the last part with a fixed width per galaxy is injective, so distinct codes give
   distinct suffix strings, all of the same length.
3. The suffix is the last space-separated token (the words contain no spaces inside a
   word, no dash and no digits), so equal names imply equal suffixes imply equal indices.

Because every suffix of a galaxy has the same length and a shape (``LL-ddd``) that cannot
occur inside the syllable words, searching for a suffix matches exactly one system, and
:func:`decode_suffix` inverts it back to the global index without any lookup table.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from . import vocab
from .seeds import TAG_NAME_CODE, derive_key, mix64

#: Largest galaxy for which names are guaranteed unique (codes fit in 40 bits).
MAX_SYSTEMS: int = 1 << 40
#: Codes use at least this many bits, so that small galaxies still get varied suffixes.
MIN_CODE_BITS: int = 12
#: Minimum number of digits in a suffix.
MIN_CODE_DIGITS: int = 3

_N_LETTERS = len(vocab.CODE_LETTERS)
_LETTER_ARRAY = np.array(list(vocab.CODE_LETTERS))


def _syllables(onsets: tuple[str, ...], codas: tuple[str, ...]) -> list[str]:
    return [o + n + c for o in onsets for n in vocab.NUCLEI for c in codas]


#: Syllables that may start a word (empty onset allowed), capitalised.
FIRST_SYLLABLES: list[str] = [
    s.capitalize() for s in _syllables(("",) + vocab.ONSETS, vocab.SOFT_CODAS)
]
#: Syllables inside a word.
MIDDLE_SYLLABLES: list[str] = _syllables(vocab.ONSETS, vocab.SOFT_CODAS)
#: Syllables that end a word.
FINAL_SYLLABLES: list[str] = _syllables(vocab.ONSETS, vocab.FINAL_CODAS)

_FIRST = np.array(FIRST_SYLLABLES)
_MIDDLE = np.array(MIDDLE_SYLLABLES)
_FINAL = np.array(FINAL_SYLLABLES)
_SPACED_FIRST = np.array([" " + s for s in FIRST_SYLLABLES])


# ------------------------------------------------------------------------ words (scalar)
def make_word(rnd: random.Random, n_syllables: int) -> str:
    """One capitalised pronounceable word of ``n_syllables >= 2`` syllables."""
    parts = [rnd.choice(FIRST_SYLLABLES)]
    parts += [rnd.choice(MIDDLE_SYLLABLES) for _ in range(n_syllables - 2)]
    parts.append(rnd.choice(FINAL_SYLLABLES))
    return "".join(parts)


# -------------------------------------------------------------------- words (vectorised)
def make_base_names(rng: np.random.Generator, count: int) -> npt.NDArray[np.str_]:
    """``count`` random base names: a 2-3 syllable word, plus a 2-syllable word 30 % of the time."""
    first = _FIRST[rng.integers(0, len(_FIRST), count)]
    middle = _MIDDLE[rng.integers(0, len(_MIDDLE), count)]
    final = _FINAL[rng.integers(0, len(_FINAL), count)]
    second_first = _SPACED_FIRST[rng.integers(0, len(_SPACED_FIRST), count)]
    second_final = _FINAL[rng.integers(0, len(_FINAL), count)]
    three = rng.random(count) < 0.45
    two_words = rng.random(count) < 0.30
    word = np.strings.add(first, np.where(three, middle, ""))
    word = np.strings.add(word, final)
    second = np.strings.add(second_first, second_final)
    return np.strings.add(word, np.where(two_words, second, ""))


# ------------------------------------------------------------------------ unique codes
@dataclass(frozen=True)
class CodeScheme:
    """Parameters of the index -> code bijection of one galaxy."""

    bits: int
    mult1: int
    add1: int
    mult2: int
    add2: int
    shift: int
    digits: int

    @property
    def mask(self) -> int:
        """``2**bits - 1``."""
        return (1 << self.bits) - 1


def code_scheme(galaxy_seed: int, n_systems: int) -> CodeScheme:
    """Build the code bijection for a galaxy of ``n_systems`` (1 .. 2**40) systems."""
    if not 1 <= n_systems <= MAX_SYSTEMS:
        raise ValueError(f"n_systems must be in [1, 2**40], got {n_systems}")
    bits = max(MIN_CODE_BITS, (n_systems - 1).bit_length())
    mask = (1 << bits) - 1
    key = derive_key(galaxy_seed, TAG_NAME_CODE)
    h = [mix64(key + i) for i in range(4)]
    max_number = mask // (_N_LETTERS * _N_LETTERS)
    return CodeScheme(
        bits=bits,
        mult1=(h[0] & mask) | 1,
        add1=h[1] & mask,
        mult2=(h[2] & mask) | 1,
        add2=h[3] & mask,
        shift=(bits + 1) // 2,
        digits=max(MIN_CODE_DIGITS, len(str(max_number))),
    )


def encode_codes(scheme: CodeScheme, index: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    """Apply the bijection to an array of global indices (values < 2**bits)."""
    mask = np.uint64(scheme.mask)
    shift = np.uint64(scheme.shift)
    x = index.astype(np.uint64)
    x = (x * np.uint64(scheme.mult1) + np.uint64(scheme.add1)) & mask
    x ^= x >> shift
    x = (x * np.uint64(scheme.mult2) + np.uint64(scheme.add2)) & mask
    x ^= x >> shift
    return x


def encode_code(scheme: CodeScheme, index: int) -> int:
    """Scalar version of :func:`encode_codes`."""
    m = scheme.mask
    x = (index * scheme.mult1 + scheme.add1) & m
    x ^= x >> scheme.shift
    x = (x * scheme.mult2 + scheme.add2) & m
    return x ^ (x >> scheme.shift)


def _unxorshift(y: int, shift: int, bits: int) -> int:
    x = y
    for _ in range(bits // shift + 1):
        x = y ^ (x >> shift)
    return x


def decode_code(scheme: CodeScheme, code: int) -> int:
    """Inverse of :func:`encode_code`: the global index whose code is ``code``."""
    m = scheme.mask
    x = _unxorshift(code & m, scheme.shift, scheme.bits)
    x = ((x - scheme.add2) * pow(scheme.mult2, -1, 1 << scheme.bits)) & m
    x = _unxorshift(x, scheme.shift, scheme.bits)
    return ((x - scheme.add1) * pow(scheme.mult1, -1, 1 << scheme.bits)) & m


def format_suffixes(scheme: CodeScheme, codes: npt.NDArray[np.uint64]) -> npt.NDArray[np.str_]:
    """Render codes as ``LL-ddd`` strings (fixed width within a galaxy)."""
    n_l = np.uint64(_N_LETTERS)
    first = _LETTER_ARRAY[(codes % n_l).astype(np.intp)]
    second = _LETTER_ARRAY[((codes // n_l) % n_l).astype(np.intp)]
    number = (codes // (n_l * n_l)).astype(np.int64).astype(f"U{scheme.digits}")
    number = np.strings.zfill(number, scheme.digits)
    return np.strings.add(np.strings.add(np.strings.add(first, second), "-"), number)


def format_suffix(scheme: CodeScheme, code: int) -> str:
    """Scalar version of :func:`format_suffixes`."""
    letters = vocab.CODE_LETTERS
    rest, first = divmod(code, _N_LETTERS)
    number, second = divmod(rest, _N_LETTERS)
    return f"{letters[first]}{letters[second]}-{number:0{scheme.digits}d}"


_SUFFIX_RE = re.compile(r"^([A-Z])([A-Z])-(\d+)$")


def decode_suffix(scheme: CodeScheme, suffix_or_name: str, n_systems: int) -> int | None:
    """Global index of the system with this suffix (or full name), or None if none has it."""
    token = suffix_or_name.strip().rsplit(" ", 1)[-1]
    match = _SUFFIX_RE.match(token)
    if match is None or len(match.group(3)) != scheme.digits:
        return None
    letters = vocab.CODE_LETTERS
    if match.group(1) not in letters or match.group(2) not in letters:
        return None
    code = (
        int(match.group(3)) * _N_LETTERS * _N_LETTERS
        + letters.index(match.group(2)) * _N_LETTERS
        + letters.index(match.group(1))
    )
    if code > scheme.mask:
        return None
    index = decode_code(scheme, code)
    return index if index < n_systems else None
