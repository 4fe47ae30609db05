package configset

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/cachever"
	"github.com/sesame-email/sesame/internal/db"
)

// SES's limits on configuration sets (ses-api.md §14.2).
const (
	MaxSets         = 10000 // configuration sets per account
	MaxNameLength   = 64    // set and destination names
	MaxDestinations = 10    // event destinations per set
	MaxDimensions   = 10    // CloudWatch dimensions per destination
	MaxTags         = 50    // tags per set
	// MinDeliverySeconds and MaxDeliverySeconds bound
	// DeliveryOptions.MaxDeliverySeconds.
	MinDeliverySeconds = 300
	MaxDeliverySeconds = 50400
)

// More errors of the store; each is returned wrapped in a typed error that
// says which field or resource (see InvalidError, NotFoundError).
var (
	ErrInvalid       = errors.New("configset: invalid parameter")
	ErrAlreadyExists = errors.New("configset: already exists")
	ErrLimitExceeded = errors.New("configset: limit exceeded")
)

// The kinds of rejected parameter, for the API's error codes (v1 has one
// code per kind; v2 says BadRequestException for all).
const (
	InvalidSet        = "ConfigurationSet" // v1 InvalidConfigurationSet
	InvalidSNS        = "SNS"              // v1 InvalidSNSDestination
	InvalidCloudWatch = "CloudWatch"       // v1 InvalidCloudWatchDestination
	InvalidDelivery   = "Delivery"         // v1 InvalidDeliveryOptions
	InvalidOther      = "Other"            // v1 InvalidParameterValue
)

// InvalidError is a rejected parameter: Kind is one of the Invalid*
// constants, Field the member as v2 spells it, Msg the sentence for the
// client (it names the field and the rule). It matches ErrInvalid.
type InvalidError struct {
	Kind, Field, Msg string
}

