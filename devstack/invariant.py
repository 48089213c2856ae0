"""python -m devstack.invariant: do stock and purchases agree, for every disc?

For every disc:  initial stock + restocks = current stock + units of effective, not-cancelled
purchases  (and, inside the catalog, + units of granted reservations), with stock never
negative. A failed purchase is not effective and holds nothing (its reservation was released).
Prints every disc where that fails and exits 1; exits 0 when all agree.

Meant for a quiet system (after a load or a recovery): purchases still pending, cancelling or
failing hold units that no finished purchase accounts for yet, and are reported as such.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import psycopg2.extras

from services.catalog.model import ReservationState
from services.orders.model import UNFINISHED, PurchaseState
from services.runtime.queries import load_queries

QUERIES = load_queries(Path(__file__).with_name("invariant.sql"))


@dataclass(frozen=True)
class Violation:
    disc_id: str
    supplied: int  # initial stock + restocks
    stock: int
    sold: int  # units of effective, not-cancelled purchases
    reserved: int  # units of granted reservations

    def __str__(self) -> str:
        return (f"disc {self.disc_id}: initial+restocks={self.supplied} but stock={self.stock} + "
                f"sold={self.sold} = {self.stock + self.sold} (granted reservations: {self.reserved})")


@dataclass(frozen=True)
class Report:
    discs: int
    violations: list[Violation]
    unfinished: dict[str, int]

    @property
    def ok(self) -> bool:
        return not self.violations


def check(admin_url: str, disc_ids: list[str] | None = None) -> Report:
    """Reads both schemas (each query one schema: no cross-schema join) and compares per disc."""
    with psycopg2.connect(admin_url) as conn, conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
        # One snapshot for all reads, so a purchase cannot land between them.
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        cursor.execute(QUERIES["disc_stock"], {"disc_ids": disc_ids})
        discs = cursor.fetchall()
        cursor.execute(QUERIES["units_held_by_reservations"], {"granted": ReservationState.GRANTED.value})
        reserved = {row["disc_id"]: int(row["units"]) for row in cursor.fetchall()}
        cursor.execute(QUERIES["units_sold"], {"cancelled": PurchaseState.CANCELLED.value})
        sold = {row["disc_id"]: int(row["units"]) for row in cursor.fetchall()}
        cursor.execute(QUERIES["unfinished_purchases"], {"unfinished": sorted(s.value for s in UNFINISHED)})
        unfinished = {row["state"]: row["purchases"] for row in cursor.fetchall()}
    conn.close()
    violations = []
    for disc in discs:
        supplied = disc["initial_stock"] + disc["restocked"]
        entry = Violation(disc["disc_id"], supplied, disc["stock"], sold.get(disc["disc_id"], 0),
                          reserved.get(disc["disc_id"], 0))
        if disc["stock"] < 0 or supplied != entry.stock + entry.sold or supplied != entry.stock + entry.reserved:
            violations.append(entry)
    return Report(len(discs), violations, unfinished)


def main(argv=None) -> int:
    from .postgres import DATABASE, start_embedded
    from .processes import REPO_ROOT

    parser = argparse.ArgumentParser(prog="python -m devstack.invariant", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="superuser URL of the recordstore database "
                                               "(default: the embedded PostgreSQL of --data-dir)")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / ".data" / "postgres")
    parser.add_argument("--disc", action="append", dest="discs", help="check only this disc (repeatable)")
    args = parser.parse_args(argv)
    url = args.database_url
    if not url:
        url = start_embedded(args.data_dir).in_database(DATABASE).admin_url
    report = check(url, args.discs)
    for violation in report.violations:
        print(violation)
    for state, count in sorted(report.unfinished.items()):
        print(f"note: {count} purchase(s) still {state} (the recovery loop finishes them)")
    print(f"{'OK' if report.ok else 'FAILED'}: {report.discs} disc(s) checked, {len(report.violations)} violation(s)")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
