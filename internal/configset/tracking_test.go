package configset_test

import (
	"errors"
	"testing"

	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

func TestTrackingOptions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		if err := f.s.Create(f.ctx, configset.NewSet(f.a, "news")); err != nil {
			t.Fatal(err)
		}
		get := func() *configset.Set {
			t.Helper()
			st, err := f.s.Get(f.ctx, f.a, "news")
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		if st := get(); st.Tracking != nil || st.TracksOpen || st.TracksClick {
			t.Fatalf("new set tracks: %+v", st)
		}

		// v1: Update and Delete need options; Create adds them once.
		if err := f.s.UpdateTrackingOptions(f.ctx, f.a, "news", configset.TrackingOptions{}); !errors.Is(err, configset.ErrNoTrackingOptions) {
			t.Errorf("Update without options = %v", err)
		}
		if err := f.s.DeleteTrackingOptions(f.ctx, f.a, "news"); !errors.Is(err, configset.ErrNoTrackingOptions) {
			t.Errorf("Delete without options = %v", err)
		}
		if err := f.s.CreateTrackingOptions(f.ctx, f.a, "news", configset.TrackingOptions{CustomRedirectDomain: "Track.Example.Test."}); err != nil {
			t.Fatal(err)
		}
		if st := get(); st.Tracking == nil || *st.Tracking != (configset.TrackingOptions{CustomRedirectDomain: "track.example.test"}) {
			t.Errorf("Tracking = %+v, want the normalised domain", st.Tracking)
		}
		if err := f.s.CreateTrackingOptions(f.ctx, f.a, "news", configset.TrackingOptions{}); !errors.Is(err, configset.ErrTrackingExists) {
			t.Errorf("second Create = %v", err)
		}

		// Bad domains and policies change nothing.
		for _, bad := range []configset.TrackingOptions{
			{CustomRedirectDomain: "other.test"},                 // not verified by a
			{CustomRedirectDomain: "track.example.test:8080"},    // not a domain name
			{CustomRedirectDomain: "a..example.test"},            // empty label
			{CustomRedirectDomain: "track.example.test/x"},       // a path
			{CustomRedirectDomain: "localhost"},                  // one label
			{HTTPSPolicy: "ALWAYS"},                              // unknown policy
			{CustomRedirectDomain: "-x.example.test"},            // leading hyphen
			{CustomRedirectDomain: "x.example.test\r\nX-Bad: 1"}, // header injection
		} {
			err := f.s.PutTrackingOptions(f.ctx, f.a, "news", &bad)
			if invalidKind(err) != configset.InvalidTracking {
				t.Errorf("Put(%+v) = %v, want InvalidTracking", bad, err)
			}
		}
		if st := get(); st.Tracking == nil || st.Tracking.CustomRedirectDomain != "track.example.test" {
			t.Errorf("after refusals Tracking = %+v", st.Tracking)
		}

		// v2 Put replaces; an empty Put clears.
		if err := f.s.PutTrackingOptions(f.ctx, f.a, "news", &configset.TrackingOptions{CustomRedirectDomain: "example.test", HTTPSPolicy: configset.HTTPSRequire}); err != nil {
			t.Fatal(err)
		}
		if st := get(); st.Tracking == nil || *st.Tracking != (configset.TrackingOptions{CustomRedirectDomain: "example.test", HTTPSPolicy: "REQUIRE"}) {
			t.Errorf("after Put Tracking = %+v", st.Tracking)
		}
		if err := f.s.PutTrackingOptions(f.ctx, f.a, "news", &configset.TrackingOptions{}); err != nil {
			t.Fatal(err)
		}
		if st := get(); st.Tracking != nil {
			t.Errorf("after an empty Put Tracking = %+v", st.Tracking)
		}

		// Another account's set is unknown, whatever the options.
		for _, err := range []error{
			f.s.PutTrackingOptions(f.ctx, f.b, "news", &configset.TrackingOptions{CustomRedirectDomain: "example.test"}),
			f.s.CreateTrackingOptions(f.ctx, f.b, "news", configset.TrackingOptions{}),
			f.s.DeleteTrackingOptions(f.ctx, f.b, "news"),
		} {
			if !errors.Is(err, configset.ErrNotFound) {
				t.Errorf("account b on a's set = %v, want ErrNotFound", err)
			}
		}

		// The destinations decide TracksOpen / TracksClick, and the cached
		// set sees their changes at once.
		dest := configset.Destination{Name: "opens", Enabled: true, MatchingEventTypes: []string{"OPEN", "SEND"}, SNSTopicARN: f.topic(f.a, "t")}
		if err := f.s.CreateDestination(f.ctx, f.a, "news", dest); err != nil {
			t.Fatal(err)
		}
		if st := get(); !st.TracksOpen || st.TracksClick {
			t.Errorf("with an OPEN destination: TracksOpen, TracksClick = %v, %v", st.TracksOpen, st.TracksClick)
		}
		dest.MatchingEventTypes = []string{"CLICK"}
		if err := f.s.UpdateDestination(f.ctx, f.a, "news", dest); err != nil {
			t.Fatal(err)
		}
		if st := get(); st.TracksOpen || !st.TracksClick {
			t.Errorf("with a CLICK destination: TracksOpen, TracksClick = %v, %v", st.TracksOpen, st.TracksClick)
		}
		dest.Enabled = false
		if err := f.s.UpdateDestination(f.ctx, f.a, "news", dest); err != nil {
			t.Fatal(err)
		}
		if st := get(); st.TracksOpen || st.TracksClick {
			t.Errorf("with a disabled destination: TracksOpen, TracksClick = %v, %v", st.TracksOpen, st.TracksClick)
		}
	})
}
