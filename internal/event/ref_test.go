package event_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
)

// storeMessage writes the messages row (and its account) whose mail
// object events refer to, its mail_json as given.
func storeMessage(t *testing.T, d *db.DB, id, configurationSet string, mailJSON []byte) {
	t.Helper()
	ctx := context.Background()
	if _, err := d.Exec(ctx, `INSERT INTO accounts (id, name, created_at) VALUES (?, ?, 0) ON CONFLICT (id) DO NOTHING`, testAccount, "a"); err != nil {
		t.Fatal(err)
	}
	_, err := d.Exec(ctx, `INSERT INTO messages (id, account_id, source, mail_from, configuration_set, mail_json, size, created_at) VALUES (?, ?, 's', 'b@x.test', ?, ?, 0, 0)`,
		id, testAccount, configurationSet, string(mailJSON))
	if err != nil {
		t.Fatal(err)
	}
}

// TestAppendRefGolden: every golden event appended with AppendRef against
// its stored message reads back (List) byte for byte as MarshalJSON writes
// it and as its golden file says, whether its mail object is the stored
// one, the stored one with ses:outgoing-ip added (kept with the event),
// or another (stored whole); and whether the message's mail object was
// stored in its event form (MailJSON) or, before, in Mail's own encoding.
func TestAppendRefGolden(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		stored := testMail()
		wire, err := event.MailJSON(&stored, "cs1")
		if err != nil {
			t.Fatal(err)
		}
		// What deliver does: Load decodes the stored form, events are made
		// from what it decoded.
		decoded, err := event.DecodeMail(wire)
		if err != nil {
			t.Fatal(err)
		}
		old, err := json.Marshal(stored)
		if err != nil {
			t.Fatal(err)
		}
		forms := map[string]struct {
			json []byte
			base event.Mail
		}{"event-form": {wire, decoded}, "old-form": {old, stored}}
		cases := goldenCases()
		n, refs := 0, 0
		for _, form := range slices.Sorted(maps.Keys(forms)) {
			for _, name := range slices.Sorted(maps.Keys(cases)) {
				n++
				id := fmt.Sprintf("m%d", n)
				storeMessage(t, d, id, "cs1", forms[form].json)
				e := *cases[name]
				base := forms[form].base
				base.MessageID = id
				e.Mail.MessageID = id
				want, err := e.MarshalJSON()
				if err != nil {
					t.Fatal(err)
				}
				var ref bool
				err = d.InTx(ctx, func(tx *db.Tx) error {
					eid, err := event.AppendRef(ctx, tx, &e, &base, "cs1", at(time.Minute))
					if err != nil {
						return err
					}
					return tx.QueryRow(ctx, `SELECT mail_ref FROM events WHERE id = ?`, eid).Scan(&ref)
				})
				if err != nil {
					t.Fatalf("%s/%s: %v", form, name, err)
				}
				// The stored message's mail_json has the message id the
				// cases' mail objects have only after the rename above:
				// patch it in.
				if _, err := d.Exec(ctx, `UPDATE messages SET mail_json = REPLACE(mail_json, ?, ?) WHERE id = ?`, testMessageID, id, id); err != nil {
					t.Fatal(err)
				}
				got := list(t, d, 0, 1, "", id)
				if len(got) != 1 || string(got[0].Payload) != string(want) {
					t.Fatalf("%s/%s: read back\n%s\nwant\n%s", form, name, got[0].Payload, want)
				}
				// The golden file holds the original message id.
				checkGolden(t, "testdata/golden/"+name+".json", "AppendRef and List",
					[]byte(strings.ReplaceAll(string(got[0].Payload), id, testMessageID)))
				sameBase := e.ConfigurationSet == "cs1" && (e.Mail.Source == stored.Source && len(e.Mail.Headers) == len(stored.Headers))
				if ref {
					refs++
				}
				if ref != sameBase {
					t.Errorf("%s/%s: mail_ref %v, want %v", form, name, ref, sameBase)
				}
			}
		}
		if refs < 2*(len(cases)-1) {
			t.Errorf("%d of %d events refer to their message's mail object, want all but the minimal ones", refs, n)
		}
	})
}
