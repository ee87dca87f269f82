DROP TRIGGER audit_events_webhook_fanout ON audit_events;
DROP FUNCTION webhook_fanout();
DROP TABLE webhook_deliveries;
DROP TABLE webhook_subscriptions;
DROP TABLE webhooks;
