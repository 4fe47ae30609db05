package configset

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/sesame-email/sesame/internal/addr"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/event"
)

// InvalidTracking is the kind of a rejected TrackingOptions (v1
// InvalidTrackingOptions).
const InvalidTracking = "Tracking"

// ErrTrackingExists and ErrNoTrackingOptions are v1's
// TrackingOptionsAlreadyExistsException and
// TrackingOptionsDoesNotExistException, returned wrapped in a
// *TrackingError.
var (
	ErrTrackingExists    = errors.New("configset: tracking options exist")
	ErrNoTrackingOptions = errors.New("configset: no tracking options")
)

// TrackingError is a v1 TrackingOptions call on a set that has them
// (Exists) or has none. It matches ErrTrackingExists or
// ErrNoTrackingOptions.
type TrackingError struct {
	Set    string
	Exists bool
}

func (e *TrackingError) Error() string {
	if e.Exists {
		return fmt.Sprintf("Tracking options already exist for configuration set %s.", e.Set)
	}
	return fmt.Sprintf("Tracking options do not exist for configuration set %s.", e.Set)
}

// Is makes errors.Is match ErrTrackingExists or ErrNoTrackingOptions.
func (e *TrackingError) Is(target error) bool {
	return e.Exists && target == ErrTrackingExists || !e.Exists && target == ErrNoTrackingOptions
}

// validateTracking checks t (nil is none) and normalises its domain:
// HttpsPolicy one of SES's three, CustomRedirectDomain a domain name as
// addr.Domain reads it and covered by a verified domain identity of the
// account (DomainVerified).
func (s *Store) validateTracking(ctx context.Context, accountID string, t *TrackingOptions) error {
	if t == nil {
		return nil
	}
	if t.HTTPSPolicy != "" && !slices.Contains([]string{HTTPSRequire, HTTPSRequireOpenOnly, HTTPSOptional}, t.HTTPSPolicy) {
		return invalid(InvalidTracking, "TrackingOptions.HttpsPolicy", "Invalid TrackingOptions.HttpsPolicy %q: must be REQUIRE, REQUIRE_OPEN_ONLY or OPTIONAL.", t.HTTPSPolicy)
	}
	if t.CustomRedirectDomain == "" {
		return nil
	}
	d, err := addr.Domain(t.CustomRedirectDomain)
	if err != nil {
		return invalid(InvalidTracking, "TrackingOptions.CustomRedirectDomain", "Invalid TrackingOptions.CustomRedirectDomain: %v.", err)
	}
	ok := false
	if s.opts.DomainVerified != nil {
		if ok, err = s.opts.DomainVerified(ctx, accountID, d); err != nil {
			return fmt.Errorf("configset: check the custom redirect domain %s: %w", d, err)
		}
	}
	if !ok {
		return invalid(InvalidTracking, "TrackingOptions.CustomRedirectDomain",
			"Invalid TrackingOptions.CustomRedirectDomain %q: the domain must be a verified domain identity of this account (or a subdomain of one).", t.CustomRedirectDomain)
	}
	t.CustomRedirectDomain = d
	return nil
}

// trackingColumns are t's two columns: NULL and ” when t is nil.
func trackingColumns(t *TrackingOptions) (redirect any, policy string) {
	if t == nil {
		return nil, ""
	}
	return t.CustomRedirectDomain, t.HTTPSPolicy
}

// readTracks fills st.TracksOpen and st.TracksClick from its enabled
// event destinations.
func (s *Store) readTracks(ctx context.Context, st *Set) error {
	ds, err := s.Destinations(ctx, s.db, st.AccountID, st.Name)
	if err != nil {
		return err
	}
	for _, d := range ds {
		st.TracksOpen = st.TracksOpen || d.Matches(event.Open)
		st.TracksClick = st.TracksClick || d.Matches(event.Click)
	}
	return nil
}

// PutTrackingOptions sets the set's TrackingOptions (v2
// PutConfigurationSetTrackingOptions): nil, or options with neither a
// domain nor a policy, removes them, as an empty Put does in SES.
func (s *Store) PutTrackingOptions(ctx context.Context, accountID, name string, t *TrackingOptions) error {
	if t != nil && *t == (TrackingOptions{}) {
		t = nil
	}
	return s.writeTracking(ctx, accountID, name, t, nil)
}

// CreateTrackingOptions adds TrackingOptions to a set that has none (v1
// CreateConfigurationSetTrackingOptions); a set that has them is a
// *TrackingError (ErrTrackingExists).
func (s *Store) CreateTrackingOptions(ctx context.Context, accountID, name string, t TrackingOptions) error {
	return s.writeTracking(ctx, accountID, name, &t, func(st *Set) error {
		if st.Tracking != nil {
			return &TrackingError{Set: name, Exists: true}
		}
		return nil
	})
}

// UpdateTrackingOptions replaces a set's TrackingOptions (v1
// UpdateConfigurationSetTrackingOptions); a set without them is a
// *TrackingError (ErrNoTrackingOptions).
func (s *Store) UpdateTrackingOptions(ctx context.Context, accountID, name string, t TrackingOptions) error {
	return s.writeTracking(ctx, accountID, name, &t, needTracking(name))
}

// DeleteTrackingOptions removes a set's TrackingOptions (v1
// DeleteConfigurationSetTrackingOptions); a set without them is a
// *TrackingError (ErrNoTrackingOptions).
func (s *Store) DeleteTrackingOptions(ctx context.Context, accountID, name string) error {
	return s.writeTracking(ctx, accountID, name, nil, needTracking(name))
}

func needTracking(name string) func(st *Set) error {
	return func(st *Set) error {
		if st.Tracking == nil {
			return &TrackingError{Set: name}
		}
		return nil
	}
}

// writeTracking checks that the set exists, validates t, then, in one transaction on the locked set,
// runs check (when not nil) and writes t.
func (s *Store) writeTracking(ctx context.Context, accountID, name string, t *TrackingOptions, check func(st *Set) error) error {
	if _, err := GetIn(ctx, s.db, accountID, name); err != nil {
		return err // another account's set is unknown, before its options are judged
	}
	if err := s.validateTracking(ctx, accountID, t); err != nil {
		return err
	}
	redirect, policy := trackingColumns(t)
	return s.update(ctx, accountID, name, func(tx *db.Tx, st *Set) error {
		if check != nil {
			if err := check(st); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `UPDATE configuration_sets SET tracking_redirect_domain = ?, tracking_https_policy = ? WHERE account_id = ? AND name = ?`,
			redirect, policy, accountID, name)
		if err != nil {
			return fmt.Errorf("configset: update tracking options of %s: %w", name, err)
		}
		return nil
	})
}
