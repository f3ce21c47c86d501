-- What a privileged write changed beyond its target, for the writes that need more than
-- the action to be read later: a move between departments records "from -> to".
ALTER TABLE catalog.audit_log ADD COLUMN detail text NOT NULL DEFAULT '';
