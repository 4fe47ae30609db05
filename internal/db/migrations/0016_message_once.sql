-- Each message stored once ([7/10] part 2).
--
-- A message's signed bytes get a table of their own: written at enqueue,
-- deleted (not rewritten) when the message's last queued recipient
-- finishes, so finishing a message no longer rewrites its messages row.
-- A message with no row here has no body to send ("body gone").
CREATE TABLE message_bodies (
    message_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    body {{BYTES}} NOT NULL
);
INSERT INTO message_bodies (message_id, body) SELECT id, body FROM messages WHERE length(body) > 0;
ALTER TABLE messages DROP COLUMN body;

-- An event about a stored message may leave its mail object out and
-- refer to the message's mail_json instead (mail_ref): its payload is then
-- the event JSON with the mail object's value cut out, and mail_tags the
-- tags (a JSON object, '' for none) the event's mail object has besides
-- the message's (ses:outgoing-ip after a delivery attempt). Readers splice
-- the two back together (event.List). Rows written before this migration
-- keep their full payloads (mail_ref false).
ALTER TABLE events ADD COLUMN mail_ref {{BOOL}} NOT NULL DEFAULT {{FALSE}};
ALTER TABLE events ADD COLUMN mail_tags TEXT NOT NULL DEFAULT '';
