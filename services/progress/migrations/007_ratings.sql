-- 好差评: the level the applicant rated an application with (application.rated of
-- yw-applications), counted by GetStatistics as satisfaction; NULL until rated.
ALTER TABLE progress.applications
    ADD COLUMN rating_level text CHECK (rating_level IN ('VERY_SATISFIED', 'SATISFIED',
        'BASICALLY_SATISFIED', 'DISSATISFIED', 'VERY_DISSATISFIED'));
