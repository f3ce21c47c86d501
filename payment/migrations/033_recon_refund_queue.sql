-- yw-payment, reconciliation: the refunds' pass's queue (finance.c, fin_refunds_send).
-- A refund to the payer the pass asked and could not end (the channel silent, a 429, an
-- unknown code, not done yet, an answer it cannot book) is pushed back, as the janitor's
-- rows are (030): misses counts those asks since the last answer and next_try_at (10 s
-- doubling, at most an hour) orders it after the rows never tried (NULL first); it is not
-- asked before then. An answer (SUCCESS, or FAILED: a retry approved later is asked at
-- once) starts again from NULL and 0. So one refund the channel never answers holds back
-- no other.
ALTER TABLE payment.recon_refunds ADD COLUMN next_try_at timestamptz,
                                  ADD COLUMN misses integer NOT NULL DEFAULT 0 CHECK (misses >= 0);
CREATE INDEX recon_refunds_queue ON payment.recon_refunds (channel, next_try_at NULLS FIRST, created_at)
    WHERE status = 'PENDING';
