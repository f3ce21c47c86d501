-- yw-payment, reconciliation: which run of its statement stored a result (1 the first,
-- a re-run's new keys the next number). The matched rows a run stored are settled by one
-- journal (kind settle, ref <channel>:<statement id>:run:<run>; payment/recon_db.c), not
-- one per row: a 1,000,000-row statement is one settlement journal, and a re-run finds
-- the runs already settled by their journals' refs.
--
-- Results stored before this migration keep run 0: their rows were settled one journal
-- per row (refs <channel>:<kind>:<key>, then <channel>:<statement id>:<kind>:<key>),
-- and a later run never settles them again; a statement replacing theirs reverses those
-- journals too.
ALTER TABLE payment.recon_results ADD COLUMN run integer NOT NULL DEFAULT 0 CHECK (run >= 0);
ALTER TABLE payment.recon_results ALTER COLUMN run SET DEFAULT 1;
