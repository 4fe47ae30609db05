-- Messages the capture MX of `sesame dev` took ([9/10] part 1).
--
-- One row per SMTP transaction (a message to the recipients of one
-- domain): account_id and message_id name the message Sesame sent ('' when
-- the capture MX could not tell); recipients is a JSON array of the
-- envelope recipients; verdicts the JSON of capture.Verdicts, whose dkim,
-- spf and dmarc results are also columns. Pruned by age and count
-- (capture.Store.Prune).
CREATE TABLE captured_messages (
    id {{AUTOID}},
    account_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    mail_from TEXT NOT NULL,
    header_from TEXT NOT NULL,
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    dkim TEXT NOT NULL,
    spf TEXT NOT NULL,
    dmarc TEXT NOT NULL,
    verdicts TEXT NOT NULL,
    raw {{BYTES}} NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX captured_messages_account ON captured_messages (account_id, id);
CREATE INDEX captured_messages_received ON captured_messages (received_at);
