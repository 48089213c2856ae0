-- The subject (`sub` of the buyer's token) a purchase was made by: a customer sees and cancels
-- the purchases of its own subject only. The customers service binds a subject to one customer
-- and answers another's customer as NOT_FOUND, so a purchase's subject is its customer's.
-- Purchases from before tokens have none, and only the staff sees them.
ALTER TABLE orders.purchases ADD COLUMN customer_subject text;
-- A customer's own listing, newest first, as list_purchases pages it.
CREATE INDEX purchases_subject_create_time ON orders.purchases (customer_subject, create_time, id)
    WHERE customer_subject IS NOT NULL;
