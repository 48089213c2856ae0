-- With several orders replicas, each one's recovery loop sees the same unfinished purchases.
-- Their steps are conditional on state, so none can be settled twice, but two loops on one
-- purchase would send the catalog the same calls twice and log each other's work as failures
-- (a settlement that matched nothing). A lease makes one replica at a time work on a purchase:
-- taken just before its turn, for a bound on that turn's work, given back after it; a replica
-- that dies holding one only delays the purchase until the lease runs out.
-- A table of its own rather than columns of purchases: a purchase row keeps its shape (the
-- records are built from it as is), and only purchases being recovered have a row here.
CREATE TABLE orders.recovery_leases (
    purchase_id  uuid        PRIMARY KEY REFERENCES orders.purchases (id) ON DELETE CASCADE,
    leased_until timestamptz NOT NULL,
    leased_by    text        NOT NULL  -- the replica's name (host and pid): whose loop is on it
);
