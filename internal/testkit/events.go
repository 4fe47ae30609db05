package testkit

import (
	"context"
	"slices"
	"testing"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/event"
)

// Events returns the stored events about message id, oldest first,
// decoded; skip leaves out events of those types (usually event.Send).
func Events(t testing.TB, q db.Querier, id string, skip ...event.Type) []*event.Event {
	t.Helper()
	st, err := event.List(context.Background(), q, 0, 1000, "", id)
	if err != nil {
		t.Fatal(err)
	}
	var out []*event.Event
	for _, s := range st {
		if slices.Contains(skip, s.Type) {
			continue
		}
		e, err := s.Event()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}
