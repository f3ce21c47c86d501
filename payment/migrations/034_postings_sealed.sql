-- A journal's postings are fixed once the journal is committed: a posting may be added
-- only by the transaction that writes its journal (or one of that transaction's
-- savepoints). Append-only rows alone would let a later transaction add a balanced pair
-- to an old journal, changing what it booked; a correction is a new journal instead.
-- The journal row's inserting transaction must still be in progress: a row visible to
-- us whose inserter is in progress can only be our own transaction's. Its xmin is
-- widened to a full transaction id with the current epoch (it can only be older), as
-- ledger.c does for the accounts it caches.
CREATE FUNCTION payment.posting_in_its_journal_tx() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    x bigint;
    cur bigint := pg_current_xact_id()::text::bigint;
BEGIN
    SELECT j.xmin::text::bigint INTO x FROM payment.journal j WHERE j.id = NEW.journal_id;
    IF x IS NULL THEN
        RETURN NEW; -- no such journal: the foreign key refuses it
    END IF;
    IF pg_xact_status((greatest((cur >> 32) - (x > (cur & 4294967295))::int, 0) << 32 | x)::text::xid8)
       IS DISTINCT FROM 'in progress' THEN
        RAISE EXCEPTION USING ERRCODE = 'YW002',
            MESSAGE = format('journal %s is committed: its postings are fixed (a correction is a new journal)',
                             NEW.journal_id);
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER postings_in_their_journal_tx BEFORE INSERT ON payment.postings
    FOR EACH ROW EXECUTE FUNCTION payment.posting_in_its_journal_tx();
