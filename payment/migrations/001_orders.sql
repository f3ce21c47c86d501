-- Payment orders (payment/README.md): one row per order, its status changed only by
-- compare-and-set (UPDATE ... WHERE status = ANY(allowed)) and every change journalled
-- in order_events in the same transaction; a trigger refuses any change of status the
-- allow-list does not hold, whoever writes it.
CREATE TABLE payment.orders (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    notice_code        text NOT NULL UNIQUE CHECK (notice_code ~ '^[0-9]{20}$'),
    source             text NOT NULL CHECK (source IN ('NOTICE', 'APPLICATION')),
    application_number text NOT NULL DEFAULT '',
    status             text NOT NULL DEFAULT 'CREATED' CHECK (status IN ('CREATED', 'PAYING',
                           'PAID', 'UNKNOWN', 'CLOSING', 'CLOSED', 'EXCEPTION', 'REFUNDED')),
    amount_fen         bigint NOT NULL CHECK (amount_fen > 0),
    refunded_fen       bigint NOT NULL DEFAULT 0
                           CHECK (refunded_fen >= 0 AND refunded_fen <= amount_fen),
    payee_department   text NOT NULL,
    item_code          text NOT NULL,
    item_name          text NOT NULL,
    payer_name_enc     text NOT NULL,            -- AES-256-GCM hex (YW_PAYMENT_DATA_KEY), the order id as AAD
    payer_subject      text NOT NULL DEFAULT '',
    created_by         text NOT NULL,
    expires_at         timestamptz NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    paid_at            timestamptz,
    paid_channel       text,
    paid_out_trade_no  text,
    paid_transaction_id text,
    exception_reason   text NOT NULL DEFAULT ''
);
-- the janitor's work: orders not yet in a final state, by when they expire
CREATE INDEX orders_open ON payment.orders (expires_at)
    WHERE status IN ('CREATED', 'PAYING', 'UNKNOWN', 'CLOSING');
CREATE INDEX orders_payer ON payment.orders (payer_subject) WHERE payer_subject <> '';

-- The allow-list of transitions (research/payment.md section 8).
CREATE FUNCTION payment.order_transition_allowed(from_s text, to_s text) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$
    SELECT (from_s, to_s) IN (
        ('CREATED', 'PAYING'), ('CREATED', 'CLOSING'), ('CREATED', 'CLOSED'),
        ('PAYING', 'PAID'), ('PAYING', 'UNKNOWN'), ('PAYING', 'CLOSING'), ('PAYING', 'EXCEPTION'),
        ('UNKNOWN', 'PAYING'), ('UNKNOWN', 'PAID'), ('UNKNOWN', 'CLOSING'), ('UNKNOWN', 'EXCEPTION'),
        ('CLOSING', 'CLOSED'), ('CLOSING', 'PAID'), ('CLOSING', 'EXCEPTION'),
        ('CLOSED', 'EXCEPTION'),
        ('PAID', 'REFUNDED'),
        ('EXCEPTION', 'PAID'), ('EXCEPTION', 'CLOSED'), ('EXCEPTION', 'REFUNDED'))
$$;

CREATE FUNCTION payment.orders_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status <> OLD.status AND NOT payment.order_transition_allowed(OLD.status, NEW.status) THEN
        RAISE EXCEPTION USING ERRCODE = 'YW003',
            MESSAGE = format('order %s: %s -> %s is not an allowed transition', OLD.id, OLD.status, NEW.status);
    END IF;
    IF NEW.amount_fen <> OLD.amount_fen OR NEW.notice_code <> OLD.notice_code
       OR NEW.payee_department <> OLD.payee_department OR NEW.item_code <> OLD.item_code THEN
        RAISE EXCEPTION USING ERRCODE = 'YW003', MESSAGE = 'an order''s amount, code, payee and item never change';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER orders_guard BEFORE UPDATE ON payment.orders
    FOR EACH ROW EXECUTE FUNCTION payment.orders_guard();

