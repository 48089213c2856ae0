"""Checks of request fields shared by the services; each failure names the field."""

from __future__ import annotations

import functools
import re
import unicodedata

from .errors import InvalidArgument

# Characters no name or title needs, by Unicode category: controls (Cc: tab, newline, NUL, ...),
# format characters (Cf: zero-width space, soft hyphen, BOM, bidi marks, embeddings, overrides and
# isolates, tag characters), surrogates (Cs), private use (Co), unassigned (Cn: its NFC may change
# when the code point is assigned), and line and paragraph separators (Zl, Zp). They are invisible
# or reorder what is shown, so they let two names look alike or one look like something it is not.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Two format characters that real text needs, allowed between two visible characters: ZERO WIDTH
# JOINER joins emoji sequences (a family, a profession with a skin tone) and some Indic
# conjuncts; ZERO WIDTH NON-JOINER is part of Persian spelling and of Indic scripts. At an end,
# next to a space or to another joiner, they only hide.
_JOINERS = frozenset({"\u200c", "\u200d"})
# Characters of other categories that show nothing by themselves, so a name of them looks blank:
# those of Unicode's Default_Ignorable_Code_Point outside the categories above (COMBINING GRAPHEME
# JOINER, the Hangul fillers, the Khmer inherent vowels), and the blanks that lists of invisible
# characters add (BRAILLE PATTERN BLANK, MUSICAL SYMBOL NULL NOTEHEAD). Refused wherever they are.
_BLANKS = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0\U0001d159")
# The rest of Default_Ignorable_Code_Point: variation selectors (Mongolian, standard, ideographic),
# which pick a glyph for the character before them (a red heart is U+2764 U+FE0F): allowed right
# after a character that shows, blank anywhere else.
_SELECTORS = "\u180b-\u180d\u180f\ufe00-\ufe0f\U000e0100-\U000e01ef"
_NOT_CATEGORIZED = re.compile(f"[{''.join(sorted(_BLANKS))}{_SELECTORS}]")  # what isprintable() lets pass
DEFAULT_MAX_LENGTH = 200
# A UUID in canonical text form (either case), what OpenAPI's "format: uuid" means: the form the
# services hand out. uuid.UUID() would also take braces, "urn:uuid:" and no hyphens.
UUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def shown(value: str, limit: int = 40) -> str:
    """A client's value quoted in an error message, cut short: the message travels back in the
    status (and in its details), which gRPC clients cap at 8 KiB of metadata by default."""
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}... ({len(value)} characters)"


def require_id(field: str, value: str) -> str:
    """A resource id: a UUID in its canonical text form (lower case)."""
    if not value:
        raise InvalidArgument(field, "is required")
    if not UUID_PATTERN.match(value):
        raise InvalidArgument(field, f"must be a UUID, got {shown(value)}")
    return value.lower()


def optional_id(field: str, value: str) -> str | None:
    return require_id(field, value) if value else None


def clean_text(field: str, value: str, max_length: int = 200) -> str:
    """`value` in NFC without surrounding whitespace; refused when it holds a character that
    shows nothing or reorders the text (see _REFUSED_CATEGORIES), or when it is too long.

    NFC makes one spelling of "João" out of the composed and the decomposed ones, so equal names
    are stored, compared and searched alike. The length counts the normalized characters,
    surrounding whitespace included: the limit is on what is sent, as OpenAPI's maxLength says.
    """
    normalized = unicodedata.normalize("NFC", value)
    limit_length(field, normalized, max_length)
    text = normalized.strip()
    if text.isprintable() and not _NOT_CATEGORIZED.search(text):  # nothing to refuse (checked in C)
        return text
    for position, char in enumerate(text):
        if char in _JOINERS:
            if _joins_visible(text, position):
                continue
        elif _NOT_CATEGORIZED.match(char) and char not in _BLANKS:  # a selector: of the character before
            if position > 0 and _shows(text[position - 1]) and not _NOT_CATEGORIZED.match(text[position - 1]):
                continue
        elif char not in _BLANKS and unicodedata.category(char) not in _REFUSED_CATEGORIES:
            continue
        raise InvalidArgument(
            field,
            f"must not contain the invisible or control character {_describe(char)} (at position {position})",
            "INVALID_CHARACTERS",
        )
    return text


