-- yw-payment, reconciliation: the automatic pass's queue (finance.c, fin_recon_auto).
-- The pass takes the OPEN exceptions not acted on yet of its channel's current statements
-- of the last FIN_AUTO_DAYS days up to the day being run, not only that day's, so a row
-- the channel left unanswered, or one beyond a pass's FIN_AUTO_MAX, is taken by the next
-- run of any day. A row the pass asked about and could not act on (the channel silent, or
-- an answer it leaves alone) is pushed back, as the janitor's rows are (030): auto_tries
-- counts those attempts and auto_next_at (30 s doubling, at most a day) orders it after
-- the rows never tried (NULL first) and those due sooner, so stuck rows never hold the
-- head of the queue.
ALTER TABLE payment.recon_exceptions ADD COLUMN auto_tries integer NOT NULL DEFAULT 0
                                         CHECK (auto_tries >= 0),
                                     ADD COLUMN auto_next_at timestamptz;
CREATE INDEX recon_exceptions_auto_queue ON payment.recon_exceptions
    (channel, auto_next_at NULLS FIRST, id) WHERE status = 'OPEN' AND auto_action IS NULL;
