package readiness

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/stats"
)

// Unsubscribe is the one-click unsubscribe check's evidence: counts of
// messages whose From domain is the report's, sent in the window.
type Unsubscribe struct {
	Window string    `json:"window"`
	Since  time.Time `json:"since"`
	// Messages is how many messages.
	Messages int64 `json:"messages"`
	// OneClick carried List-Unsubscribe with an https URL and
	// List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058).
	OneClick int64 `json:"oneClick"`
	// NotHTTPS counts the OneClick messages whose URL is plain http (RFC
	// 8058 wants https: a Sesame whose public URL is http).
	NotHTTPS int64 `json:"notHttps,omitempty"`
	// ListUnsubscribeOnly carried List-Unsubscribe without one-click.
	ListUnsubscribeOnly int64 `json:"listUnsubscribeOnly"`
	// PeakDay is the most sends (recipients) of one day (24 hours from
	// the window's start), from the send statistics of the domain's
	// identities, and Bulk whether it reached BulkDailyVolume.
	PeakDay int64 `json:"peakDay"`
	Bulk    bool  `json:"bulk"`
	// Truncated counts messages whose stored headers were cut short (the
	// fields may have been left out).
	Truncated int64 `json:"truncated,omitempty"`
}

// storedMail is the part of a stored mail object the count reads.
type storedMail struct {
	HeadersTruncated bool           `json:"headersTruncated"`
	Headers          []event.Header `json:"headers"`
}

// unsubscribe counts the unsubscribe fields of the domain's recent mail,
// read from the stored mail objects (messages.mail_json): their headers
// are the message's, with the fields Sesame adds for
// ListManagementOptions. Messages are found by their ses:from-domain tag
// with a LIKE on the JSON: the pattern is the tag's exact JSON, which no
// JSON string (a header value) can contain, since its quotes would be
// escaped there. Only mail objects that mention List-Unsubscribe at all
// (in any case) are decoded. buckets are the domain's send statistics of the window.
func (e *Evaluator) unsubscribe(ctx context.Context, r *Report, buckets []stats.IdentityBucket) error {
	since := r.At.Add(-UnsubscribeWindow)
	u := Unsubscribe{Window: UnsubscribeWindow.String(), Since: since}
	days := make([]int64, int(UnsubscribeWindow/(24*time.Hour))+1)
	for _, b := range buckets {
		if d := int(b.Start.Sub(since) / (24 * time.Hour)); d >= 0 && d < len(days) {
			days[d] += b.Sends
		}
	}
	for _, n := range days {
		u.PeakDay = max(u.PeakDay, n)
	}
	u.Bulk = u.PeakDay >= BulkDailyVolume
	tag, _ := json.Marshal(map[string][]string{event.TagFromDomain: {r.Domain}})
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	like := "%" + esc.Replace(strings.TrimSuffix(strings.TrimPrefix(string(tag), "{"), "}")) + "%"
	rows, err := e.opts.DB.Query(ctx, `SELECT mail_json FROM messages
		WHERE account_id = ? AND created_at >= ? AND created_at <= ? AND system = ? AND mail_json LIKE ? ESCAPE '\'`,
		r.AccountID, db.Millis(since), db.Millis(r.At), false, like)
	if err != nil {
		return fmt.Errorf("readiness: messages of %s: %w", r.Domain, err)
	}
	defer rows.Close()
	for rows.Next() {
		var js string
		if err := rows.Scan(&js); err != nil {
			return fmt.Errorf("readiness: messages of %s: %w", r.Domain, err)
		}
		u.Messages++
		if !containsFold(js, "list-unsubscribe") && !strings.Contains(js, `"headersTruncated":true`) {
			continue
		}
		var m storedMail
		if err := json.Unmarshal([]byte(js), &m); err != nil {
			return fmt.Errorf("readiness: a message of %s: %w", r.Domain, err)
		}
		if m.HeadersTruncated {
			u.Truncated++
		}
		lu, post := "", ""
		for _, h := range m.Headers {
			switch {
			case strings.EqualFold(h.Name, "List-Unsubscribe"):
				lu = h.Value
			case strings.EqualFold(h.Name, "List-Unsubscribe-Post"):
				post = h.Value
			}
		}
		switch {
		case lu == "":
		case strings.Contains(lu, "<http") && strings.TrimSpace(post) == "List-Unsubscribe=One-Click":
			u.OneClick++
			if !strings.Contains(lu, "<https://") {
				u.NotHTTPS++
			}
		default:
			u.ListUnsubscribeOnly++
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("readiness: messages of %s: %w", r.Domain, err)
	}
	r.Unsubscribe = u
	return nil
}

// containsFold reports whether s contains the ASCII lower-case sub in any
// case (header field names are case-insensitive), without copying s.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}
