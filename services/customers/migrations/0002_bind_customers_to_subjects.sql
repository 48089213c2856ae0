-- A customer who signed up is bound to the subject (`sub`) of the identity provider's token it
-- signed up with: that token, and no other, acts as this customer. One customer per subject.
-- Customers the staff registered (and those from before sign-up existed) have none.
ALTER TABLE customers.customers ADD COLUMN subject text;
CREATE UNIQUE INDEX customers_subject_key ON customers.customers (subject);
