-- Payments of fees that yw-payment's reconciliation reversed (payment.order_reversed:
-- the channel never had the money the platform booked), one row per order, written in
-- the transaction that records the event as processed (services/applications/fees.c).
--
-- effect says what the reversal did here:
--   due_again        the order had paid the fee of a running application: the fee's
--                    payment was cleared, so the fee is due again (a new order pays it)
--   after_completion the order had paid the fee of an application already completed (or
--                    otherwise ended): the payment stays recorded (the CHECK of migration
--                    020 holds a completed fee paid) and the department was alerted
--   not_recorded     the order had paid nothing here (another order paid the fee, or the
--                    reversal was read before the order's payment.order_paid): nothing
--                    changed, and a payment.order_paid of this order read later is not
--                    recorded
CREATE TABLE applications.fee_reversals (
    order_id       text PRIMARY KEY CHECK (char_length(order_id) BETWEEN 1 AND 40),
    application_id bigint NOT NULL REFERENCES applications.applications (id),
    amount_fen     bigint NOT NULL CHECK (amount_fen > 0),
    effect         text NOT NULL CHECK (effect IN ('due_again', 'after_completion', 'not_recorded')),
    reason         text NOT NULL CHECK (char_length(reason) <= 200),
    reversed_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fee_reversals_application ON applications.fee_reversals (application_id);
