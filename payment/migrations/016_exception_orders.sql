-- yw-payment, finance's queue of orders in EXCEPTION (FinanceService.ListOrders): found
-- by their status without reading every order.
CREATE INDEX orders_exception ON payment.orders (updated_at) WHERE status = 'EXCEPTION';
