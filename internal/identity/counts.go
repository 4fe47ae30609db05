package identity

import (
	"context"
	"fmt"
)

// StateCounts counts the identities of every account by state, for the
// operator's metrics: keys are "verification:<status>", "dkim:<status>"
// and "mail_from:<status>" (identities with a custom MAIL FROM domain
// only).
func (s *Store) StateCounts(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for _, c := range []struct{ kind, column, where string }{
		{"verification", "verification_status", ""},
		{"dkim", "dkim_status", ""},
		{"mail_from", "mail_from_status", " WHERE mail_from_status <> ''"},
	} {
		rows, err := s.db.Query(ctx, `SELECT `+c.column+`, COUNT(*) FROM identities`+c.where+` GROUP BY `+c.column)
		if err != nil {
			return nil, fmt.Errorf("identity: count %s states: %w", c.kind, err)
		}
		for rows.Next() {
			var state string
			var n int64
			if err := rows.Scan(&state, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("identity: count %s states: %w", c.kind, err)
			}
			out[c.kind+":"+state] = n
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("identity: count %s states: %w", c.kind, err)
		}
	}
	return out, nil
}
