package contact

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/sesame-email/sesame/internal/db"
)

// getContact loads a contact of list l by key, with its preferences and
// defaults; ErrNotFound when there is none.
func getContact(ctx context.Context, q db.Querier, accountID string, l *List, key string) (*Contact, error) {
	var (
		c                Contact
		created, updated int64
	)
	err := q.QueryRow(ctx, `SELECT address, address_key, unsubscribe_all, attributes, created_at, updated_at FROM contacts WHERE account_id = ? AND list_name = ? AND address_key = ?`,
		accountID, l.Name, key).Scan(&c.Address, &c.Key, &c.UnsubscribeAll, &c.AttributesData, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: contact %s in list %s", ErrNotFound, key, l.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("contact: get %s: %w", key, err)
	}
	c.Created, c.Updated = db.Time(created), db.Time(updated)
	prefs, err := loadPreferences(ctx, q, accountID, l.Name, key, key)
	if err != nil {
		return nil, err
	}
	c.Preferences = prefs[key]
	c.Defaults = defaults(l, c.Preferences)
	return &c, nil
}

// loadPreferences returns the preferences of the list's contacts whose
// keys are from first to last, by key, in topic name order.
func loadPreferences(ctx context.Context, q db.Querier, accountID, list, first, last string) (map[string][]Preference, error) {
	rows, err := q.Query(ctx, `SELECT address_key, topic, status FROM contact_topics WHERE account_id = ? AND list_name = ? AND address_key >= ? AND address_key <= ? ORDER BY address_key, topic`,
		accountID, list, first, last)
	if err != nil {
		return nil, fmt.Errorf("contact: preferences: %w", err)
	}
	defer rows.Close()
	out := map[string][]Preference{}
	for rows.Next() {
		var (
			key string
			p   Preference
		)
		if err := rows.Scan(&key, &p.TopicName, &p.SubscriptionStatus); err != nil {
			return nil, fmt.Errorf("contact: preferences: %w", err)
		}
		out[key] = append(out[key], p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("contact: preferences: %w", err)
	}
	return out, nil
}

// defaults returns the list's defaults for the topics prefs does not
// cover (TopicDefaultPreferences), in the list's topic order.
func defaults(l *List, prefs []Preference) []Preference {
	out := []Preference{}
outer:
	for _, t := range l.Topics {
		for _, p := range prefs {
			if p.TopicName == t.TopicName {
				continue outer
			}
		}
		out = append(out, Preference{TopicName: t.TopicName, SubscriptionStatus: t.DefaultSubscriptionStatus})
	}
	return out
}

// write is the one place a contact changes: it stores new (nil deletes
// the contact old) and calls Options.Changed in the same transaction.
// Either old or new is set; both were validated against l.
func (s *Store) write(ctx context.Context, tx *db.Tx, accountID string, l *List, old, new *Contact) error {
	return s.writeFrom(ctx, tx, accountID, l, old, new, "", nil)
}

// writeFrom is write for a change made by source (Change.Source) with
// origin (Change.Origin).
func (s *Store) writeFrom(ctx context.Context, tx *db.Tx, accountID string, l *List, old, new *Contact, source string, origin any) error {
	switch {
	case new == nil:
		if _, err := tx.Exec(ctx, `DELETE FROM contacts WHERE account_id = ? AND list_name = ? AND address_key = ?`, accountID, l.Name, old.Key); err != nil {
			return fmt.Errorf("contact: delete %s: %w", old.Key, err)
		}
	case old == nil:
		_, err := tx.Exec(ctx, `INSERT INTO contacts (account_id, list_name, address_key, address, unsubscribe_all, attributes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			accountID, l.Name, new.Key, new.Address, new.UnsubscribeAll, new.AttributesData, db.Millis(new.Created), db.Millis(new.Updated))
		if db.IsUniqueViolation(err) {
			return fmt.Errorf("%w: contact %s in list %s", ErrAlreadyExists, new.Address, l.Name)
		}
		if err != nil {
			return fmt.Errorf("contact: create %s: %w", new.Key, err)
		}
	default:
		if _, err := tx.Exec(ctx, `UPDATE contacts SET address = ?, unsubscribe_all = ?, attributes = ?, updated_at = ? WHERE account_id = ? AND list_name = ? AND address_key = ?`,
			new.Address, new.UnsubscribeAll, new.AttributesData, db.Millis(new.Updated), accountID, l.Name, new.Key); err != nil {
			return fmt.Errorf("contact: update %s: %w", new.Key, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM contact_topics WHERE account_id = ? AND list_name = ? AND address_key = ?`, accountID, l.Name, new.Key); err != nil {
			return fmt.Errorf("contact: update %s: %w", new.Key, err)
		}
	}
	if new != nil {
		for _, p := range new.Preferences {
			if _, err := tx.Exec(ctx, `INSERT INTO contact_topics (account_id, list_name, address_key, topic, status) VALUES (?, ?, ?, ?, ?)`,
				accountID, l.Name, new.Key, p.TopicName, string(p.SubscriptionStatus)); err != nil {
				return fmt.Errorf("contact: preferences of %s: %w", new.Key, err)
			}
		}
	}
	if s.changed != nil {
		if err := s.changed(ctx, tx, Change{AccountID: accountID, List: l, Old: old, New: new, Source: source, Origin: origin}); err != nil {
			return fmt.Errorf("contact: change of %s: %w", cmpKey(old, new), err)
		}
	}
	return nil
}

func cmpKey(old, new *Contact) string {
	if new != nil {
		return new.Key
	}
	return old.Key
}

// build makes the contact in describes (validated against l), created or
// updated now.
func (s *Store) build(in ContactInput, display, key string, l *List, old *Contact) *Contact {
	now := s.now()
	c := &Contact{Address: display, Key: key, UnsubscribeAll: in.UnsubscribeAll, AttributesData: in.AttributesData, Created: now, Updated: now}
	if old != nil {
		c.Created = old.Created
	}
	c.Preferences = append([]Preference(nil), in.Preferences...)
	sort.Slice(c.Preferences, func(i, j int) bool { return c.Preferences[i].TopicName < c.Preferences[j].TopicName })
	c.Defaults = defaults(l, c.Preferences)
	return c
}

// CreateContact adds a contact to the list: ErrNotFound for an unknown
// list, ErrAlreadyExists for an address already on it (in any case),
// *InvalidError for bad input.
func (s *Store) CreateContact(ctx context.Context, accountID, list string, in ContactInput) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		l, err := getListLocked(ctx, tx, shareList, accountID, list)
		if err != nil {
			return err
		}
		display, key, err := in.validate(l)
		if err != nil {
			return err
		}
		return s.write(ctx, tx, accountID, l, nil, s.build(in, display, key, l, nil))
	})
}

