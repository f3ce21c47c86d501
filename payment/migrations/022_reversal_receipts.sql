-- yw-payment, e-receipts of a payment reversed by reconciliation (finance.c: the channel
-- never took it, the pay journal is negated by a pay_reversal journal and the order goes
-- PAID -> EXCEPTION). Its BLUE receipt was issued already; the receipts pass issues the
-- RED counterpart for the whole amount, naming the BLUE one (receipts.c). Such a RED
-- receipt refers to no refund: a RED receipt names a refund or, at most one per order,
-- the reversal.
ALTER TABLE payment.receipts DROP CONSTRAINT receipts_check;
ALTER TABLE payment.receipts ADD CONSTRAINT receipts_blue_has_no_refund
    CHECK (kind = 'RED' OR refund_id IS NULL);
CREATE UNIQUE INDEX receipts_one_reversal_per_order ON payment.receipts (order_id)
    WHERE kind = 'RED' AND refund_id IS NULL;
