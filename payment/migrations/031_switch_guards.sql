-- A prepay in flight (payment/README.md "Pay"): the channel order's prepay may reach the
-- channel until prepay_until (twice the channel's timeout after it was sent). A close
-- the channel answers "not found" before then does not prove the order never existed
-- there: a switch of channel waits for it instead of taking the order as closed.
ALTER TABLE payment.channel_orders ADD COLUMN prepay_until timestamptz;
