package stats

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/db"
)

// IdentityBucket is the sends and complaints of one statistics bucket.
type IdentityBucket struct {
	Start             time.Time
	Sends, Complaints int64
}

// IdentityBuckets returns, oldest first, the buckets of [since, now] in
// which mail of accountID sent as one of identities, or as an address
// identity at addressDomain ("" for none), has sends or complaints,
// mailbox-simulator recipients left out (as Totals does; the same whole
// buckets). Statistics are kept per sending identity, so mail from a
// subdomain that a domain identity covers counts as that identity's.
func (s *Store) IdentityBuckets(ctx context.Context, accountID string, identities []string, addressDomain string, since time.Time) ([]IdentityBucket, error) {
	var match []string
	args := []any{accountID}
	first := bucketOf(since)
	if first < db.Millis(since) {
		first += BucketSize.Milliseconds()
	}
	args = append(args, first, db.Millis(s.now()), false)
	for _, id := range identities {
		match = append(match, `identity = ?`)
		args = append(args, id)
	}
	if addressDomain != "" {
		match = append(match, `identity LIKE ? ESCAPE '\'`)
		r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
		args = append(args, "%@"+r.Replace(addressDomain))
	}
	if len(match) == 0 {
		return nil, nil
	}
	q := `SELECT bucket, COALESCE(SUM(sends), 0), COALESCE(SUM(complaints), 0) FROM send_stats
		WHERE account_id = ? AND bucket >= ? AND bucket <= ? AND simulator = ? AND (` + strings.Join(match, ` OR `) + `)
		GROUP BY bucket ORDER BY bucket`
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("stats: buckets of %v: %w", identities, err)
	}
	defer rows.Close()
	var out []IdentityBucket
	for rows.Next() {
		var b IdentityBucket
		var ms int64
		if err := rows.Scan(&ms, &b.Sends, &b.Complaints); err != nil {
			return nil, fmt.Errorf("stats: buckets of %v: %w", identities, err)
		}
		b.Start = time.UnixMilli(ms).UTC()
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("stats: buckets of %v: %w", identities, err)
	}
	return out, nil
}
