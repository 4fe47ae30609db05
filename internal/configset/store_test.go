package configset_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/seal"
)

type fixture struct {
	ctx       context.Context
	s         *configset.Store
	d         *db.DB
	a, b      string            // two accounts
	topics    map[string]string // topic ARN → owning account
	validated []string          // "account topic" in order
}

func newFixture(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	box, err := seal.New("configset test secret")
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1_750_000_000_000)
	accts := account.New(d, box, func() time.Time { return now })
	f := &fixture{ctx: t.Context(), d: d, topics: map[string]string{}}
	for i, p := range []*string{&f.a, &f.b} {
		a, _, err := accts.Create(f.ctx, account.CreateOptions{Name: fmt.Sprintf("acct-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		*p = a.ID
	}
	f.s, err = configset.New(configset.Options{DB: d, Now: func() time.Time { return now }, Region: "us-east-1",
		TopicExists: func(_ context.Context, accountID, arn string) (bool, error) { return f.topics[arn] == accountID, nil },
		Validated: func(_ context.Context, accountID, arn string) error {
			f.validated = append(f.validated, accountID+" "+arn)
			return nil
		},
		// Account a has verified example.test; b nothing.
		DomainVerified: func(_ context.Context, accountID, domain string) (bool, error) {
			return accountID == f.a && (domain == "example.test" || strings.HasSuffix(domain, ".example.test")), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) topic(accountID, name string) string {
	arn := "arn:aws:sns:us-east-1:" + accountID + ":" + name
	f.topics[arn] = accountID
	return arn
}

func invalidKind(err error) string {
	var ie *configset.InvalidError
	if errors.As(err, &ie) {
		return ie.Kind
	}
	return fmt.Sprintf("not invalid: %v", err)
}

func TestSets(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		st := configset.NewSet(f.a, "marketing-1")
		st.TLSPolicy, st.MaxDeliverySeconds = "REQUIRE", 600
		st.SuppressedReasons = []string{"BOUNCE"}
		st.Tags = []configset.Tag{{Key: "team", Value: "growth"}}
		if err := f.s.Create(f.ctx, st); err != nil {
			t.Fatal(err)
		}
		got, err := f.s.Get(f.ctx, f.a, "marketing-1")
		if err != nil || !got.SendingEnabled || got.ReputationMetricsEnabled || got.TLSPolicy != "REQUIRE" || got.MaxDeliverySeconds != 600 ||
			!slices.Equal(got.SuppressedReasons, []string{"BOUNCE"}) || len(got.Tags) != 1 || got.Tags[0].Value != "growth" || got.CreatedAt.IsZero() {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		if err := f.s.Create(f.ctx, configset.NewSet(f.a, "marketing-1")); !errors.Is(err, configset.ErrAlreadyExists) {
			t.Fatalf("duplicate: %v", err)
		}
		// The same name in another account is another set.
		if err := f.s.Create(f.ctx, configset.NewSet(f.b, "marketing-1")); err != nil {
			t.Fatal(err)
		}
		// Without SuppressionOptions: nil reasons.
		plain, _ := f.s.Get(f.ctx, f.b, "marketing-1")
		if plain.SuppressedReasons != nil || plain.TLSPolicy != "" {
			t.Fatalf("plain set: %+v", plain)
		}

		// Validation, nothing written.
		for _, c := range []struct {
			set  configset.Set
			kind string
		}{
			{configset.NewSet(f.a, ""), configset.InvalidSet},
			{configset.NewSet(f.a, strings.Repeat("x", 65)), configset.InvalidSet},
			{configset.NewSet(f.a, "has space"), configset.InvalidSet},
			{configset.NewSet(f.a, "dot.ted"), configset.InvalidSet},
			{configset.Set{AccountID: f.a, Name: "ok", TLSPolicy: "MAYBE"}, configset.InvalidDelivery},
			{configset.Set{AccountID: f.a, Name: "ok", MaxDeliverySeconds: 299}, configset.InvalidDelivery},
			{configset.Set{AccountID: f.a, Name: "ok", MaxDeliverySeconds: 50401}, configset.InvalidDelivery},
			{configset.Set{AccountID: f.a, Name: "ok", SuppressedReasons: []string{"SPAM"}}, configset.InvalidOther},
			{configset.Set{AccountID: f.a, Name: "ok", Tags: []configset.Tag{{Key: "k"}, {Key: "k"}}}, configset.InvalidOther},
		} {
			if err := f.s.Create(f.ctx, c.set); invalidKind(err) != c.kind {
				t.Errorf("Create(%+v) = %v, want kind %s", c.set, err, c.kind)
			}
		}
		if err := f.s.Create(f.ctx, configset.NewSet(f.a, strings.Repeat("x", 64))); err != nil {
			t.Fatalf("64 characters: %v", err)
		}
		if _, err := f.s.Get(f.ctx, f.a, "ok"); !errors.Is(err, configset.ErrNotFound) {
			t.Fatalf("a refused set was stored: %v", err)
		}

		// Options.
		if err := f.s.SetSendingEnabled(f.ctx, f.a, "marketing-1", false); err != nil {
			t.Fatal(err)
		}
		if err := f.s.PutReputationOptions(f.ctx, f.a, "marketing-1", true); err != nil {
			t.Fatal(err)
		}
		if err := f.s.PutDeliveryOptions(f.ctx, f.a, "marketing-1", "OPTIONAL", 0); err != nil {
			t.Fatal(err)
		}
		if err := f.s.PutSuppressionOptions(f.ctx, f.a, "marketing-1", []string{}); err != nil {
			t.Fatal(err)
		}
		if err := f.s.PutDeliveryOptions(f.ctx, f.a, "marketing-1", "OPTIONAL", 10); invalidKind(err) != configset.InvalidDelivery {
			t.Fatalf("bad delivery options: %v", err)
		}
		got, _ = f.s.Get(f.ctx, f.a, "marketing-1")
		if got.SendingEnabled || !got.ReputationMetricsEnabled || got.TLSPolicy != "OPTIONAL" || got.MaxDeliverySeconds != 0 || got.SuppressedReasons == nil || len(got.SuppressedReasons) != 0 {
			t.Fatalf("after the Puts: %+v", got)
		}
		// B's set of the same name is untouched.
		if other, _ := f.s.Get(f.ctx, f.b, "marketing-1"); !other.SendingEnabled || other.ReputationMetricsEnabled {
			t.Fatalf("B's set changed: %+v", other)
		}
		// Unknown sets.
		for name, err := range map[string]error{
			"SetSendingEnabled":     f.s.SetSendingEnabled(f.ctx, f.a, "nope", true),
			"PutReputationOptions":  f.s.PutReputationOptions(f.ctx, f.a, "nope", true),
			"PutDeliveryOptions":    f.s.PutDeliveryOptions(f.ctx, f.a, "nope", "", 0),
			"PutSuppressionOptions": f.s.PutSuppressionOptions(f.ctx, f.a, "nope", nil),
			"Delete":                f.s.Delete(f.ctx, f.a, "nope"),
			"TagSet":                f.s.TagSet(f.ctx, f.a, "nope", []configset.Tag{{Key: "k"}}),
		} {
			if !errors.Is(err, configset.ErrNotFound) {
				t.Errorf("%s on an unknown set: %v", name, err)
			}
		}

		// Tags.
		if err := f.s.TagSet(f.ctx, f.a, "marketing-1", []configset.Tag{{Key: "team", Value: "ops"}, {Key: "env", Value: "prod"}}); err != nil {
			t.Fatal(err)
		}
		if err := f.s.UntagSet(f.ctx, f.a, "marketing-1", []string{"env", "missing"}); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.s.Get(f.ctx, f.a, "marketing-1"); len(got.Tags) != 1 || got.Tags[0] != (configset.Tag{Key: "team", Value: "ops"}) {
			t.Fatalf("tags: %+v", got.Tags)
		}

		// Listing and paging.
		for _, n := range []string{"b", "a", "c"} {
			if err := f.s.Create(f.ctx, configset.NewSet(f.a, n)); err != nil {
				t.Fatal(err)
			}
		}
		all, err := f.s.List(f.ctx, f.a)
		if err != nil || len(all) != 5 || all[0].Name != "a" {
			t.Fatalf("List = %d, %v", len(all), err)
		}
		var names []string
		token := ""
		for {
			page, next, err := f.s.ListNames(f.ctx, f.a, token, 2)
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, page...)
			if next == "" {
				break
			}
			token = next
		}
		if want := []string{"a", "b", "c", "marketing-1", strings.Repeat("x", 64)}; !slices.Equal(names, want) {
			t.Fatalf("pages = %v, want %v", names, want)
		}
		if _, _, err := f.s.ListNames(f.ctx, f.a, "garbage!", 2); invalidKind(err) != configset.InvalidOther {
			t.Fatalf("bad token: %v", err)
		}
		if bn, _, _ := f.s.ListNames(f.ctx, f.b, "", 50); !slices.Equal(bn, []string{"marketing-1"}) {
			t.Fatalf("B lists %v", bn)
		}

		// Delete.
		if err := f.s.Delete(f.ctx, f.a, "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Get(f.ctx, f.a, "a"); !errors.Is(err, configset.ErrNotFound) {
			t.Fatalf("after Delete: %v", err)
		}
		// B cannot delete A's set.
		if err := f.s.Delete(f.ctx, f.b, "b"); !errors.Is(err, configset.ErrNotFound) {
			t.Fatalf("B deleted A's set: %v", err)
		}
		if _, err := f.s.Get(f.ctx, f.a, "b"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDestinations(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		for _, acct := range []string{f.a, f.b} {
			if err := f.s.Create(f.ctx, configset.NewSet(acct, "cs")); err != nil {
				t.Fatal(err)
			}
		}
		topic := f.topic(f.a, "events")
		sns := configset.Destination{Name: "to-sns", Enabled: true, MatchingEventTypes: []string{"BOUNCE", "COMPLAINT", "BOUNCE"}, SNSTopicARN: topic}
		if err := f.s.CreateDestination(f.ctx, f.a, "cs", sns); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(f.validated, []string{f.a + " " + topic}) {
			t.Fatalf("validated = %v", f.validated)
		}
		cw := configset.Destination{Name: "to-cw", Enabled: false, MatchingEventTypes: []string{"SEND", "DELIVERY"},
			CloudWatch: []configset.Dimension{{Name: "ses:from-domain", Source: configset.SourceMessageTag, Default: "example.com"}}}
		if err := f.s.CreateDestination(f.ctx, f.a, "cs", cw); err != nil {
			t.Fatal(err)
		}
		ds, err := f.s.Destinations(f.ctx, d, f.a, "cs")
		if err != nil || len(ds) != 2 || ds[0].Name != "to-cw" || ds[1].Name != "to-sns" {
			t.Fatalf("Destinations = %+v, %v", ds, err)
		}
		if !slices.Equal(ds[1].MatchingEventTypes, []string{"BOUNCE", "COMPLAINT"}) || ds[1].SNSTopicARN != topic || ds[1].CloudWatch != nil {
			t.Fatalf("SNS destination read back: %+v", ds[1])
		}
		if ds[0].Enabled || len(ds[0].CloudWatch) != 1 || ds[0].CloudWatch[0] != cw.CloudWatch[0] || ds[0].SNSTopicARN != "" {
			t.Fatalf("CloudWatch destination read back: %+v", ds[0])
		}
		if !ds[1].Matches(event.Bounce) || ds[1].Matches(event.Send) || ds[0].Matches(event.Send) {
			t.Fatal("Matches")
		}
		if err := f.s.CreateDestination(f.ctx, f.a, "cs", sns); !errors.Is(err, configset.ErrAlreadyExists) {
			t.Fatalf("duplicate destination: %v", err)
		}

		// Validation: nothing stored, nothing published.
		f.validated = nil
		otherTopic := f.topic(f.b, "theirs")
		dims := func(n int) []configset.Dimension {
			var out []configset.Dimension
			for i := range n {
				out = append(out, configset.Dimension{Name: fmt.Sprintf("d%d", i), Source: configset.SourceEmailHeader, Default: "x"})
			}
			return out
		}
		for _, c := range []struct {
			d    configset.Destination
			kind string
		}{
			{configset.Destination{Name: "", MatchingEventTypes: []string{"SEND"}, SNSTopicARN: topic}, configset.InvalidOther},
			{configset.Destination{Name: "bad name", MatchingEventTypes: []string{"SEND"}, SNSTopicARN: topic}, configset.InvalidOther},
			{configset.Destination{Name: "n", SNSTopicARN: topic}, configset.InvalidOther},
			{configset.Destination{Name: "n", MatchingEventTypes: []string{"send"}, SNSTopicARN: topic}, configset.InvalidOther},
			{configset.Destination{Name: "n", MatchingEventTypes: []string{"SEND"}}, configset.InvalidOther},
			{configset.Destination{Name: "n", MatchingEventTypes: []string{"SEND"}, SNSTopicARN: topic, CloudWatch: dims(1)}, configset.InvalidOther},
			{configset.Destination{Name: "n", MatchingEventTypes: []string{"SEND"}, CloudWatch: dims(11)}, configset.InvalidCloudWatch},
			{configset.Destination{Name: "n", MatchingEventTypes: []string{"SEND"}, CloudWatch: []configset.Dimension{}}, configset.InvalidCloudWatch},
			{configset.Destination{Name: "n", MatchingEventTypes: []string{"SEND"}, CloudWatch: []configset.Dimension{{Name: "a b", Source: configset.SourceMessageTag, Default: "x"}}}, configset.InvalidCloudWatch},
			{configset.Destination{Name: "n", MatchingEventTypes: []string{"SEND"}, CloudWatch: []configset.Dimension{{Name: "a", Source: "messageTag", Default: "x"}}}, configset.InvalidCloudWatch},
			{configset.Destination{Name: "n", MatchingEventTypes: []string{"SEND"}, CloudWatch: []configset.Dimension{{Name: "a", Source: configset.SourceMessageTag}}}, configset.InvalidCloudWatch},
			{configset.Destination{Name: "n", MatchingEventTypes: []string{"SEND"}, SNSTopicARN: "not-an-arn"}, configset.InvalidSNS},
			{configset.Destination{Name: "n", MatchingEventTypes: []string{"SEND"}, SNSTopicARN: "arn:aws:sns:us-east-1:" + f.a + ":missing"}, configset.InvalidSNS},
			// Another account's topic does not exist for this one.
			{configset.Destination{Name: "n", MatchingEventTypes: []string{"SEND"}, SNSTopicARN: otherTopic}, configset.InvalidSNS},
		} {
			if err := f.s.CreateDestination(f.ctx, f.a, "cs", c.d); invalidKind(err) != c.kind {
				t.Errorf("CreateDestination(%+v) = %v, want kind %s", c.d, err, c.kind)
			}
		}
		if err := f.s.CreateDestination(f.ctx, f.a, "cs", configset.Destination{Name: "n", MatchingEventTypes: []string{"SEND"}, SNSTopicARN: "arn:aws:sns:us-east-1:" + f.a + ":missing"}); err == nil ||
			err.Error() != "SNS topic arn:aws:sns:us-east-1:"+f.a+":missing not found." {
			t.Errorf("missing topic message: %v", err)
		}
		if ds, _ := f.s.Destinations(f.ctx, d, f.a, "cs"); len(ds) != 2 || len(f.validated) != 0 {
			t.Fatalf("refused destinations left traces: %d destinations, validated %v", len(ds), f.validated)
		}
		if err := f.s.CreateDestination(f.ctx, f.a, "nope", sns); !errors.Is(err, configset.ErrNotFound) {
			t.Fatalf("on an unknown set: %v", err)
		}

		// Update: kind changes; unknown destination.
		upd := configset.Destination{Name: "to-cw", Enabled: true, MatchingEventTypes: []string{"REJECT"}, SNSTopicARN: topic}
		if err := f.s.UpdateDestination(f.ctx, f.a, "cs", upd); err != nil {
			t.Fatal(err)
		}
		if len(f.validated) != 1 {
			t.Fatalf("update did not validate the topic: %v", f.validated)
		}
		ds, _ = f.s.Destinations(f.ctx, d, f.a, "cs")
		if ds[0].Name != "to-cw" || ds[0].CloudWatch != nil || ds[0].SNSTopicARN != topic || !ds[0].Enabled || !slices.Equal(ds[0].MatchingEventTypes, []string{"REJECT"}) {
			t.Fatalf("after update: %+v", ds[0])
		}
		var nf *configset.NotFoundError
		if err := f.s.UpdateDestination(f.ctx, f.a, "cs", configset.Destination{Name: "ghost", MatchingEventTypes: []string{"SEND"}, SNSTopicARN: topic}); !errors.As(err, &nf) || nf.Destination != "ghost" {
			t.Fatalf("update unknown: %v", err)
		}

		// Isolation: B sees none of A's destinations and cannot touch them.
		if ds, err := f.s.Destinations(f.ctx, d, f.b, "cs"); err != nil || ds != nil {
			t.Fatalf("B's destinations: %+v, %v", ds, err)
		}
		if err := f.s.DeleteDestination(f.ctx, f.b, "cs", "to-sns"); !errors.As(err, &nf) || nf.Destination != "to-sns" {
			t.Fatalf("B deleting A's destination: %v", err)
		}
		if err := f.s.UpdateDestination(f.ctx, f.b, "cs", upd); !errors.Is(err, configset.ErrInvalid) {
			t.Fatalf("B updating with A's topic: %v", err)
		}
		if ds, _ := f.s.EventDestinations(f.ctx, f.b, "cs"); ds == nil || len(ds) != 0 {
			t.Fatalf("B's EventDestinations: %+v", ds)
		}
		if _, err := f.s.EventDestinations(f.ctx, f.b, "nope"); !errors.Is(err, configset.ErrNotFound) {
			t.Fatalf("EventDestinations of an unknown set: %v", err)
		}

		// Limit: 10 per set.
		for i := 2; i < configset.MaxDestinations; i++ {
			if err := f.s.CreateDestination(f.ctx, f.a, "cs", configset.Destination{Name: fmt.Sprintf("d%d", i), MatchingEventTypes: []string{"SEND"}, CloudWatch: dims(1)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.s.CreateDestination(f.ctx, f.a, "cs", configset.Destination{Name: "eleventh", MatchingEventTypes: []string{"SEND"}, CloudWatch: dims(1)}); !errors.Is(err, configset.ErrLimitExceeded) {
			t.Fatalf("11th destination: %v", err)
		}
		// A full set: a name in use is still "exists", not "limit".
		if err := f.s.CreateDestination(f.ctx, f.a, "cs", configset.Destination{Name: "d2", MatchingEventTypes: []string{"SEND"}, CloudWatch: dims(1)}); !errors.Is(err, configset.ErrAlreadyExists) {
			t.Fatalf("a name in use in a full set: %v", err)
		}

		// Delete the destination, then the set with its destinations.
		if err := f.s.DeleteDestination(f.ctx, f.a, "cs", "d2"); err != nil {
			t.Fatal(err)
		}
		if err := f.s.Delete(f.ctx, f.a, "cs"); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := d.QueryRow(f.ctx, `SELECT COUNT(*) FROM event_destinations WHERE account_id = ?`, f.a).Scan(&n); err != nil || n != 0 {
			t.Fatalf("destinations left after deleting the set: %d, %v", n, err)
		}
		// Re-created, the set starts without destinations.
		if err := f.s.Create(f.ctx, configset.NewSet(f.a, "cs")); err != nil {
			t.Fatal(err)
		}
		if ds, _ := f.s.Destinations(f.ctx, d, f.a, "cs"); ds != nil {
			t.Fatalf("re-created set has %+v", ds)
		}
	})
}

// TestNoTopicHook: without TopicExists every SNS destination is refused.
func TestNoTopicHook(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		s, err := configset.New(configset.Options{DB: d})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Create(f.ctx, configset.NewSet(f.a, "cs")); err != nil {
			t.Fatal(err)
		}
		err = s.CreateDestination(f.ctx, f.a, "cs", configset.Destination{Name: "n", MatchingEventTypes: []string{"SEND"}, SNSTopicARN: "arn:aws:sns:us-east-1:" + f.a + ":t"})
		if invalidKind(err) != configset.InvalidSNS {
			t.Fatalf("got %v", err)
		}
	})
}