@functools.cache
def text_pattern(required: bool = False) -> str:
    """A regular expression of the strings clean_text accepts (and, `required`, leaves non-empty),
    for the OpenAPI document, built from the same categories and the same rules for the joiners
    and the selectors. Whitespace of any kind may surround the text (it is trimmed); inside, any
    character but the refused ones, a joiner only between two visible characters, a selector only
    right after one.

    It states every refused character of the Basic Multilingual Plane (U+0000-U+FFFF), and none
    beyond it, nor any unassigned code point. Which code points are unassigned changes with each
    Unicode version. The refused characters beyond U+FFFF (the supplementary private-use planes,
    the tag characters, the ideographic variation selectors, a few format controls and a blank)
    are unprintable, and can only be written in a pattern as the characters themselves: ECMA-262
    reads them so only with its "u" flag, and tools that write a pattern out again spell them as
    Python's \\U........, which no ECMA-262 engine reads. So the visible characters are a negated
    class of the refused ones of the BMP (some 7,000 code points), not a list of the million that
    show: a generator builds a class one code point at a time, for every string it draws. The
    docs say what the pattern leaves to the services (docs/api.md, "Text"). Code points are
    written \\uXXXX, the syntax Python's re, RE2/Rust regex and ECMA-262 share. Lengths are left to
    maxLength.
    """
    bmp = [chr(code) for code in range(0x10000) if not 0xD800 <= code <= 0xDFFF]
    spaces = [c for c in bmp if c.isspace()]
    refused = {c for c in bmp if unicodedata.category(c) in _REFUSED_CATEGORIES - {"Cn"}}
    # The blanks are refused wherever they are; a selector only right after a visible character.
    selectors = [c for c in bmp if _NOT_CATEGORIZED.match(c) and c not in _BLANKS]
    trim, joiner = f"[{_ranges(spaces)}]", f"[{_ranges(sorted(_JOINERS))}]"
    blank = f"[{_ranges([c for c in spaces if c not in refused])}]"  # inside the text, as a space
    hidden = {*refused, *spaces, *(c for c in bmp if _NOT_CATEGORIZED.match(c))}
    visible = f"[^{_ranges(sorted(hidden))}][{_ranges(selectors)}]?"
    # Words of visible characters (each with its selector, if any), a joiner only between two of
    # them (V(JV)*), between blanks.
    word = f"{blank}*{visible}(?:{joiner}{visible})*"
    body = f"(?:{word})+{blank}*" if required else f"(?:{word})*{blank}*"
    return f"^{trim}*{body}{trim}*$"


def _ranges(chars: list[str]) -> str:
    """`chars` (sorted) as the body of a character class."""
    spans: list[tuple[int, int]] = []
    start = previous = -2  # no span yet: no code point follows -2
    for char in chars:
        code = ord(char)
        if code == previous + 1:
            previous = code
            continue
        if start >= 0:
            spans.append((start, previous))
        start = previous = code
    if start >= 0:
        spans.append((start, previous))
    return "".join(_escape(a) if a == b else f"{_escape(a)}-{_escape(b)}" for a, b in spans)


def _escape(code: int) -> str:
    return f"\\u{code:04X}"


def _joins_visible(text: str, position: int) -> bool:
    if position == 0 or position == len(text) - 1:
        return False
    return _shows(text[position - 1]) and _shows(text[position + 1])


def _shows(char: str) -> bool:
    """Whether `char` shows, or is part of what the character before it shows (a selector)."""
    return not (
        char.isspace() or char in _JOINERS or char in _BLANKS or unicodedata.category(char) in _REFUSED_CATEGORIES
    )


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X} {name}" if name else f"U+{ord(char):04X}"


def limit_length(field: str, value: str, max_length: int = 200) -> str:
    if len(value) > max_length:
        raise InvalidArgument(field, f"must be at most {max_length} characters")
    return value
