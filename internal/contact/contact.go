// Package contact owns SES v2's subscription management records: each
// account's contact lists with their topics, the contacts of a list with
// their topic preferences, and the import jobs that fill a list (or the
// suppression list) from a file on the server's disk.
//
// The API (internal/sesv2) manages them through Store and Imports. The
// send path asks Store.MayReceive whether an address may receive a
// topic of a list: one indexed read. Every change of a contact —
// created, updated, deleted or imported, or made by the recipient through
// an unsubscribe link (Store.ChangeByRecipient, with the change's Source
// and Origin) — goes through one function (Store.writeFrom), which calls
// Options.Changed in the same transaction, so an event published there is
// committed with the change or not at all.
// Two changes do not pass there, because no contact's own choice changes:
// deleting a list (its contacts go with it) and removing a topic from a
// list (the preferences for it go with it).
//
// Addresses are case-insensitive, as on the suppression list: a contact
// is found by its key (suppression.Key's rule), and the address as given
// is kept for display.
package contact

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/suppression"
)

// Status is a subscription status, in SES's spelling (SubscriptionStatus).
type Status string

// The statuses.
const (
	OptIn  Status = "OPT_IN"
	OptOut Status = "OPT_OUT"
)

// Valid reports whether s is OPT_IN or OPT_OUT.
func (s Status) Valid() bool { return s == OptIn || s == OptOut }

// Limits, as SES has them.
const (
	// MaxLists is the number of contact lists an account may have: SES
	// allows one.
	MaxLists = 1
	// MaxTopics is the number of topics of a list.
	MaxTopics = 20
	// MaxNameLength bounds ContactListName and TopicName.
	MaxNameLength = 64
	// MaxDisplayNameLength bounds a topic's DisplayName.
	MaxDisplayNameLength = 128
	// MaxDescriptionLength bounds the descriptions of lists and topics.
	MaxDescriptionLength = 500
	// MaxAttributesLength bounds a contact's AttributesData, in bytes.
	MaxAttributesLength = 64 << 10
)

// Errors returned by the stores.
var (
	ErrNotFound      = errors.New("contact: not found")
	ErrAlreadyExists = errors.New("contact: already exists")
	ErrLimitExceeded = errors.New("contact: limit exceeded")
	// ErrTopicNotFound is a topic the list does not have. It matches
	// ErrNotFound.
	ErrTopicNotFound = fmt.Errorf("%w: topic", ErrNotFound)
	ErrInvalid       = errors.New("contact: invalid parameter")
	// ErrImportsOff is CreateImportJob on a server started without an
	// import directory. It matches ErrInvalid.
	ErrImportsOff = &InvalidError{Field: "ImportDataSource.S3Url", Msg: "Import jobs are off on this server: it reads import files only from a directory its operator names with sesame serve --import-dir."}
)

// InvalidError is a rejected parameter: Field names it as the API spells
// it, and Msg is a sentence for the client naming the field and the rule.
// It matches ErrInvalid.
type InvalidError struct {
	Field string
	Msg   string
}

func (e *InvalidError) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Topic is a topic of a list.
type Topic struct {
	TopicName                 string
	DisplayName               string
	Description               string `json:",omitempty"`
	DefaultSubscriptionStatus Status
}

// Tag is a resource tag.
type Tag = configset.Tag

// List is a contact list.
type List struct {
	Name        string
	Description string
	Topics      []Topic
	Tags        []Tag
	Created     time.Time
	Updated     time.Time
}

// Topic returns the list's topic of that name.
func (l *List) Topic(name string) (Topic, bool) {
	for _, t := range l.Topics {
		if t.TopicName == name {
			return t, true
		}
	}
	return Topic{}, false
}

// Preference is a contact's preference for one topic.
type Preference struct {
	TopicName          string
	SubscriptionStatus Status
}

// Contact is a contact of a list.
type Contact struct {
	Address        string // as given
	Key            string // the lookup key (suppression.Key)
	Preferences    []Preference
	UnsubscribeAll bool
	AttributesData string
	// Defaults are the list's default statuses of the topics the contact
	// has no preference for (SES's TopicDefaultPreferences): Preferences
	// and Defaults together give the contact's status for every topic.
	Defaults []Preference
	Created  time.Time
	Updated  time.Time
}

