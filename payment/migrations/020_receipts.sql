-- Fiscal e-receipts (财政电子票据, payment/receipts.c): one BLUE receipt for each paid
-- order, one RED (冲红) for each refund that succeeded, referring to the order's BLUE one.
-- Issued by yw-payment's periodic pass, each in a transaction of its own; the unique
-- indexes make a second one for the same order or refund impossible, whoever writes.
--
-- A receipt's content is the canonical JSON its signature covers (it names the payer):
-- kept only encrypted (AES-256-GCM under YW_PAYMENT_DATA_KEY, the receipt's number as
-- associated data); the columns beside it are what lookups and constraints need.

-- The last sequence given out per issuer and year (Asia/Shanghai): the number is
-- issuer || '-' || year || '-' || lpad(last, 10). The upsert holds the row until the
-- receipt commits: numbers are distinct and a rolled back issue gives its number back.
CREATE TABLE payment.receipt_sequences (
    issuer text NOT NULL,
    year   text NOT NULL CHECK (year ~ '^[0-9]{4}$'),
    last   bigint NOT NULL CHECK (last BETWEEN 1 AND 9999999999),
    PRIMARY KEY (issuer, year)
);

CREATE TABLE payment.receipts (
    number          text PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('BLUE', 'RED')),
    order_id        uuid NOT NULL REFERENCES payment.orders,
    refund_id       uuid REFERENCES payment.refunds,
    original_number text REFERENCES payment.receipts (number),
    issuer          text NOT NULL,
    year            text NOT NULL CHECK (year ~ '^[0-9]{4}$'),
    amount_fen      bigint NOT NULL CHECK (amount_fen > 0),
    content_enc     text NOT NULL,
    signature       text NOT NULL,
    issued_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'BLUE') = (refund_id IS NULL)),
    CHECK ((kind = 'RED') = (original_number IS NOT NULL)),
    UNIQUE (issuer, year, number)
);
CREATE UNIQUE INDEX receipts_one_per_order ON payment.receipts (order_id) WHERE kind = 'BLUE';
CREATE UNIQUE INDEX receipts_one_per_refund ON payment.receipts (refund_id) WHERE kind = 'RED';
CREATE INDEX receipts_order ON payment.receipts (order_id, number);

-- A receipt is never changed nor removed: a correction is a RED receipt.
CREATE TRIGGER receipts_no_change BEFORE UPDATE OR DELETE ON payment.receipts
    FOR EACH ROW EXECUTE FUNCTION payment.append_only();
CREATE TRIGGER receipts_no_truncate BEFORE TRUNCATE ON payment.receipts
    FOR EACH STATEMENT EXECUTE FUNCTION payment.append_only();
ALTER TABLE payment.receipts OWNER TO yw_payment_ledger;
REVOKE ALL ON payment.receipts FROM yw_payment_writer;
GRANT SELECT, INSERT ON payment.receipts TO yw_payment_writer;
GRANT SELECT, INSERT, UPDATE ON payment.receipt_sequences TO yw_payment_writer;
