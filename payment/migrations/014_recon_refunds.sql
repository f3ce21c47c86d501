-- yw-payment, reconciliation: money finance decided to give back (an exception's REFUND:
-- a stranger's payment, a second payment, an amount's excess) is asked of the channel.
-- One row per approved refund, not tied to a platform order (payment.refunds reserves
-- against an order's paid amount and debits treasury_payable: this money was never the
-- treasury's). The approval writes it PENDING with the refund_payable journal; the
-- channel is asked outside any transaction with the same out_refund_no until it answers
-- (a retry is a no-op at the channel); SUCCESS books journal recon_refund
-- (Dr refund_payable / Cr channel_receivable), a refusal ends FAILED (the money stays in
-- refund_payable for finance).
CREATE TABLE payment.recon_refunds (
    out_refund_no text PRIMARY KEY CHECK (out_refund_no ~ '^[A-Za-z0-9_-]{6,32}$'),
    exception_id  bigint NOT NULL UNIQUE REFERENCES payment.recon_exceptions (id),
    channel       text NOT NULL,
    out_trade_no  text NOT NULL,                -- the channel's trade the money came with
    amount_fen    bigint NOT NULL CHECK (amount_fen > 0),
    total_fen     bigint NOT NULL CHECK (total_fen >= amount_fen),
    status        text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SUCCESS', 'FAILED')),
    refund_id     text NOT NULL DEFAULT '',
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    answered_at   timestamptz
);
CREATE INDEX recon_refunds_pending ON payment.recon_refunds (created_at) WHERE status = 'PENDING';
