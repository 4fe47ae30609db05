-- send_counts gets a shard in its key: on PostgreSQL each group-commit
-- lane (db.Tx.Lane) adds to a row of its own, so concurrent admissions of
-- one account no longer wait for each other's lock on the one row of the
-- bucket until their COMMITs. SentSince sums the shards, still one range
-- of the primary key. SQLite, with its one writer, keeps shard 0 only.
-- The counts already kept become shard 0's.
CREATE TABLE send_counts_sharded (
    account_id TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    shard INTEGER NOT NULL,
    recipients BIGINT NOT NULL,
    PRIMARY KEY (account_id, bucket, shard)
);
INSERT INTO send_counts_sharded (account_id, bucket, shard, recipients)
    SELECT account_id, bucket, 0, recipients FROM send_counts;
DROP TABLE send_counts;
ALTER TABLE send_counts_sharded RENAME TO send_counts;