-- Every transition, in the transaction that made it. Append-only.
CREATE TABLE payment.order_events (
    id          bigserial PRIMARY KEY,
    order_id    uuid NOT NULL REFERENCES payment.orders,
    from_status text NOT NULL,              -- '' for the creation
    to_status   text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    actor       text NOT NULL DEFAULT '',    -- an account id, 'channel:<name>' or 'janitor'
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_events_order ON payment.order_events (order_id, id);

CREATE FUNCTION payment.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'YW002', MESSAGE = format('%s is append-only', TG_TABLE_NAME);
END $$;
CREATE TRIGGER order_events_no_change BEFORE UPDATE OR DELETE ON payment.order_events
    FOR EACH ROW EXECUTE FUNCTION payment.append_only();
CREATE TRIGGER order_events_no_truncate BEFORE TRUNCATE ON payment.order_events
    FOR EACH STATEMENT EXECUTE FUNCTION payment.append_only();

-- One per order and channel attempt: the merchant order number (out_trade_no) the
-- channel knows. A retry on the same channel reuses the open one; switching channel
-- closes it first, so an order has at most one OPEN channel order.
CREATE TABLE payment.channel_orders (
    out_trade_no   text PRIMARY KEY CHECK (out_trade_no ~ '^[0-9]{22}$'),
    order_id       uuid NOT NULL REFERENCES payment.orders,
    attempt        int NOT NULL CHECK (attempt BETWEEN 1 AND 99),
    channel        text NOT NULL,
    mchid          text NOT NULL,
    amount_fen     bigint NOT NULL CHECK (amount_fen > 0),
    status         text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'CLOSED', 'PAID')),
    prepay_id      text NOT NULL DEFAULT '',
    code_url       text NOT NULL DEFAULT '',
    transaction_id text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (order_id, attempt)
);
CREATE UNIQUE INDEX channel_orders_one_open ON payment.channel_orders (order_id) WHERE status = 'OPEN';

-- The inbox of channel notifications: a notification id is processed once.
CREATE TABLE payment.notifications (
    channel         text NOT NULL,
    notification_id text NOT NULL,
    event_type      text NOT NULL,
    out_trade_no    text NOT NULL DEFAULT '',
    out_refund_no   text NOT NULL DEFAULT '',
    outcome         text NOT NULL,            -- PAID, EXCEPTION, NOOP, REFUND_BOOKED
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, notification_id)
);

-- Refunds: the amount is reserved on the order (refunded_fen) by compare-and-set on the
-- refundable amount the caller saw, then asked of the channel with out_refund_no (reused
-- on every retry), booked when the channel says SUCCESS.
CREATE TABLE payment.refunds (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    order_id      uuid NOT NULL REFERENCES payment.orders,
    out_refund_no text NOT NULL UNIQUE,
    out_trade_no  text NOT NULL REFERENCES payment.channel_orders,
    channel       text NOT NULL,
    amount_fen    bigint NOT NULL CHECK (amount_fen > 0),
    reason        text NOT NULL,
    status        text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SUCCESS', 'FAILED')),
    refund_id     text NOT NULL DEFAULT '',
    requested_by  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    succeeded_at  timestamptz
);
CREATE INDEX refunds_order ON payment.refunds (order_id);
CREATE INDEX refunds_pending ON payment.refunds (created_at) WHERE status = 'PENDING';

-- Privileged actions (refunds), in the transaction of the action. Append-only.
CREATE TABLE payment.audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    department text NOT NULL DEFAULT '',
    action     text NOT NULL,
    target     text NOT NULL,
    detail     text NOT NULL DEFAULT '',
    request_id text NOT NULL DEFAULT '',
    source_ip  text NOT NULL DEFAULT ''
);
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON payment.audit_log
    FOR EACH ROW EXECUTE FUNCTION payment.append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON payment.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION payment.append_only();
