-- The janitor's queue order (payment/README.md "Janitor"): a row it could not resolve
-- (its channel not configured or not answering, an error) is asked again only after
-- next_check_at, pushed back further each time (check_misses: 10 s doubling, at most an
-- hour), so such rows go to the back and never starve the others. A row the channel
-- answered for starts again from NULL (ask at once) and 0.
ALTER TABLE payment.orders ADD COLUMN next_check_at timestamptz,
                           ADD COLUMN check_misses int NOT NULL DEFAULT 0;
ALTER TABLE payment.refunds ADD COLUMN next_check_at timestamptz,
                            ADD COLUMN check_misses int NOT NULL DEFAULT 0;
CREATE INDEX orders_janitor ON payment.orders (next_check_at NULLS FIRST, updated_at)
    WHERE status IN ('PAYING', 'UNKNOWN', 'CLOSING');
CREATE INDEX refunds_janitor ON payment.refunds (next_check_at NULLS FIRST, created_at)
    WHERE status = 'PENDING';
