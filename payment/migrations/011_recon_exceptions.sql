-- yw-payment, reconciliation (helper RECON): runs of a statement and the exceptions
-- finance staff resolve by maker-checker.

-- One row per statement that has been reconciled: when it first ran (the record) and
-- how often it ran since.
CREATE TABLE payment.recon_runs (
    statement_id  bigint PRIMARY KEY REFERENCES payment.statements (id),
    first_run_at  timestamptz NOT NULL DEFAULT now(),
    first_run_by  text NOT NULL,
    last_run_at   timestamptz NOT NULL DEFAULT now(),
    runs          integer NOT NULL DEFAULT 1
);

-- Every result that did not match opens one exception (AMOUNT_MISMATCH, CHANNEL_ONLY,
-- PLATFORM_ONLY; DEFERRED waits for the next day). A proposal (maker) and a decision by
-- another user (checker); an approval books the action as new journal entries in the
-- same transaction. The check below keeps the checker apart from the maker whoever
-- writes the row.
CREATE TABLE payment.recon_exceptions (
    id            bigserial PRIMARY KEY,
    statement_id  bigint NOT NULL REFERENCES payment.statements (id),
    channel       text NOT NULL,
    bill_date     date NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('PAY', 'REFUND')),
    key           text NOT NULL,
    dup           integer NOT NULL DEFAULT 0,
    class         text NOT NULL CHECK (class IN ('AMOUNT_MISMATCH', 'CHANNEL_ONLY', 'PLATFORM_ONLY')),
    out_trade_no  text NOT NULL,
    channel_fen   bigint,
    platform_fen  bigint,
    fee_fen       bigint NOT NULL DEFAULT 0,
    status        text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'PROPOSED', 'RESOLVED')),
    action        text CHECK (action IN ('BOOK', 'REFUND', 'WRITE_OFF')),
    note          text NOT NULL DEFAULT '',
    proposed_by   text,
    proposed_at   timestamptz,
    decided_by    text,
    decided_at    timestamptz,
    journal_ref   text,
    opened_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (statement_id, kind, key, dup),
    CHECK (status = 'OPEN' OR (action IS NOT NULL AND proposed_by IS NOT NULL)),
    CHECK (status <> 'RESOLVED' OR (decided_by IS NOT NULL AND decided_by <> proposed_by))
);
CREATE INDEX recon_exceptions_open_idx ON payment.recon_exceptions (opened_at, id)
    WHERE status <> 'RESOLVED';
