"""The OpenAPI document's text pattern says what clean_text does, wherever it states anything:
every Latin-1 character, alone, inside, around and at the ends of a text."""

import re

import pytest

from services.runtime.errors import InvalidArgument
from services.runtime.validation import clean_text, text_pattern

OPTIONAL, REQUIRED = re.compile(text_pattern(required=False)), re.compile(text_pattern(required=True))


def accepted(value: str) -> tuple[bool, bool]:
    """(clean_text takes it, and it is not empty once cleaned)."""
    try:
        return True, bool(clean_text("f", value, 1000))
    except InvalidArgument:
        return False, False


@pytest.mark.parametrize("code", range(0x100))
def test_pattern_and_code_agree_on_every_latin1_character(code):
    char = chr(code)
    for value in (char, f"a{char}b", f"{char}ab", f"ab{char}", f"{char}{char}", f" {char} "):
        takes, not_empty = accepted(value)
        assert bool(OPTIONAL.fullmatch(value)) == takes, repr(value)
        assert bool(REQUIRED.fullmatch(value)) == (takes and not_empty), repr(value)


@pytest.mark.parametrize("value", ["João Gilberto", "坂本龍一", "Family 👨\u200d👩\u200d👧", "\u3000x\u3000"])
def test_text_beyond_latin1_that_the_services_take_matches_too(value):
    assert accepted(value)[0] and REQUIRED.fullmatch(value), value
