-- Staff lockouts that follow one another grow (identity.c, login_by_password): a lockout
-- set within YW_LOCKOUT_MAX_S of the end of the previous one lasts twice as long, up to
-- YW_LOCKOUT_MAX_S, so guessing a password and a second factor is bounded per day, not
-- only per YW_LOCKOUT_S. lock_streak counts the lockouts in a row, last_lock_end is the
-- end of the latest (kept once it has passed, unlike locked_until); a full login
-- clears both.
ALTER TABLE identity.staff
    ADD COLUMN lock_streak   int NOT NULL DEFAULT 0 CHECK (lock_streak >= 0),
    ADD COLUMN last_lock_end timestamptz;
