"""What the OpenAPI document cannot state, for Schemathesis (tests/e2e/schemathesis.toml): each
exemption here is one rule, with its one reason, and nothing wider.

- Text with a character the pattern leaves to the services is not generated: an unassigned code
  point, or a refused character beyond U+FFFF (supplementary private use, tags, the ideographic
  variation selectors...). The services refuse it (INVALID_CHARACTERS); the document's pattern
  cannot say which code points are unassigned, nor spell the others so that every tool reads them
  (services/runtime/validation.py, text_pattern; docs/api.md, "Text").
- Three rules no JSON Schema can state answer 400 to a request the document allows; on those three
  operations a schema-valid request may be refused with that rule's reason, and with no other
  (`a_400_names_only_a_rule_no_schema_states` holds the 400 that positive_data_acceptance lets
  through there to that). The fuzzing and stateful phases do not generate such requests (the
  filters below); the coverage phase, which draws boundary values without hooks, does.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime

import schemathesis

from services.runtime.validation import _NOT_CATEGORIZED, _REFUSED_CATEGORIES

# Restocks in the run stay far below what a disc may hold: the cap is on the stock *after* the
# restock (MAX_STOCK, STOCK_LIMIT_EXCEEDED), which depends on the disc's stock at the time.
RESTOCK_CAP = 1000

# (operation, ErrorInfo reason, field) -> the one reason a schema-valid request gets that 400.
RULES_NO_SCHEMA_STATES = {
    ("GET /v1/purchases", "INVALID_FIELD", "end_time"):
        "a period's end_time must be after its start_time: a rule across two fields",
    ("POST /v1/discs/{id}:restock", "STOCK_LIMIT_EXCEEDED", "quantity"):
        "the cap is on the stock after the restock, which depends on the disc's stock at the time",
    ("POST /v1/purchases/{id}:cancel", "PURCHASE_NOT_EFFECTIVE", None):
        "a purchase that was not effective (REJECTED, as the stateful phase makes them) has nothing to cancel",
}


def beyond_the_pattern(char: str) -> bool:
    """Whether `char` is one the services refuse and the text pattern does not state."""
    if unicodedata.category(char) == "Cn":
        return True
    return ord(char) > 0xFFFF and (
        unicodedata.category(char) in _REFUSED_CATEGORIES or _NOT_CATEGORIZED.match(char) is not None
    )


def _unassigned(value) -> bool:
    """Whether any string in `value` (nested in lists and objects too) holds such a character."""
    if isinstance(value, str):
        return not value.isascii() and any(beyond_the_pattern(c) for c in value)
    if isinstance(value, dict):
        return any(_unassigned(k) or _unassigned(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unassigned(v) for v in value)
    return False


def _moment(text):
    try:
        return datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None


@schemathesis.hook
def filter_query(ctx, query):
    if not query:
        return True
    if _unassigned(query):
        return False
    # ListPurchases: end_time must be after start_time (a period is [start, end)).
    start, end = _moment(query.get("start_time")), _moment(query.get("end_time"))
    if start is None or end is None or (start.tzinfo is None) != (end.tzinfo is None):
        return True
    return end > start


@schemathesis.hook
def filter_body(ctx, body):
    if _unassigned(body):
        return False
    if ctx.operation.path.endswith(":restock") and isinstance(body, dict):
        quantity = body.get("quantity")
        return not (isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > RESTOCK_CAP)
    return True


@schemathesis.hook
def filter_path_parameters(ctx, path_parameters):
    return not _unassigned(path_parameters)


def _refusal(response) -> tuple[str | None, str | None]:
    """(the ErrorInfo reason, the BadRequest field) of an error body."""
    try:
        details = json.loads(response.text).get("details", [])
    except (ValueError, AttributeError):
        return None, None
    reason = next((d.get("reason") for d in details if d.get("@type", "").endswith("ErrorInfo")), None)
    violations = [v for d in details if d.get("@type", "").endswith("BadRequest") for v in d.get("field_violations", [])]
    return reason, (violations[0].get("field") if violations else None)


@schemathesis.check
def a_400_names_only_a_rule_no_schema_states(ctx, response, case):
    """On the operations of RULES_NO_SCHEMA_STATES, a schema-valid request answered 400 names that
    operation's rule: any other 400 is a request the document allows and the service refuses."""
    meta = case.meta
    if response.status_code != 400 or meta is None or not meta.generation.mode.is_positive:
        return None
    rules = {key: why for key, why in RULES_NO_SCHEMA_STATES.items() if key[0] == case.operation.label}
    if not rules:
        return None  # positive_data_acceptance itself refuses a 400 on every other operation
    reason, field = _refusal(response)
    if (case.operation.label, reason, field) not in rules:
        raise AssertionError(f"a schema-valid request was refused with {reason} on {field}, which is none of the "
                             f"rules no schema states: {sorted(why for why in rules.values())}")
    return None