// GetContact returns a contact of the list, or ErrNotFound (for the list
// or the contact).
func (s *Store) GetContact(ctx context.Context, accountID, list, address string) (*Contact, error) {
	_, key, err := parseAddress(address)
	if err != nil {
		return nil, err
	}
	l, err := getList(ctx, s.db, accountID, list)
	if err != nil {
		return nil, err
	}
	return getContact(ctx, s.db, accountID, l, key)
}

// ContactUpdate is what UpdateContact changes; a nil member stays as it
// is.
type ContactUpdate struct {
	Preferences    []Preference // nil: unchanged; otherwise the new set
	UnsubscribeAll *bool
	AttributesData *string
}

// UpdateContact changes a contact of the list: ErrNotFound for an unknown
// list or contact, *InvalidError for bad input.
func (s *Store) UpdateContact(ctx context.Context, accountID, list, address string, u ContactUpdate) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		l, err := getListLocked(ctx, tx, shareList, accountID, list)
		if err != nil {
			return err
		}
		_, key, err := parseAddress(address)
		if err != nil {
			return err
		}
		old, err := getContact(ctx, tx, accountID, l, key)
		if err != nil {
			return err
		}
		in := ContactInput{Address: old.Address, Preferences: old.Preferences, UnsubscribeAll: old.UnsubscribeAll, AttributesData: old.AttributesData}
		if u.Preferences != nil {
			in.Preferences = u.Preferences
		}
		if u.UnsubscribeAll != nil {
			in.UnsubscribeAll = *u.UnsubscribeAll
		}
		if u.AttributesData != nil {
			in.AttributesData = *u.AttributesData
		}
		display, key, err := in.validate(l)
		if err != nil {
			return err
		}
		return s.write(ctx, tx, accountID, l, old, s.build(in, display, key, l, old))
	})
}

// DeleteContact removes a contact from the list, or returns ErrNotFound.
func (s *Store) DeleteContact(ctx context.Context, accountID, list, address string) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		l, err := getListLocked(ctx, tx, shareList, accountID, list)
		if err != nil {
			return err
		}
		_, key, err := parseAddress(address)
		if err != nil {
			return err
		}
		old, err := getContact(ctx, tx, accountID, l, key)
		if err != nil {
			return err
		}
		return s.write(ctx, tx, accountID, l, old, nil)
	})
}