func (e *InvalidError) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(kind, field, format string, args ...any) error {
	return &InvalidError{Kind: kind, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// NotFoundError is an unknown set (Destination "") or an unknown event
// destination of a known set. It matches ErrNotFound.
type NotFoundError struct {
	Set, Destination string
}

func (e *NotFoundError) Error() string {
	if e.Destination != "" {
		return fmt.Sprintf("No EventDestination found for %s", e.Destination)
	}
	return fmt.Sprintf("Configuration set %s does not exist.", e.Set)
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// ExistsError is a set (Destination "") or destination that exists
// already. It matches ErrAlreadyExists.
type ExistsError struct {
	Set, Destination string
}

func (e *ExistsError) Error() string {
	if e.Destination != "" {
		return fmt.Sprintf("Event destination %s already exists in configuration set %s.", e.Destination, e.Set)
	}
	return fmt.Sprintf("Configuration set %s already exists.", e.Set)
}

// Is makes errors.Is(err, ErrAlreadyExists) true.
func (e *ExistsError) Is(target error) bool { return target == ErrAlreadyExists }

// LimitError is a limit reached (too many sets, destinations). It matches
// ErrLimitExceeded.
type LimitError struct{ Msg string }

func (e *LimitError) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrLimitExceeded) true.
func (e *LimitError) Is(target error) bool { return target == ErrLimitExceeded }

// Options configures a Store.
type Options struct {
	DB     *db.DB           // required
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
	Region string           // the deployment's region, for ARNs
	// TopicExists reports whether the account owns this SNS topic ARN
	// (sns.Store.TopicExists). Nil: no topic exists, so every SNS
	// destination is refused.
	TopicExists func(ctx context.Context, accountID, topicARN string) (bool, error)
	// Validated publishes SES's "Successfully validated SNS topic for
	// Amazon SES event publishing." to a topic when an SNS destination is
	// created or updated (sns.Store.Publish). Nil: nothing is published.
	Validated func(ctx context.Context, accountID, topicARN string) error
	// SendingChanged, when set, is called after SetSendingEnabled has
	// committed (the reputation guard records a customer's resume).
	SendingChanged func(ctx context.Context, accountID, name string, enabled bool)
	// Deleted, when set, is called after Delete has committed (the
	// reputation guard forgets the set's thresholds and state).
	Deleted func(ctx context.Context, accountID, name string)
	// DomainVerified reports whether the domain (ASCII, lower case) is
	// covered by a verified domain identity of the account: the only
	// domains TrackingOptions.CustomRedirectDomain may name, as in SES.
	// Nil: none is, so every custom redirect domain is refused.
	DomainVerified func(ctx context.Context, accountID, domain string) (bool, error)
}

// Store is the configuration sets of all accounts. It is safe for
// concurrent use.
type Store struct {
	db   *db.DB
	now  func() time.Time
	log  *slog.Logger
	opts Options
	// cache holds Get's sets by account and name, filed under the
	// account's cachever.ConfigSet.
	cache *cachever.Cache[setKey, *Set]
}

type setKey struct{ accountID, name string }

// maxCached bounds the set cache.
const maxCached = 10000

// New returns a Store.
func New(o Options) (*Store, error) {
	if o.DB == nil {
		return nil, errors.New("configset: Options.DB is required")
	}
	s := &Store{db: o.DB, now: o.Now, log: o.Logger, opts: o, cache: cachever.NewCache[setKey, *Set](maxCached)}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// ARN returns the configuration set's ARN,
// arn:aws:ses:<region>:<account>:configuration-set/<name>.
func (s *Store) ARN(accountID, name string) string {
	return fmt.Sprintf("arn:aws:ses:%s:%s:configuration-set/%s", s.opts.Region, accountID, name)
}

const setColumns = `account_id, name, sending_enabled, reputation_metrics_enabled, last_fresh_start, tls_policy, max_delivery_seconds, suppressed_reasons, tags, created_at, tracking_redirect_domain, tracking_https_policy`

func scanSet(row interface{ Scan(...any) error }) (*Set, error) {
	var (
		st               Set
		fresh, created   int64
		reasons          sql.NullString
		redirect         sql.NullString
		policy           string
		tags             string
		sending, reputed bool
	)
	if err := row.Scan(&st.AccountID, &st.Name, &sending, &reputed, &fresh, &st.TLSPolicy, &st.MaxDeliverySeconds, &reasons, &tags, &created, &redirect, &policy); err != nil {
		return nil, err
	}
	if redirect.Valid {
		st.Tracking = &TrackingOptions{CustomRedirectDomain: redirect.String, HTTPSPolicy: policy}
	}
	st.SendingEnabled, st.ReputationMetricsEnabled = sending, reputed
	if fresh != 0 {
		st.LastFreshStart = db.Time(fresh)
	}
	st.CreatedAt = db.Time(created)
	if reasons.Valid {
		st.SuppressedReasons = splitList(reasons.String)
	}
	if err := json.Unmarshal([]byte(tags), &st.Tags); err != nil {
		return nil, fmt.Errorf("configset: tags of %s: %w", st.Name, err)
	}
	return &st, nil
}

// splitList splits a comma-separated column; "" is an empty, non-nil list.
func splitList(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// Get returns the account's set of that name; an unknown set is a
// *NotFoundError (ErrNotFound). It is one query by primary key: the send
// path calls it for every message sent through a set, so the set is kept
// in memory while the account's sets are unchanged (package cachever).
func (s *Store) Get(ctx context.Context, accountID, name string) (*Set, error) {
	v, err := cachever.Read(ctx, s.db, accountID)
	if err != nil {
		return nil, fmt.Errorf("configset: %w", err)
	}
	k := setKey{accountID, name}
	if st, ok := s.cache.Get(k, v[cachever.ConfigSet]); ok {
		return st.clone(), nil
	}
	st, err := GetIn(ctx, s.db, accountID, name)
	if err != nil {
		return nil, err
	}
	if err := s.readTracks(ctx, st); err != nil {
		return nil, err
	}
	s.cache.Put(k, v[cachever.ConfigSet], st.clone())
	return st, nil
}

// clone returns a copy of st that shares nothing with it.
func (st *Set) clone() *Set {
	c := *st
	c.SuppressedReasons = slices.Clone(st.SuppressedReasons)
	c.Tags = slices.Clone(st.Tags)
	if st.Tracking != nil {
		t := *st.Tracking
		c.Tracking = &t
	}
	return &c
}

// GetIn is Get reading through q (a transaction the caller holds: a
// second connection could deadlock SQLite's single writer).
func GetIn(ctx context.Context, q db.Querier, accountID, name string) (*Set, error) {
	return read(ctx, q, "", accountID, name)
}

// getForUpdate reads a set inside tx, locking its row on PostgreSQL
// (SQLite's write transactions exclude each other already).
func getForUpdate(ctx context.Context, tx *db.Tx, accountID, name string) (*Set, error) {
	lock := ""
	if tx.Dialect() == db.Postgres {
		lock = ` FOR UPDATE`
	}
	return read(ctx, tx, lock, accountID, name)
}

// read reads one set through q, the query ending with suffix.
func read(ctx context.Context, q db.Querier, suffix, accountID, name string) (*Set, error) {
	st, err := scanSet(q.QueryRow(ctx, `SELECT `+setColumns+` FROM configuration_sets WHERE account_id = ? AND name = ?`+suffix, accountID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &NotFoundError{Set: name}
	}
	if err != nil {
		return nil, fmt.Errorf("configset: read %s: %w", name, err)
	}
	return st, nil
}

// List returns all the account's sets, by name.
func (s *Store) List(ctx context.Context, accountID string) ([]*Set, error) {
	rows, err := s.db.Query(ctx, `SELECT `+setColumns+` FROM configuration_sets WHERE account_id = ? ORDER BY name`, accountID)
	if err != nil {
		return nil, fmt.Errorf("configset: list: %w", err)
	}
	defer rows.Close()
	var out []*Set
	for rows.Next() {
		st, err := scanSet(rows)
		if err != nil {
			return nil, fmt.Errorf("configset: list: %w", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("configset: list: %w", err)
	}
	return out, nil
}

// ListNames returns one page of the account's set names, in name order:
// at most size names after the position token encodes ("" for the
// start), and the token of the next page ("" when this is the last). A
// token this store did not make is an *InvalidError for NextToken.
func (s *Store) ListNames(ctx context.Context, accountID, token string, size int) ([]string, string, error) {
	after := ""
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || !strings.HasPrefix(string(b), "cs:") || len(b) == 3 {
			return nil, "", invalid(InvalidOther, "NextToken", "Invalid NextToken: it was not returned by a previous call.")
		}
		after = string(b[3:])
	}
	if size <= 0 {
		size = 1
	}
	rows, err := s.db.Query(ctx, `SELECT name FROM configuration_sets WHERE account_id = ? AND name > ? ORDER BY name LIMIT ?`, accountID, after, size+1)
	if err != nil {
		return nil, "", fmt.Errorf("configset: list names: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, "", fmt.Errorf("configset: list names: %w", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("configset: list names: %w", err)
	}
	next := ""
	if len(names) > size {
		names = names[:size]
		next = base64.RawURLEncoding.EncodeToString([]byte("cs:" + names[size-1]))
	}
	return names, next, nil
}

// Create stores a new set. Name, options and tags are validated first
// (see ValidateName, the Put* methods, ValidateTags); SendingEnabled is
// taken as given, so callers start from NewSet. A name in use is an
// *ExistsError; the account's 10 000th set is the last (*LimitError).
func (s *Store) Create(ctx context.Context, st Set) error {
	if err := ValidateName("ConfigurationSetName", st.Name); err != nil {
		return err
	}
	if err := validateDelivery(st.TLSPolicy, st.MaxDeliverySeconds); err != nil {
		return err
	}
	if err := validateReasons(st.SuppressedReasons); err != nil {
		return err
	}
	if err := ValidateTags(st.Tags); err != nil {
		return err
	}
	if err := s.validateTracking(ctx, st.AccountID, st.Tracking); err != nil {
		return err
	}
	tags, err := json.Marshal(nonNilTags(st.Tags))
	if err != nil {
		return fmt.Errorf("configset: encode tags: %w", err)
	}
	now := s.now()
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		var n int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM configuration_sets WHERE account_id = ?`, st.AccountID).Scan(&n); err != nil {
			return fmt.Errorf("configset: count sets: %w", err)
		}
		if n >= MaxSets {
			return &LimitError{Msg: fmt.Sprintf("Maximum number of configuration sets (%d) reached.", MaxSets)}
		}
		var fresh any = int64(0)
		if !st.LastFreshStart.IsZero() {
			fresh = db.Millis(st.LastFreshStart)
		}
		redirect, policy := trackingColumns(st.Tracking)
		_, err := tx.Exec(ctx, `INSERT INTO configuration_sets (`+setColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			st.AccountID, st.Name, st.SendingEnabled, st.ReputationMetricsEnabled, fresh, st.TLSPolicy, st.MaxDeliverySeconds,
			joinReasons(st.SuppressedReasons), string(tags), db.Millis(now), redirect, policy)
		if db.IsUniqueViolation(err) {
			return &ExistsError{Set: st.Name}
		}
		if err != nil {
			return fmt.Errorf("configset: create %s: %w", st.Name, err)
		}
		return nil
	})
}

// NewSet returns a set with SES's defaults: sending enabled, reputation
// metrics off, no delivery or suppression options, no tags.
func NewSet(accountID, name string) Set {
	return Set{AccountID: accountID, Name: name, SendingEnabled: true}
}

func joinReasons(r []string) any {
	if r == nil {
		return nil
	}
	return strings.Join(r, ",")
}

func nonNilTags(t []Tag) []Tag {
	if t == nil {
		return []Tag{}
	}
	return t
}

// Delete removes the set and its event destinations. Identities that name
// it as their default keep the name: sending through them then fails as
// for an unknown set, as SES does.
func (s *Store) Delete(ctx context.Context, accountID, name string) error {
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM event_destinations WHERE account_id = ? AND configuration_set = ?`, accountID, name); err != nil {
			return fmt.Errorf("configset: delete destinations of %s: %w", name, err)
		}
		res, err := tx.Exec(ctx, `DELETE FROM configuration_sets WHERE account_id = ? AND name = ?`, accountID, name)
		if err != nil {
			return fmt.Errorf("configset: delete %s: %w", name, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("configset: delete %s: %w", name, err)
		} else if n == 0 {
			return &NotFoundError{Set: name}
		}
		return nil
	})
	if err == nil && s.opts.Deleted != nil {
		s.opts.Deleted(ctx, accountID, name)
	}
	return err
}

// update runs fn on the locked set inside one transaction; an unknown set
// is a *NotFoundError.
func (s *Store) update(ctx context.Context, accountID, name string, fn func(tx *db.Tx, st *Set) error) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		st, err := getForUpdate(ctx, tx, accountID, name)
		if err != nil {
			return err
		}
		return fn(tx, st)
	})
}

func (s *Store) setColumn(ctx context.Context, accountID, name, column string, value any) error {
	return s.update(ctx, accountID, name, func(tx *db.Tx, _ *Set) error {
		if _, err := tx.Exec(ctx, `UPDATE configuration_sets SET `+column+` = ? WHERE account_id = ? AND name = ?`, value, accountID, name); err != nil {
			return fmt.Errorf("configset: update %s of %s: %w", column, name, err)
		}
		return nil
	})
}

// SetSendingEnabled pauses (false) or resumes (true) sending through the
// set (v2 PutConfigurationSetSendingOptions, v1
// UpdateConfigurationSetSendingEnabled, and the reputation guard).
func (s *Store) SetSendingEnabled(ctx context.Context, accountID, name string, enabled bool) error {
	err := s.setColumn(ctx, accountID, name, "sending_enabled", enabled)
	if err == nil && s.opts.SendingChanged != nil {
		s.opts.SendingChanged(ctx, accountID, name, enabled)
	}
	return err
}

// PutReputationOptions sets ReputationMetricsEnabled (v2
// PutConfigurationSetReputationOptions, v1
// UpdateConfigurationSetReputationMetricsEnabled).
func (s *Store) PutReputationOptions(ctx context.Context, accountID, name string, enabled bool) error {
	return s.setColumn(ctx, accountID, name, "reputation_metrics_enabled", enabled)
}

// PutDeliveryOptions sets DeliveryOptions: tlsPolicy "REQUIRE",
// "OPTIONAL" or "" (OPTIONAL), maxDeliverySeconds 0 (the deployment's
// window) or 300–50400.
func (s *Store) PutDeliveryOptions(ctx context.Context, accountID, name, tlsPolicy string, maxDeliverySeconds int64) error {
	if err := validateDelivery(tlsPolicy, maxDeliverySeconds); err != nil {
		return err
	}
	return s.update(ctx, accountID, name, func(tx *db.Tx, _ *Set) error {
		_, err := tx.Exec(ctx, `UPDATE configuration_sets SET tls_policy = ?, max_delivery_seconds = ? WHERE account_id = ? AND name = ?`,
			tlsPolicy, maxDeliverySeconds, accountID, name)
		if err != nil {
			return fmt.Errorf("configset: update delivery options of %s: %w", name, err)
		}
		return nil
	})
}

// PutSuppressionOptions sets SuppressionOptions.SuppressedReasons: nil
// removes the override (the account's list applies as it is), an empty
// list makes the set suppress nothing.
func (s *Store) PutSuppressionOptions(ctx context.Context, accountID, name string, reasons []string) error {
	if err := validateReasons(reasons); err != nil {
		return err
	}
	return s.setColumn(ctx, accountID, name, "suppressed_reasons", joinReasons(reasons))
}

// TagSet adds or replaces tags on the set (v2 TagResource). The result
// must satisfy SES's tag rules; nothing is written otherwise.
func (s *Store) TagSet(ctx context.Context, accountID, name string, tags []Tag) error {
	if err := ValidateTags(tags); err != nil {
		return err
	}
	return s.update(ctx, accountID, name, func(tx *db.Tx, st *Set) error {
		merged := slices.Clone(st.Tags)
		for _, t := range tags {
			if k := slices.IndexFunc(merged, func(m Tag) bool { return m.Key == t.Key }); k >= 0 {
				merged[k] = t
			} else {
				merged = append(merged, t)
			}
		}
		if err := ValidateTags(merged); err != nil {
			return err
		}
		return writeTags(ctx, tx, st, merged)
	})
}

// UntagSet removes the tags with these keys (v2 UntagResource); unknown
// keys are ignored.
func (s *Store) UntagSet(ctx context.Context, accountID, name string, keys []string) error {
	return s.update(ctx, accountID, name, func(tx *db.Tx, st *Set) error {
		kept := slices.DeleteFunc(slices.Clone(st.Tags), func(t Tag) bool { return slices.Contains(keys, t.Key) })
		return writeTags(ctx, tx, st, kept)
	})
}

func writeTags(ctx context.Context, tx *db.Tx, st *Set, tags []Tag) error {
	b, err := json.Marshal(nonNilTags(tags))
	if err != nil {
		return fmt.Errorf("configset: encode tags: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE configuration_sets SET tags = ? WHERE account_id = ? AND name = ?`, string(b), st.AccountID, st.Name); err != nil {
		return fmt.Errorf("configset: write tags of %s: %w", st.Name, err)
	}
	return nil
}
