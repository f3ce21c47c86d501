-- yw-payment, reconciliation (helper RECON): channel statements stored raw, their rows,
-- the results of matching them, and the exceptions finance staff resolve.
-- Money is bigint fen. Nothing here references the order tables: a statement row names
-- the merchant order number as the channel wrote it.

-- One statement file of a channel and day. The raw bytes are kept with their SHA-256;
-- the same file again is the same row. A newer file for the same day supersedes the
-- current one (superseded_by), so exactly one is current per channel and day.
CREATE TABLE payment.statements (
    id               bigserial PRIMARY KEY,
    channel          text NOT NULL CHECK (channel ~ '^[a-z0-9-]{1,32}$'),
    bill_date        date NOT NULL,
    sha256           text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    raw              bytea NOT NULL,
    source           text NOT NULL CHECK (source IN ('api', 'upload')),
    row_count        integer NOT NULL CHECK (row_count >= 0),
    pay_total_fen    bigint NOT NULL,
    refund_total_fen bigint NOT NULL,
    fee_total_fen    bigint NOT NULL,
    imported_by      text NOT NULL,
    imported_at      timestamptz NOT NULL DEFAULT now(),
    superseded_by    bigint REFERENCES payment.statements (id),
    UNIQUE (channel, bill_date, sha256)
);
CREATE UNIQUE INDEX statements_current_idx
    ON payment.statements (channel, bill_date) WHERE superseded_by IS NULL;

-- The parsed rows of a statement (loaded by COPY, never one INSERT per row), in the
-- transaction that inserts the statement. No foreign key: its check per row tripled the
-- time to load a million rows (bench/recon.sh); rows and results are written only by
-- payment/recon_db.c, under a statement id it has just inserted.
CREATE TABLE payment.statement_rows (
    statement_id   bigint NOT NULL,
    line           integer NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('PAY', 'REFUND')),
    success_time   timestamptz NOT NULL,
    out_trade_no   text NOT NULL,
    transaction_id text NOT NULL,
    out_refund_no  text NOT NULL DEFAULT '',
    order_fen      bigint NOT NULL,
    refund_fen     bigint NOT NULL,
    fee_fen        bigint NOT NULL,
    PRIMARY KEY (statement_id, line)
);

-- One result of matching a statement: a pair or a one-sided row, keyed by kind and
-- merchant number (out_trade_no or out_refund_no) and the pair's position among rows of
-- that key (dup). The first run's classification is the record: a later run inserts
-- only what is not there (ON CONFLICT DO NOTHING), so re-running a day changes nothing.
CREATE TABLE payment.recon_results (
    statement_id  bigint NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('PAY', 'REFUND')),
    key           text NOT NULL,
    dup           integer NOT NULL DEFAULT 0,
    class         text NOT NULL CHECK (class IN ('MATCHED', 'AMOUNT_MISMATCH',
                      'CHANNEL_ONLY', 'PLATFORM_ONLY', 'DEFERRED')),
    out_trade_no  text NOT NULL,
    channel_fen   bigint,          -- NULL when the statement lacks the row
    platform_fen  bigint,          -- NULL when the platform lacks it
    fee_fen       bigint NOT NULL DEFAULT 0,
    channel_line  integer,
    success_time  timestamptz NOT NULL,
    carried       boolean NOT NULL DEFAULT false,
    PRIMARY KEY (statement_id, kind, key, dup)
);
