-- Order by the producer's outbox, not by the sender's clock: each application keeps the
-- outbox position (yw_event.seq, the applications outbox's id) of the last status
-- event and of the last supervision marking it applied. Of a key's events the later
-- append has the greater position whichever copy of yw-applications wrote it and
-- whatever its clock said; every copy of one event (a relay's retry, a replay) has the
-- same. An event before the kept position changes nothing; the one at it writes what
-- it wrote again (a replay repairs a row gone wrong); a later one applies. The clocks
-- (last_event_ms, supervision_ms, steps.at) stay for display and for entries relayed
-- before the stream carried seq.
--
-- Existing rows: their state is taken as applied, at position 0, before every event
-- with a position; an event without one (seq 0, from a relay before this change)
-- applies by its clock as before, and only while the row has taken none with a position.
ALTER TABLE progress.applications
    ADD COLUMN last_seq bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    ADD COLUMN supervision_seq bigint NOT NULL DEFAULT 0 CHECK (supervision_seq >= 0);

-- The timeline in the outbox's order (steps of events without a position, 0, first, in
-- the order they were consumed).
ALTER TABLE progress.steps
    ADD COLUMN source_seq bigint NOT NULL DEFAULT 0 CHECK (source_seq >= 0);
DROP INDEX progress.steps_number_idx;
CREATE INDEX steps_number_idx ON progress.steps (number, source_seq, seq);
