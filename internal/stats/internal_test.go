package stats

import (
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/event"
)

// AddTx runs one statement per distinct row: aggregate folds a batch into
// those rows first.
func TestAggregateFoldsABatch(t *testing.T) {
	s, err := New(Options{DB: &db.DB{}, Now: func() time.Time { return time.Unix(0, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 1, 10, 1, 0, 0, time.UTC)
	var events []*event.Event
	for i := range 100 {
		events = append(events, &event.Event{Type: event.Send, AccountID: "111122223333", ConfigurationSet: "cs",
			Mail: event.Mail{Timestamp: at.Add(time.Duration(i) * time.Second), MessageID: "m", SourceArn: "arn:aws:ses:us-east-1:111122223333:identity/example.com",
				Destination: []string{"a@one.test", "b@two.test", "success@simulator.amazonses.com"}}, Send: &event.SendDetails{}})
	}
	events = append(events, nil, &event.Event{Type: event.RenderingFailure, AccountID: "111122223333", Failure: &event.FailureDetails{ErrorMessage: "x"}})
	rows := s.aggregate(events, nil)
	// one.test and two.test are both Other (nothing resolved them); the
	// simulator recipient has a row of its own.
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2: %v", len(rows), rows)
	}
	for k, c := range rows {
		want := int64(200)
		if k.simulator {
			want = 100
		}
		if c[colSends] != want || k.identity != "example.com" || k.set != "cs" || k.bucket != db.Millis(at.Truncate(BucketSize)) {
			t.Errorf("row %+v: %v, want %d sends", k, c, want)
		}
	}
}
