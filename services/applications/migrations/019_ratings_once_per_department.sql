-- 好差评: a channel's (or hall's) rating is one per rater, channel, hall and department a
-- day; the item is a detail of that one rating. The index of 003 also keyed the item, so
-- a resident could post any number of ratings of one department a day by varying it.
-- Ratings given before this migration stay as they are (they were counted): the new index
-- covers the rows after the last one that would break it (normally every row).
DROP INDEX applications.ratings_once_a_day;
DO $$
DECLARE
    n bigint;
BEGIN
    SELECT COALESCE(max(r.id), 0) INTO n FROM applications.ratings r
     WHERE r.application_number IS NULL AND EXISTS (
           SELECT 1 FROM applications.ratings o
            WHERE o.application_number IS NULL AND o.id < r.id
              AND o.rater_subject = r.rater_subject AND o.channel = r.channel
              AND o.hall_code = r.hall_code AND o.department = r.department AND o.day = r.day);
    EXECUTE format('CREATE UNIQUE INDEX ratings_once_a_day ON applications.ratings'
                   ' (rater_subject, channel, hall_code, department, day)'
                   ' WHERE application_number IS NULL AND id > %s', n);
END $$;
