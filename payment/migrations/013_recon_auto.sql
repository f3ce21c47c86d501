-- yw-payment, reconciliation: the automatic part of a run (finance.c, fin_recon_auto).
-- After a run stores its results, the channel is asked about each channel-only payment
-- of ours and each platform-only payment past the cut-off, and the answer acted on once:
--   BOOK         the channel confirmed a payment of ours: booked as paid, row settled,
--                the exception RESOLVED by the system;
--   SUSPENSE     a row naming no order of ours, or one the channel does not confirm:
--                booked to suspense and settled, the exception left OPEN for finance to
--                refund or keep;
--   REVERSE      the channel has no payment the platform booked: the pay journal
--                reversed by a new journal, the order EXCEPTION, the exception RESOLVED;
--   CHANNEL_HAS  the channel has the platform's payment its statement lacks: noted, the
--                exception left OPEN.
-- auto_action is set once (NULL: not acted on yet, the next run asks again).
ALTER TABLE payment.recon_exceptions ADD COLUMN auto_action text
    CHECK (auto_action IN ('BOOK', 'SUSPENSE', 'REVERSE', 'CHANNEL_HAS'));
ALTER TABLE payment.recon_exceptions ADD COLUMN auto_at timestamptz;

-- REVERSE is an action of the system only.
ALTER TABLE payment.recon_exceptions DROP CONSTRAINT recon_exceptions_action_check;
ALTER TABLE payment.recon_exceptions ADD CONSTRAINT recon_exceptions_action_check
    CHECK (action IN ('BOOK', 'REFUND', 'WRITE_OFF', 'REVERSE'));

-- Maker-checker: resolved by another user than its proposer, or by the system acting on
-- the channel's own answer (BOOK, REVERSE), which no finance user proposes.
ALTER TABLE payment.recon_exceptions DROP CONSTRAINT recon_exceptions_check1;
ALTER TABLE payment.recon_exceptions ADD CONSTRAINT recon_exceptions_checker_check
    CHECK (status <> 'RESOLVED' OR (decided_by IS NOT NULL AND (decided_by <> proposed_by
        OR (auto_action IN ('BOOK', 'REVERSE') AND action = auto_action
            AND proposed_by = 'system' AND decided_by = 'system'))));

-- A payment the platform booked and the channel says it never took (a forged or wrong
-- notification) is reversed: the order goes PAID -> EXCEPTION. The allow-list of 001 is
-- kept under another name and extended (orders_guard calls the function by this name).
ALTER FUNCTION payment.order_transition_allowed(text, text) RENAME TO order_transition_allowed_001;
CREATE FUNCTION payment.order_transition_allowed(from_s text, to_s text) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$
    SELECT payment.order_transition_allowed_001(from_s, to_s) OR (from_s, to_s) = ('PAID', 'EXCEPTION')
$$;
