-- Fees (收费) of applications and their payment through unified payment (yw-payment).
--
-- At filing the application keeps the fee of the item version it pins (the catalog's
-- Item.fee.amount_fen when Item.fee.required and the item offers online payment, 网上支付;
-- a fee paid only at the counter is kept as 0; the catalog refuses a required fee of 0),
-- so a later version never changes what a running case costs. 0: no fee. Rows filed
-- before this migration have 0: they were never told of a fee online and complete as
-- before.
--
-- yw-payment's payment.order_paid fills fee_paid_at and fee_order_id (in the transaction
-- that records the event as processed); payment.refunded adds to fee_refunded_fen and,
-- when it refunds the whole fee before completion, makes the fee due again.
ALTER TABLE applications.applications
    ADD COLUMN fee_fen          bigint NOT NULL DEFAULT 0 CHECK (fee_fen >= 0),
    ADD COLUMN fee_order_id     text NOT NULL DEFAULT '' CHECK (char_length(fee_order_id) <= 40),
    ADD COLUMN fee_paid_fen     bigint NOT NULL DEFAULT 0 CHECK (fee_paid_fen >= 0),
    ADD COLUMN fee_paid_at      timestamptz,
    ADD COLUMN fee_refunded_fen bigint NOT NULL DEFAULT 0 CHECK (fee_refunded_fen >= 0);

-- Whoever writes: an application whose item has a fee is completed only once it is paid
-- (the service answers FAILED_PRECONDITION first; this is the database's own guard).
ALTER TABLE applications.applications
    ADD CONSTRAINT applications_fee_paid_before_completion
        CHECK (status <> 'completed' OR fee_fen = 0 OR fee_paid_at IS NOT NULL);
