-- The ledger (payment/README.md, "Ledger"): double-entry, append-only. A journal is one
-- booked event, unique by (kind, ref) so an event is booked at most once; its postings
-- are signed fen (debit positive, credit negative) and sum to zero, checked at commit by
-- a deferred constraint trigger. Corrections are new journals, never updates.
CREATE TABLE payment.accounts (
    account    text PRIMARY KEY CHECK (account ~ '^[a-z_]+(:[A-Za-z0-9_.-]+)*$'),
    kind       text NOT NULL CHECK (kind IN ('asset', 'liability', 'expense', 'suspense')),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE payment.journal (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind ~ '^[a-z_]{1,32}$'),   -- pay, refund, settle, ...
    ref          text NOT NULL CHECK (length(ref) BETWEEN 1 AND 128),
    order_id     uuid,
    channel      text NOT NULL DEFAULT '',
    effective_at timestamptz NOT NULL,                             -- when it happened (the channel's time)
    booked_at    timestamptz NOT NULL DEFAULT now(),
    memo         text NOT NULL DEFAULT '',
    UNIQUE (kind, ref)
);
CREATE INDEX journal_order ON payment.journal (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX journal_channel_time ON payment.journal (channel, effective_at);

CREATE TABLE payment.postings (
    id         bigserial PRIMARY KEY,
    journal_id bigint NOT NULL REFERENCES payment.journal,
    account    text NOT NULL REFERENCES payment.accounts,
    amount_fen bigint NOT NULL CHECK (amount_fen <> 0)
);
CREATE INDEX postings_journal ON payment.postings (journal_id);
CREATE INDEX postings_account ON payment.postings (account);

CREATE TRIGGER accounts_no_change BEFORE UPDATE OR DELETE ON payment.accounts
    FOR EACH ROW EXECUTE FUNCTION payment.append_only();
CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON payment.accounts
    FOR EACH STATEMENT EXECUTE FUNCTION payment.append_only();
CREATE TRIGGER journal_no_change BEFORE UPDATE OR DELETE ON payment.journal
    FOR EACH ROW EXECUTE FUNCTION payment.append_only();
CREATE TRIGGER journal_no_truncate BEFORE TRUNCATE ON payment.journal
    FOR EACH STATEMENT EXECUTE FUNCTION payment.append_only();
CREATE TRIGGER postings_no_change BEFORE UPDATE OR DELETE ON payment.postings
    FOR EACH ROW EXECUTE FUNCTION payment.append_only();
CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON payment.postings
    FOR EACH STATEMENT EXECUTE FUNCTION payment.append_only();

-- At commit: a journal has at least two postings and they sum to zero.
CREATE FUNCTION payment.journal_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    j bigint;
    total numeric;
    n int;
BEGIN
    IF TG_TABLE_NAME = 'journal' THEN j := NEW.id; ELSE j := NEW.journal_id; END IF;
    SELECT coalesce(sum(amount_fen), 0), count(*) INTO total, n
      FROM payment.postings WHERE journal_id = j;
    IF n < 2 OR total <> 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'YW004',
            MESSAGE = format('journal %s does not balance: %s postings summing to %s fen', j, n, total);
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER journal_balanced AFTER INSERT ON payment.journal
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION payment.journal_balanced();
CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON payment.postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION payment.journal_balanced();