// Status returns the contact's effective status for the topic t of its
// list: OPT_OUT after UnsubscribeAll, else its preference, else the
// topic's default.
func (c *Contact) Status(t Topic) Status {
	if c.UnsubscribeAll {
		return OptOut
	}
	for _, p := range c.Preferences {
		if p.TopicName == t.TopicName {
			return p.SubscriptionStatus
		}
	}
	return t.DefaultSubscriptionStatus
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ValidateName checks a ContactListName or TopicName (field names it):
// 1 to MaxNameLength letters, digits, '_' and '-'.
func ValidateName(field, name string) error {
	switch {
	case name == "":
		return invalid(field, "%s is required.", field)
	case len(name) > MaxNameLength:
		return invalid(field, "%s %q is too long: at most %d characters.", field, name, MaxNameLength)
	case !nameRE.MatchString(name):
		return invalid(field, "%s %q is not valid: use only letters, digits, '_' and '-'.", field, name)
	}
	return nil
}

// validateTopics checks a list's topics.
func validateTopics(ts []Topic) error {
	if len(ts) > MaxTopics {
		return invalid("Topics", "Too many topics: %d (a contact list has at most %d).", len(ts), MaxTopics)
	}
	seen := map[string]bool{}
	for i, t := range ts {
		f := fmt.Sprintf("Topics[%d]", i)
		if err := ValidateName(f+".TopicName", t.TopicName); err != nil {
			return err
		}
		if seen[t.TopicName] {
			return invalid(f+".TopicName", "Duplicate topic %q.", t.TopicName)
		}
		seen[t.TopicName] = true
		if t.DisplayName == "" || len(t.DisplayName) > MaxDisplayNameLength {
			return invalid(f+".DisplayName", "%s.DisplayName is required, at most %d characters (topic %q).", f, MaxDisplayNameLength, t.TopicName)
		}
		if len(t.Description) > MaxDescriptionLength {
			return invalid(f+".Description", "%s.Description is too long: at most %d characters.", f, MaxDescriptionLength)
		}
		if !t.DefaultSubscriptionStatus.Valid() {
			return invalid(f+".DefaultSubscriptionStatus", "%s.DefaultSubscriptionStatus %q is not valid: it must be OPT_IN or OPT_OUT.", f, t.DefaultSubscriptionStatus)
		}
	}
	return nil
}

// validateTags applies SES's tag rules (configset.ValidateTags).
func validateTags(tags []Tag) error {
	err := configset.ValidateTags(tags)
	if ie, ok := errors.AsType[*configset.InvalidError](err); ok {
		return invalid(ie.Field, "%s", ie.Msg)
	}
	return err
}

// ContactInput is what CreateContact, UpdateContact and an import row
// give for a contact.
type ContactInput struct {
	Address        string
	Preferences    []Preference
	UnsubscribeAll bool
	AttributesData string
}

// validate checks in against the list l and returns the address as given
// and its key. Field names are the API's.
func (in *ContactInput) validate(l *List) (display, key string, err error) {
	display, key, err = parseAddress(in.Address)
	if err != nil {
		return "", "", err
	}
	seen := map[string]bool{}
	for i, p := range in.Preferences {
		f := fmt.Sprintf("TopicPreferences[%d]", i)
		if _, ok := l.Topic(p.TopicName); !ok {
			return "", "", invalid(f+".TopicName", "%s.TopicName %q is not a topic of contact list %s.", f, p.TopicName, l.Name)
		}
		if seen[p.TopicName] {
			return "", "", invalid(f+".TopicName", "Duplicate preference for topic %q.", p.TopicName)
		}
		seen[p.TopicName] = true
		if !p.SubscriptionStatus.Valid() {
			return "", "", invalid(f+".SubscriptionStatus", "%s.SubscriptionStatus %q is not valid: it must be OPT_IN or OPT_OUT.", f, p.SubscriptionStatus)
		}
	}
	if in.AttributesData != "" {
		if len(in.AttributesData) > MaxAttributesLength {
			return "", "", invalid("AttributesData", "AttributesData is too long: %d bytes (at most %d).", len(in.AttributesData), MaxAttributesLength)
		}
		if !json.Valid([]byte(in.AttributesData)) {
			return "", "", invalid("AttributesData", "AttributesData must be a JSON document.")
		}
	}
	return display, key, nil
}

// parseAddress validates an address (field EmailAddress) and returns it
// as given, trimmed, and its key.
func parseAddress(address string) (display, key string, err error) {
	key, err = suppression.Key(address)
	if err != nil {
		var ie *suppression.InvalidError
		if errors.As(err, &ie) {
			return "", "", invalid("EmailAddress", "%s", ie.Msg)
		}
		return "", "", invalid("EmailAddress", "EmailAddress %q is not a valid email address.", address)
	}
	return strings.TrimSpace(address), key, nil
}
