"""The OpenAPI document's text pattern says what clean_text does: for every code point of
Unicode, alone, inside, around and at the ends of a text, but those it leaves to the services
(validation.text_pattern): unassigned code points and the refused characters beyond U+FFFF, which
the services refuse and the pattern takes, and surrogates, which UTF-8 cannot carry."""

import re
import unicodedata

import pytest

from services.runtime.errors import InvalidArgument
from services.runtime.validation import clean_text, text_pattern
from tests.e2e.schemathesis_hooks import beyond_the_pattern

OPTIONAL, REQUIRED = re.compile(text_pattern(required=False)), re.compile(text_pattern(required=True))
ZWJ, ZWNJ = "\u200d", "\u200c"


def accepted(value: str) -> tuple[bool, bool]:
    """(clean_text takes it, and it is not empty once cleaned)."""
    try:
        return True, bool(clean_text("f", value, 1000))
    except InvalidArgument:
        return False, False


def agree(value: str) -> bool:
    takes, not_empty = accepted(value)
    return bool(OPTIONAL.fullmatch(value)) == takes and bool(REQUIRED.fullmatch(value)) == (takes and not_empty)


@pytest.mark.parametrize("plane", range(17))
def test_pattern_and_code_agree_on_every_code_point_but_those_left_to_the_services(plane):
    disagree = []
    for code in range(plane << 16, (plane + 1) << 16):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF or beyond_the_pattern(char):
            continue
        values = (char, f"a{char}b", f"{char}ab", f"ab{char}", f"{char}{char}", f" {char} ")
        disagree += [value for value in values if not agree(value)]
    assert disagree == []


@pytest.mark.parametrize("char", ["\u0378", "\U000F0000", "\U0010FFFD", "\U000E0001", "\U000E0100", "\U0001D159"])
def test_what_the_pattern_leaves_to_the_services_is_refused_there(char):
    """Unassigned code points (U+0378 in Unicode 14.0, Python 3.11's), and the refused characters
    beyond U+FFFF: private use, a tag, an ideographic variation selector alone, a blank."""
    assert beyond_the_pattern(char)
    assert accepted(f"a {char}") == (False, False) and REQUIRED.fullmatch(f"a {char}")


@pytest.mark.parametrize("value", [f"a{ZWJ}b", f"a{ZWNJ}b", f"👨{ZWJ}👩{ZWJ}👧", f"❤\ufe0f{ZWJ}🔥", f"a{ZWJ}b{ZWNJ}c",
                                   f"{ZWJ}a", f"a{ZWJ}", f"a{ZWJ}{ZWJ}b", f"a {ZWJ}b", f"a{ZWJ} b", f" a{ZWJ}b ",
                                   f"a{ZWJ}\u00adb", f"\u00ad{ZWJ}a", f"a\u3000{ZWJ}b"])
def test_pattern_and_code_agree_on_the_joiners(value):
    assert agree(value), repr(value)


SELECTOR, BLANK = "\ufe0f", "\u3164"


@pytest.mark.parametrize("value", [f"❤{SELECTOR}", f"a{SELECTOR}b", f"{SELECTOR}a", f"a{SELECTOR}{SELECTOR}",
                                   f"a {SELECTOR}", f"a{ZWJ}{SELECTOR}b", f"❤{SELECTOR}{ZWJ}❤{SELECTOR}", BLANK,
                                   f"a{BLANK}b", f"{BLANK}{SELECTOR}", "\u2800", f"a\u2800{SELECTOR}",
                                   f"a\U000e0100", f"e\u0301{SELECTOR}"])
def test_pattern_and_code_agree_on_the_selectors_and_the_blanks(value):
    assert agree(value), repr(value)


@pytest.mark.parametrize("value", ["João Gilberto", "坂本龍一", "Family 👨\u200d👩\u200d👧", "\u3000x\u3000"])
def test_text_beyond_latin1_that_the_services_take_matches_too(value):
    assert accepted(value)[0] and REQUIRED.fullmatch(value), value
