-- Orders for applications' fees (payment/app_fee.c): at most one order of an application
-- is open (not yet paid, closed or an exception) at a time, whoever writes; a second
-- request for the fee answers that order. Once it closes unpaid the fee can be ordered
-- again.
CREATE UNIQUE INDEX orders_one_open_per_application ON payment.orders (application_number)
    WHERE source = 'APPLICATION' AND status IN ('CREATED', 'PAYING', 'UNKNOWN', 'CLOSING');
ALTER TABLE payment.orders ADD CONSTRAINT orders_application_number
    CHECK ((source = 'APPLICATION') = (application_number ~ '^[0-9]{20}$'));
