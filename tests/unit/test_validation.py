import unicodedata

import pytest

from recordstore.rules.v1.rules_pb2 import FieldRules

from services.runtime import rules
from services.runtime.errors import InvalidArgument
from services.runtime.validation import clean_text, shown


def require_text(field: str, value: str, max_length: int = 200) -> str:
    """A REQUIRED text field, as the services read it (runtime/rules.py)."""
    return rules.string(value, field, FieldRules(text=True, max_length=max_length), required=True)


def optional_text(field: str, value: str, max_length: int = 200) -> str | None:
    """An optional text field, as the services read it."""
    return rules.string(value, field, FieldRules(text=True, max_length=max_length))


@pytest.mark.parametrize("text", [
    "João Gilberto", "Björk", "Sigur Rós", "坂本龍一", "فيروز", "עידן רייכל", "Белая гвардия",
    "Guitar 🎸 Heroes", "Family 👨‍👩‍👧 Album", "❤️‍🔥", "👍🏽", "می‌خواهم", "Don’t Stop – Live",
    "Ólafur\u00a0Arnalds",  # a no-break space is a space one can see
    "葛\U000e0100飾",  # an ideographic variation selector picks a glyph of the character before it
])
def test_legitimate_text_passes_unchanged(text):
    assert require_text("name", text) == text


def test_text_is_stored_in_nfc_and_trimmed():
    decomposed = unicodedata.normalize("NFD", "  João Conceição ")
    assert decomposed != " João Conceição".strip()
    assert require_text("name", decomposed) == "João Conceição"


def test_length_counts_normalized_characters():
    decomposed = unicodedata.normalize("NFD", "ã" * 10)  # 20 code points, 10 characters in NFC
    assert require_text("name", decomposed, max_length=10) == "ã" * 10
    with pytest.raises(InvalidArgument) as caught:
        require_text("name", "ã" * 11, max_length=10)
    assert caught.value.field == "name"


@pytest.mark.parametrize("text, char", [
    ("\u200b\u200b", "\u200b"),                 # only zero-width spaces
    ("Ana\u202eazuoS", "\u202e"),               # RIGHT-TO-LEFT OVERRIDE
    ("\u2066Ana\u2069", "\u2066"),              # LEFT-TO-RIGHT ISOLATE
    ("Ana\u200fSouza", "\u200f"),               # RIGHT-TO-LEFT MARK
    ("\ufeffTitle", "\ufeff"),                  # BOM
    ("Soft\u00adhyphen", "\u00ad"),
    ("Two\nlines", "\n"),
    ("Tab\tbed", "\t"),
    ("Bell\x07", "\x07"),
    ("Line\u2028separator", "\u2028"),
    ("Private \ue000 use", "\ue000"),
    ("Unassigned \U000e0080", "\U000e0080"),
    ("Tag\U000e0041 smuggled", "\U000e0041"),
    ("\u200dJoined at the edge", "\u200d"),
    ("Joined \u200d to a space", "\u200d"),
    ("Two\u200d\u200djoiners", "\u200d"),
    ("Persian\u200c", "\u200c"),
    # Blank by themselves: a name of them looks like no name (or like another with spaces).
    ("\u3164", "\u3164"),                       # HANGUL FILLER
    ("\u2800\u2800", "\u2800"),                 # BRAILLE PATTERN BLANK
    ("Ana\u115fSouza", "\u115f"),               # HANGUL CHOSEONG FILLER
    ("\u1160", "\u1160"),                       # HANGUL JUNGSEONG FILLER
    ("Ana \uffa0", "\uffa0"),                   # HALFWIDTH HANGUL FILLER
    ("A\u034fna", "\u034f"),                    # COMBINING GRAPHEME JOINER
    ("A\u17b4", "\u17b4"),                      # KHMER VOWEL INHERENT AQ
    ("\U0001d159", "\U0001d159"),               # MUSICAL SYMBOL NULL NOTEHEAD
    ("\ufe0f", "\ufe0f"),                       # a variation selector of nothing
    ("Ana \ufe0f", "\ufe0f"),                   # of a space
    ("Ana\ufe0f\ufe0e", "\ufe0e"),              # of a variation selector
])
def test_invisible_and_control_characters_are_refused(text, char):
    with pytest.raises(InvalidArgument) as caught:
        require_text("disc.title", text)
    assert (caught.value.field, caught.value.reason) == ("disc.title", "INVALID_CHARACTERS")
    assert f"U+{ord(char):04X}" in caught.value.description


def test_empty_after_trimming_is_required_and_optional_text_is_none():
    for blank in ("", "   ", "\u3000"):
        with pytest.raises(InvalidArgument) as caught:
            require_text("name", blank)
        assert caught.value.description == "is required"
        assert optional_text("phone", blank) is None
    assert clean_text("artist", "  ") == ""
    assert optional_text("phone", " +55 11 5555-0000 ") == "+55 11 5555-0000"
    with pytest.raises(InvalidArgument):
        optional_text("phone", "+55\u200b11")


def test_a_value_quoted_in_an_error_is_cut_short():
    assert shown("abc") == "'abc'"
    long = shown("x" * 5000)
    assert len(long) < 80 and "5000 characters" in long
