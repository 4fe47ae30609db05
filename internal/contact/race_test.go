package contact

import (
	"context"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestTopicRemovedDuringContactWrite: an UpdateContactList that removes a
// topic while a CreateContact with a preference for that topic is between
// its check and its commit leaves no preference for the removed topic
// behind. The contact's transaction is held open (in Options.Changed)
// while the list is updated from another goroutine.
func TestTopicRemovedDuringContactWrite(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		const acct = "111122223333"
		if _, err := d.Exec(ctx, `INSERT INTO accounts (id, name, created_at) VALUES (?, ?, 0)`, acct, "a"); err != nil {
			t.Fatal(err)
		}
		updated := make(chan error, 1)
		var s *Store
		hold := func(ctx context.Context, tx *db.Tx, c Change) error {
			if c.New == nil || len(c.New.Preferences) == 0 {
				return nil
			}
			go func() {
				updated <- s.UpdateList(context.Background(), acct, "l", nil, []Topic{{TopicName: "deals", DisplayName: "Deals", DefaultSubscriptionStatus: OptIn}})
			}()
			// Give the update time to run to its end if nothing stops it.
			select {
			case err := <-updated:
				updated <- err
			case <-time.After(500 * time.Millisecond):
			}
			return nil
		}
		var err error
		s, err = New(Options{DB: d, Changed: hold})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateList(ctx, acct, List{Name: "l", Topics: []Topic{
			{TopicName: "news", DisplayName: "News", DefaultSubscriptionStatus: OptIn},
			{TopicName: "deals", DisplayName: "Deals", DefaultSubscriptionStatus: OptIn}}}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateContact(ctx, acct, "l", ContactInput{Address: "a@example.test", Preferences: []Preference{{TopicName: "news", SubscriptionStatus: OptOut}}}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-updated:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("UpdateList did not finish")
		}
		c, err := s.GetContact(ctx, acct, "l", "a@example.test")
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Preferences) != 0 || len(c.Defaults) != 1 {
			t.Errorf("after the topic's removal the contact has preferences %+v, defaults %+v; want none and deals' default", c.Preferences, c.Defaults)
		}
	})
}
