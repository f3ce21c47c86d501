-- Supervision (电子监察) as the applications service's job marked it
-- (application.supervision_changed): the colour, as the lower-cased names of
-- yiwang.progress.v1.Supervision, and the time of the event that set it.
ALTER TABLE progress.applications
    ADD COLUMN supervision text NOT NULL DEFAULT 'supervision_none'
        CHECK (supervision IN ('supervision_none', 'on_time', 'due_soon', 'overdue')),
    ADD COLUMN supervision_ms bigint NOT NULL DEFAULT 0;