// Filter selects the contacts ListContacts returns (ListContactsFilter).
//
// With Status alone, OPT_OUT selects the contacts unsubscribed from
// everything and OPT_IN the others. With Topic, the contacts whose status
// for the topic is Status: UnsubscribeAll counts as OPT_OUT for every
// topic, then an explicit preference; a contact with neither matches only
// when UseDefault is set and the topic's default is Status.
type Filter struct {
	Status     Status // "" selects every contact
	Topic      string // "" for no TopicFilter
	UseDefault bool   // TopicFilter.UseDefaultIfPreferenceUnavailable
}

// ListContacts returns a page of the list's contacts in key order, with
// their preferences and defaults, and the token of the next page.
func (s *Store) ListContacts(ctx context.Context, accountID, list string, f Filter, token string, size int) ([]*Contact, string, error) {
	size, err := pageSize(size)
	if err != nil {
		return nil, "", err
	}
	l, err := getList(ctx, s.db, accountID, list)
	if err != nil {
		return nil, "", err
	}
	where := []string{"c.account_id = ?", "c.list_name = ?"}
	args := []any{accountID, list}
	if token != "" {
		after, err := decodeToken(contactToken, token)
		if err != nil {
			return nil, "", err
		}
		where = append(where, "c.address_key > ?")
		args = append(args, after)
	}
	if f.Status != "" && !f.Status.Valid() {
		return nil, "", invalid("Filter.FilteredStatus", "Filter.FilteredStatus %q is not valid: it must be OPT_IN or OPT_OUT.", f.Status)
	}
	if f.Topic != "" {
		t, ok := l.Topic(f.Topic)
		if !ok {
			return nil, "", invalid("Filter.TopicFilter.TopicName", "Filter.TopicFilter.TopicName %q is not a topic of contact list %s.", f.Topic, list)
		}
		if f.Status == "" {
			return nil, "", invalid("Filter.FilteredStatus", "Filter.FilteredStatus is required with Filter.TopicFilter.")
		}
		// cond is the condition on the topic's preference, with its
		// arguments.
		exists := `EXISTS (SELECT 1 FROM contact_topics p WHERE p.account_id = c.account_id AND p.list_name = c.list_name AND p.address_key = c.address_key AND p.topic = ? AND p.status = ?)`
		cond, condArgs := exists, []any{t.TopicName, string(f.Status)}
		if f.UseDefault && t.DefaultSubscriptionStatus == f.Status {
			// No preference counts as the default: all but the contrary.
			other := OptIn
			if f.Status == OptIn {
				other = OptOut
			}
			cond, condArgs = "NOT "+exists, []any{t.TopicName, string(other)}
		}
		if f.Status == OptIn {
			where = append(where, "c.unsubscribe_all = ? AND "+cond)
			args = append(append(args, false), condArgs...)
		} else {
			where = append(where, "(c.unsubscribe_all = ? OR "+cond+")")
			args = append(append(args, true), condArgs...)
		}
	} else if f.Status != "" {
		where = append(where, "c.unsubscribe_all = ?")
		args = append(args, f.Status == OptOut)
	}
	args = append(args, size+1)
	rows, err := s.db.Query(ctx, `SELECT c.address, c.address_key, c.unsubscribe_all, c.attributes, c.created_at, c.updated_at FROM contacts c WHERE `+
		strings.Join(where, " AND ")+` ORDER BY c.address_key LIMIT ?`, args...)
	if err != nil {
		return nil, "", fmt.Errorf("contact: list contacts: %w", err)
	}
	defer rows.Close()
	var out []*Contact
	for rows.Next() {
		var (
			c                Contact
			created, updated int64
		)
		if err := rows.Scan(&c.Address, &c.Key, &c.UnsubscribeAll, &c.AttributesData, &created, &updated); err != nil {
			return nil, "", fmt.Errorf("contact: list contacts: %w", err)
		}
		c.Created, c.Updated = db.Time(created), db.Time(updated)
		out = append(out, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("contact: list contacts: %w", err)
	}
	rows.Close()
	next := ""
	if len(out) > size {
		out = out[:size]
		next = encodeToken(contactToken, out[size-1].Key)
	}
	if len(out) > 0 {
		prefs, err := loadPreferences(ctx, s.db, accountID, list, out[0].Key, out[len(out)-1].Key)
		if err != nil {
			return nil, "", err
		}
		for _, c := range out {
			c.Preferences = prefs[c.Key]
			c.Defaults = defaults(l, c.Preferences)
		}
	}
	return out, next, nil
}

// MayReceive reports whether address may be sent mail of the topic
// (""  for none) of the account's list: false when the address is a
// contact of the list that unsubscribed from everything or whose status
// for the topic is OPT_OUT (its preference, else the topic's default). An
// address that is not a contact may receive, as in SES. An unknown list
// is ErrNotFound, an unknown topic ErrTopicNotFound (which matches
// ErrNotFound too). It is one indexed read, for the send path.
func (s *Store) MayReceive(ctx context.Context, accountID, list, topic, address string) (bool, error) {
	_, key, err := parseAddress(address)
	if err != nil {
		return false, err
	}
	var (
		topics string
		unsub  sql.NullBool
		status sql.NullString
	)
	err = s.db.QueryRow(ctx, `SELECT l.topics, c.unsubscribe_all, p.status FROM contact_lists l
		LEFT JOIN contacts c ON c.account_id = l.account_id AND c.list_name = l.name AND c.address_key = ?
		LEFT JOIN contact_topics p ON p.account_id = c.account_id AND p.list_name = c.list_name AND p.address_key = c.address_key AND p.topic = ?
		WHERE l.account_id = ? AND l.name = ?`, key, topic, accountID, list).Scan(&topics, &unsub, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("%w: contact list %s", ErrNotFound, list)
	}
	if err != nil {
		return false, fmt.Errorf("contact: may receive: %w", err)
	}
	var def Status
	if topic != "" {
		var ts []Topic
		if err := json.Unmarshal([]byte(topics), &ts); err != nil {
			return false, fmt.Errorf("contact: topics of %s: %w", list, err)
		}
		l := List{Name: list, Topics: ts}
		t, ok := l.Topic(topic)
		if !ok {
			return false, fmt.Errorf("%w %s of contact list %s", ErrTopicNotFound, topic, list)
		}
		def = t.DefaultSubscriptionStatus
	}
	switch {
	case !unsub.Valid: // not a contact
		return true, nil
	case unsub.Bool:
		return false, nil
	case topic == "":
		return true, nil
	case status.Valid:
		return Status(status.String) == OptIn, nil
	}
	return def == OptIn, nil
}

// ChangeByRecipient applies a change the contact makes themselves — the
// one-click unsubscribe, the preference page, the mailto address — to the
// address's contact of the list: edit gets the list and a copy of the
// contact (a new one, subscribed to nothing explicitly, when the address
// is not a contact yet) and changes it. The result goes through write, so
// Options.Changed sees it with source and origin in the same transaction.
// A change that changes nothing writes nothing and reports false. An
// unknown list is ErrNotFound; edit's error is returned as it is.
func (s *Store) ChangeByRecipient(ctx context.Context, accountID, list, address, source string, origin any, edit func(l *List, c *Contact) error) (changed bool, err error) {
	display, key, err := parseAddress(address)
	if err != nil {
		return false, err
	}
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		l, err := getListLocked(ctx, tx, shareList, accountID, list) // the topics edit checks against stay as they are
		if err != nil {
			return err
		}
		old, err := getContact(ctx, tx, accountID, l, key)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		now := s.now()
		c := &Contact{Address: display, Key: key, AttributesData: "", Created: now}
		if old != nil {
			cp := *old
			cp.Preferences = slices.Clone(old.Preferences)
			c = &cp
		}
		if err := edit(l, c); err != nil {
			return err
		}
		sort.Slice(c.Preferences, func(i, j int) bool { return c.Preferences[i].TopicName < c.Preferences[j].TopicName })
		if old != nil && old.UnsubscribeAll == c.UnsubscribeAll && slices.Equal(old.Preferences, c.Preferences) {
			return nil
		}
		for _, p := range c.Preferences {
			if _, ok := l.Topic(p.TopicName); !ok || !p.SubscriptionStatus.Valid() {
				return invalid("TopicName", "Topic %q is not a topic of contact list %s.", p.TopicName, l.Name)
			}
		}
		c.Updated = now
		c.Defaults = defaults(l, c.Preferences)
		changed = true
		return s.writeFrom(ctx, tx, accountID, l, old, c, source, origin)
	})
	if err != nil {
		return false, err
	}
	return changed, nil
}
