-- yw-payment, reconciliation: the exceptions of a statement that another file of the same
-- channel and day replaced are SUPERSEDED (never proposed, approved or listed as open:
-- the current statement's exception for the same row is the one to resolve), and a
-- proposal carries a version the checker must name (a rejected and re-proposed
-- exception is not approved on what the checker saw before).

-- The table's unnamed checks: status OPEN or a proposal; RESOLVED by another user.
ALTER TABLE payment.recon_exceptions DROP CONSTRAINT recon_exceptions_status_check;
ALTER TABLE payment.recon_exceptions DROP CONSTRAINT recon_exceptions_check;
ALTER TABLE payment.recon_exceptions ADD CONSTRAINT recon_exceptions_status_check
    CHECK (status IN ('OPEN', 'PROPOSED', 'RESOLVED', 'SUPERSEDED'));
ALTER TABLE payment.recon_exceptions ADD CONSTRAINT recon_exceptions_proposal_check
    CHECK (status IN ('OPEN', 'SUPERSEDED') OR (action IS NOT NULL AND proposed_by IS NOT NULL));

-- Bumped by every proposal, rejection and re-evaluation (finance.c).
ALTER TABLE payment.recon_exceptions ADD COLUMN version integer NOT NULL DEFAULT 0;

DROP INDEX payment.recon_exceptions_open_idx;
CREATE INDEX recon_exceptions_open_idx ON payment.recon_exceptions (opened_at, id)
    WHERE status IN ('OPEN', 'PROPOSED');
