-- The relay's view of the example: the three contexts' outboxes, inserts only (a retention job
-- deleting published rows must not produce events). Apply after booking.sql, seats.sql and
-- ticketing.sql. Idempotent. relay.yaml names it as source.publication.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'flight_booking') THEN
        CREATE PUBLICATION flight_booking
            FOR TABLE booking.outbox, seats.outbox, ticketing.outbox
            WITH (publish = 'insert');
    END IF;
END
$$;
