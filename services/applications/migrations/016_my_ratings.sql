-- A resident's own ratings, newest first (ListMyRatings): one range of (rater, id).
CREATE INDEX ratings_by_rater ON applications.ratings (rater_subject, id);
