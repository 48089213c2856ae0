-- A purchase whose next step fails for a reason that will not go away (a total beyond bigint, a
-- reservation id the catalog refuses) used to stay 'pending' forever and abort every recovery
-- round. It now ends 'failed', with its reason, never effective. On the way it is 'failing':
-- the failure is decided (no settlement can confirm it any more) but its reservation is still
-- being released, which a retry or the recovery loop finishes, as with 'cancelling'.
ALTER TABLE orders.purchases
    ADD COLUMN failure_reason text,
    -- Failed recovery rounds that were not a passing outage: bounded, so no error loops forever.
    ADD COLUMN attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    DROP CONSTRAINT purchases_state_check,
    ADD CONSTRAINT purchases_state_check
        CHECK (state IN ('pending', 'confirmed', 'rejected', 'cancelling', 'cancelled', 'failing', 'failed')),
    DROP CONSTRAINT purchases_check1,
    ADD CONSTRAINT purchases_priced_when_settled
        CHECK ((state IN ('pending', 'failing', 'failed')) = (unit_price_cents IS NULL)),
    ADD CONSTRAINT purchases_failure_has_reason
        CHECK ((state IN ('failing', 'failed')) = (failure_reason IS NOT NULL));

DROP INDEX orders.purchases_unfinished;
CREATE INDEX purchases_unfinished ON orders.purchases (update_time)
    WHERE state IN ('pending', 'cancelling', 'failing');
