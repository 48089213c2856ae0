-- The bounds the service checks on the way in, held by the table as well.
--
-- A price is at most MAX_PRICE_CENTS (services/runtime/money.py: a trillion units, 1e14 cents),
-- so that the total of any purchase fits bigint. Older rows above it could only come from probing
-- that very overflow (no record costs a trillion): they are brought down to the maximum instead
-- of being left behind a NOT VALID constraint, under which every later UPDATE of the row (a
-- restock, a reservation) would fail the check.
UPDATE catalog.discs SET price_cents = 100000000000000 WHERE price_cents > 100000000000000;
ALTER TABLE catalog.discs ADD CONSTRAINT discs_price_cents_max CHECK (price_cents <= 100000000000000);

-- Stock never holds a unit that did not come in: what is on hand is at most the initial stock
-- plus the restocks (equal when nothing is out in a reservation). The cap of MAX_STOCK units
-- (services/catalog/model.py) cannot be a CHECK on stock: ReleaseStock gives back units sold
-- before a restock to the cap, and a cancellation must not fail for that. Restocks are held to
-- it in their UPDATE (queries.sql, restock_disc); the benchmark seeds discs above it on purpose.
ALTER TABLE catalog.discs ADD CONSTRAINT discs_stock_came_in CHECK (stock <= initial_stock + restocked);
