-- The deep queue ([7/10]): the recipients of a message in one state, from
-- one index.
--
-- Finishing a message's last recipient drops its body only if none of its
-- recipients is still queued: NOT EXISTS (SELECT 1 FROM recipients WHERE
-- message_id = ? AND state = 'queued'). With recipients_message (message_id)
-- and recipients_due (state, next_attempt_at) the planner saw two indexes
-- of one equality each and, when its statistics did not say that nearly
-- every row is queued (none gathered yet after a bulk of new mail, or
-- gathered when the queue was nearly empty — autovacuum analyzes only
-- after 10% of a table has changed), PostgreSQL ANDed the two as bitmaps:
-- every queued row's entry read for each outcome, 47 ms at 200,000 queued
-- and more with every message in the backlog. One index on both columns
-- answers it with a single probe whatever the statistics say. It serves
-- everything recipients_message did (a message's recipients, the cascade
-- from messages) by its first column, so that one goes: no extra index
-- to maintain on each insert, and state is already indexed
-- (recipients_due), so outcomes lose no HOT updates.
CREATE INDEX recipients_message_state ON recipients(message_id, state);
DROP INDEX recipients_message;
