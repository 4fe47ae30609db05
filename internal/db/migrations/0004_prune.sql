-- Pruning ([3/6]): messages are forgotten by age once the feedback
-- retention window has passed.
CREATE INDEX messages_created ON messages(created_at);
