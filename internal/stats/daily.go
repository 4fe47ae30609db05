package stats

import (
	"context"
	"fmt"
	"time"

	"github.com/sesame-email/sesame/internal/db"
)

// DailyRow is one UTC day's counts of one sending identity, configuration
// set and ISP.
type DailyRow struct {
	Day                 time.Time // 00:00 UTC
	Identity, Set, ISP  string
	Simulator           bool
	Sends, Deliveries   int64
	PermanentBounces    int64
	TransientBounces    int64
	Complaints, Rejects int64
}

// Daily returns accountID's counts from the UTC day of since to now, per
// day, sending identity, configuration set and ISP, mailbox-simulator
// recipients included (in rows of their own, Simulator set), ordered by
// day: the rows BatchGetMetricData sums, for a dashboard that breaks them
// down several ways at once.
func (s *Store) Daily(ctx context.Context, accountID string, since time.Time) ([]DailyRow, error) {
	day := Day.Milliseconds()
	rows, err := s.db.Query(ctx, `SELECT bucket / `+fmt.Sprint(day)+`, identity, configuration_set, isp, simulator,
			SUM(sends), SUM(deliveries), SUM(permanent_bounces), SUM(transient_bounces), SUM(complaints), SUM(rejects)
		FROM send_stats WHERE account_id = ? AND bucket >= ? AND bucket <= ?
		GROUP BY bucket / `+fmt.Sprint(day)+`, identity, configuration_set, isp, simulator
		ORDER BY 1, 2, 3, 4, 5`, accountID, db.Millis(since.UTC().Truncate(Day)), db.Millis(s.now()))
	if err != nil {
		return nil, fmt.Errorf("stats: daily counts of account %s: %w", accountID, err)
	}
	defer rows.Close()
	var out []DailyRow
	for rows.Next() {
		var r DailyRow
		var d int64
		if err := rows.Scan(&d, &r.Identity, &r.Set, &r.ISP, &r.Simulator, &r.Sends, &r.Deliveries, &r.PermanentBounces,
			&r.TransientBounces, &r.Complaints, &r.Rejects); err != nil {
			return nil, fmt.Errorf("stats: daily counts of account %s: %w", accountID, err)
		}
		r.Day = db.Time(d * day)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("stats: daily counts of account %s: %w", accountID, err)
	}
	return out, nil
}
