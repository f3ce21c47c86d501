-- yw-payment, reconciliation: a refund to the payer the channel refused (recon_refunds
-- FAILED, the money in refund_payable) is finance's to decide, maker-checker as the
-- exceptions are: RETRY (PENDING again: the refunds' pass asks the channel once more with
-- the same out_refund_no) or WRITE_OFF (journal recon_refund_writeoff: Dr refund_payable
-- / Cr suspense; WRITTEN_OFF). version is bumped by every proposal and rejection; the
-- checker names the proposal decided.
ALTER TABLE payment.recon_refunds DROP CONSTRAINT recon_refunds_status_check;
ALTER TABLE payment.recon_refunds ADD CONSTRAINT recon_refunds_status_check
    CHECK (status IN ('PENDING', 'SUCCESS', 'FAILED', 'WRITTEN_OFF'));
ALTER TABLE payment.recon_refunds
    ADD COLUMN action      text CHECK (action IN ('RETRY', 'WRITE_OFF')),
    ADD COLUMN note        text NOT NULL DEFAULT '',
    ADD COLUMN proposed_by text,
    ADD COLUMN proposed_at timestamptz,
    ADD COLUMN decided_by  text,
    ADD COLUMN decided_at  timestamptz,
    ADD COLUMN version     integer NOT NULL DEFAULT 1,
    ADD CONSTRAINT recon_refunds_checker_check CHECK (decided_by IS NULL OR decided_by <> proposed_by);
-- finance's queue: the refunds not done
CREATE INDEX recon_refunds_open ON payment.recon_refunds (created_at) WHERE status IN ('PENDING', 'FAILED');
