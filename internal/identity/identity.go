// Package identity owns Sesame's identities: email-address and domain
// identities per account, their verification tokens and status, their DKIM
// keys (Easy DKIM generated here and sealed at rest, or BYODKIM supplied by
// the customer), their custom MAIL FROM domain and its state, the log of
// every status transition, and the DNS records a customer must publish.
//
// The status machines (see Step) are driven by the DNS checker through
// Due and Record; the API layers call the other methods. Every change and
// the transitions it causes are written in one transaction.
package identity

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/addr"
	"github.com/sesame-email/sesame/internal/cachever"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dkim"
	"github.com/sesame-email/sesame/internal/seal"
)

// Kind is an identity's type, in SES v1 spelling.
type Kind string

// The kinds of identity.
const (
	KindDomain Kind = "Domain"
	KindEmail  Kind = "EmailAddress"
)

// V2 returns the SES v2 spelling: DOMAIN or EMAIL_ADDRESS.
func (k Kind) V2() string {
	if k == KindDomain {
		return "DOMAIN"
	}
	return "EMAIL_ADDRESS"
}

// Behavior is what a send does when the custom MAIL FROM domain is not in
// Success: use the default MAIL FROM domain, or reject the message.
type Behavior string

// The behaviours on MX failure, in SES v1 spelling.
const (
	UseDefaultValue Behavior = "UseDefaultValue"
	RejectMessage   Behavior = "RejectMessage"
)

// V2 returns the SES v2 spelling: USE_DEFAULT_VALUE or REJECT_MESSAGE.
func (b Behavior) V2() string {
	if b == RejectMessage {
		return "REJECT_MESSAGE"
	}
	return "USE_DEFAULT_VALUE"
}

// Origin says who manages an identity's DKIM key.
type Origin string

// The DKIM origins, in SES v2 spelling.
const (
	OriginNone     Origin = ""         // no DKIM set up (an address, or a domain verified by TXT only)
	OriginEasy     Origin = "AWS_SES"  // Easy DKIM: Sesame generates and publishes the key
	OriginExternal Origin = "EXTERNAL" // BYODKIM: the customer supplies the key and publishes it
)

// KeyLength is an Easy DKIM RSA key size, in SES v2 spelling.
type KeyLength string

// The RSA key lengths SES offers.
const (
	RSA1024 KeyLength = "RSA_1024_BIT"
	RSA2048 KeyLength = "RSA_2048_BIT"
)

// Bits returns the modulus size.
func (k KeyLength) Bits() int {
	if k == RSA1024 {
		return 1024
	}
	return 2048
}

// Attribute names which status a transition is about.
type Attribute string

// The attributes with a status machine.
const (
	AttrVerification Attribute = "Verification"
	AttrDKIM         Attribute = "DKIM"
	AttrMailFrom     Attribute = "MailFrom"
)

// Sentinel errors; API layers map them to SES error codes.
var (
	ErrNotFound      = errors.New("identity: not found")
	ErrAlreadyExists = errors.New("identity: already exists")
	ErrNotVerified   = errors.New("identity: not verified")
	ErrInvalid       = errors.New("identity: invalid parameter")
	ErrExpired       = errors.New("identity: verification link expired")
)

// InvalidError is a rejected parameter: Field names it (as the APIs spell
// it) and Msg states the rule. It wraps ErrInvalid.
type InvalidError struct {
	Field string
	Msg   string
}

func (e *InvalidError) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Unwrap() error { return ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Identity is one identity with all its state.
type Identity struct {
	ID        int64
	AccountID string
	Name      string // domain (A-labels, lower case) or address (domain normalised)
	Kind      Kind
	Domain    string // the domain, or the address's domain
	Version   int64  // bumped by every customer change; checks of an older version are discarded
	CreatedAt time.Time

	Verification Status
	// VerificationToken is a domain's _amazonses TXT value; for an address,
	// the SHA-256 (hex) of its verification link's secret ("" when it has
	// none): the secret itself is only ever in the mail.
	VerificationToken string
	VerificationSince time.Time // when the verification status last changed (window start)
	VerificationError string    // SES v2 VerificationError of the last check ("" when none)
	LastCheckedAt     time.Time
	LastSuccessAt     time.Time

	DKIM     DKIM
	MailFrom MailFrom

	FeedbackForwarding bool
	ConfigurationSet   string
	Tags               []Tag
	NextCheckAt        time.Time // zero: no check scheduled
}

// DKIM is an identity's DKIM state.
type DKIM struct {
	Origin         Origin
	SigningEnabled bool
	Status         Status
	Since          time.Time
	Tokens         []string // Easy DKIM: the 3 RSA tokens; BYODKIM: [selector]
	Ed25519Token   string   // Easy DKIM: the extra Ed25519 key's token
	// Ed25519Published says the checker found the (optional) CNAME of the
	// Ed25519 token: only then is mail signed with that key too.
	Ed25519Published bool
	KeyLength        KeyLength
	NextKeyLength    KeyLength
	KeyGeneratedAt   time.Time
	Diagnostic       string // what the last check found
}

// MailFrom is an identity's custom MAIL FROM state.
type MailFrom struct {
	Domain     string // "" when none is configured
	Behavior   Behavior
	Status     Status // "" when none is configured
	Since      time.Time
	Diagnostic string // what the last check found, and why it does or does not qualify
}

// Tag is a key-value tag on an identity.
type Tag struct{ Key, Value string }

// VerifiedForSending reports whether mail may be sent as this identity
// (SES: verified by TXT or DKIM, or the address confirmed).
func (i *Identity) VerifiedForSending() bool { return i.Verification == Success }

// Options configures a Store.
type Options struct {
	DB            *db.DB    // required
	Seal          *seal.Box // required: seals DKIM private keys
	Region        string    // required, e.g. us-east-1
	ServiceDomain string    // required, e.g. sesame.example.net
	Logger        *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// GenerateKey makes DKIM keys; nil means dkim.Generate. Tests pass a
	// faster source of pre-made keys.
	GenerateKey func(alg dkim.Algorithm, bits int) (*dkim.Key, error)
	// VerifyURL is the public base URL of the API listener, used in the
	// address verification mail's link (VerifyURL + "/verify?token=...").
	VerifyURL string
	// AddressLinkValidity is how long an address verification link works;
	// zero means 24 hours, as in SES.
	AddressLinkValidity time.Duration
	// Changed, when set, is called after a change that makes an identity due
	// for checking now (the DNS checker wakes up), or that queued mail.
	// Never called in a transaction.
	Changed func()
	// Mail queues an address verification mail inside tx, the transaction
	// that issues its link (notify.Mailer.QueueTx); the mail counts against
	// the account's daily quota. Nil: no verification mail is sent, and the
	// limits below do not apply (tests and admin commands that add no
	// addresses).
	Mail func(ctx context.Context, tx *db.Tx, m Mail) error
	// Admit applies the account's daily quota and sending rate to
	// recipients more verification mails before they are queued
	// (send.Sender.Admit, the admission door's own limits). It returns the
	// function to call once, with whether the mail was queued. Nil: no
	// quota or rate applies.
	Admit func(ctx context.Context, accountID string, recipients int) (done func(queued bool), err error)
	// VerificationCooldown is how long after a verification mail another
	// to the same address is refused (ErrThrottled); zero means
	// DefaultVerificationCooldown.
	VerificationCooldown time.Duration
	// VerificationMailsPerDay caps an account's verification mails in any
	// 24 hours (ErrLimitExceeded); zero means DefaultVerificationMailsPerDay.
	VerificationMailsPerDay int
}

// Store is the identity records over a database.
type Store struct {
	db     *db.DB
	box    *seal.Box
	opts   Options
	now    func() time.Time
	genKey func(alg dkim.Algorithm, bits int) (*dkim.Key, error)
	log    *slog.Logger
	// cache holds GetMany's rows (nil: no such identity) by account and
	// normalised name, filed under the account's cachever.Identity.
	cache *cachever.Cache[nameKey, *Identity]
}

type nameKey struct{ accountID, name string }

// maxCached bounds the identity cache.
const maxCached = 20000

// New returns a Store.
func New(opts Options) (*Store, error) {
	if opts.DB == nil || opts.Seal == nil || opts.Region == "" || opts.ServiceDomain == "" {
		return nil, errors.New("identity: DB, Seal, Region and ServiceDomain are required")
	}
	s := &Store{db: opts.DB, box: opts.Seal, opts: opts, now: opts.Now, genKey: opts.GenerateKey, log: opts.Logger,
		cache: cachever.NewCache[nameKey, *Identity](maxCached)}
	if s.now == nil {
		s.now = time.Now
	}
	if s.genKey == nil {
		s.genKey = dkim.Generate
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.opts.AddressLinkValidity == 0 {
		s.opts.AddressLinkValidity = 24 * time.Hour
	}
	if s.opts.VerificationCooldown == 0 {
		s.opts.VerificationCooldown = DefaultVerificationCooldown
	}
	if s.opts.VerificationMailsPerDay == 0 {
		s.opts.VerificationMailsPerDay = DefaultVerificationMailsPerDay
	}
	return s, nil
}

func (s *Store) changed() {
	if s.opts.Changed != nil {
		s.opts.Changed()
	}
}

// FeedbackHost is the host the MAIL FROM domain's MX must point at:
// feedback-smtp.<region>.<service domain>.
func (s *Store) FeedbackHost() string {
	return "feedback-smtp." + s.opts.Region + "." + s.opts.ServiceDomain
}

// DefaultMailFromDomain is <region>.<service domain>.
func (s *Store) DefaultMailFromDomain() string { return s.opts.Region + "." + s.opts.ServiceDomain }

// SigningHostedZone is the zone under which Easy DKIM keys are published:
// dkim.<service domain>.
func (s *Store) SigningHostedZone() string { return "dkim." + s.opts.ServiceDomain }

// ServiceDomain returns the configured service domain.
func (s *Store) ServiceDomain() string { return s.opts.ServiceDomain }

// Parse normalises an identity name: an address when it contains '@',
// a domain otherwise. field names the parameter in errors.
func Parse(field, name string) (normalised string, kind Kind, domain string, err error) {
	if strings.Contains(name, "@") {
		a, err := addr.ParseAddress(name)
		if err != nil {
			return "", "", "", invalid(field, "Invalid email address %s.", errText(err))
		}
		return a.String(), KindEmail, a.Domain, nil
	}
	d, err := addr.Domain(name)
	if err != nil {
		return "", "", "", invalid(field, "Invalid domain name %s.", errText(err))
	}
	return d, KindDomain, d, nil
}

func errText(err error) string {
	var e *addr.Error
	if errors.As(err, &e) {
		return fmt.Sprintf("<%s>: %s", e.Input, e.Rule)
	}
	return err.Error()
}

func randomToken(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b
}

// newDomainToken is a 44-character base64 token, like SES's _amazonses values.
func newDomainToken() string { return base64.StdEncoding.EncodeToString(randomToken(32)) }

// columns is the identity column list, in scan order.
const columns = `id, account_id, name, kind, domain, version, created_at,
	verification_status, verification_token, verification_since, verification_error, last_checked_at, last_success_at,
	dkim_origin, dkim_signing_enabled, dkim_status, dkim_since, dkim_tokens, dkim_key_length, dkim_next_key_length, dkim_key_generated_at, dkim_diagnostic, dkim_ed25519_published,
	mail_from_domain, mail_from_behavior, mail_from_status, mail_from_since, mail_from_diagnostic,
	feedback_forwarding, configuration_set, tags, next_check_at`

type scanner interface{ Scan(dest ...any) error }

func scanIdentity(sc scanner) (*Identity, error) {
	var (
		i                                        Identity
		created, vsince, lchk, lsucc, dsince, kg int64
		msince                                   int64
		next                                     sql.NullInt64
		tokens, tags                             string
		kind, vstat, origin, dstat, kl, nkl      string
		mbeh, mstat                              string
	)
	err := sc.Scan(&i.ID, &i.AccountID, &i.Name, &kind, &i.Domain, &i.Version, &created,
		&vstat, &i.VerificationToken, &vsince, &i.VerificationError, &lchk, &lsucc,
		&origin, &i.DKIM.SigningEnabled, &dstat, &dsince, &tokens, &kl, &nkl, &kg, &i.DKIM.Diagnostic, &i.DKIM.Ed25519Published,
		&i.MailFrom.Domain, &mbeh, &mstat, &msince, &i.MailFrom.Diagnostic,
		&i.FeedbackForwarding, &i.ConfigurationSet, &tags, &next)
	if err != nil {
		return nil, err
	}
	i.Kind, i.Verification, i.DKIM.Origin, i.DKIM.Status = Kind(kind), Status(vstat), Origin(origin), Status(dstat)
	i.DKIM.KeyLength, i.DKIM.NextKeyLength = KeyLength(kl), KeyLength(nkl)
	i.MailFrom.Behavior, i.MailFrom.Status = Behavior(mbeh), Status(mstat)
	i.CreatedAt, i.VerificationSince, i.LastCheckedAt, i.LastSuccessAt = db.Time(created), db.Time(vsince), db.Time(lchk), db.Time(lsucc)
	i.DKIM.Since, i.DKIM.KeyGeneratedAt, i.MailFrom.Since = db.Time(dsince), db.Time(kg), db.Time(msince)
	if next.Valid {
		i.NextCheckAt = db.Time(next.Int64)
		if next.Int64 == 0 {
			i.NextCheckAt = time.Unix(0, 0).UTC()
		}
	}
	i.DKIM.Tokens, i.DKIM.Ed25519Token = splitTokens(tokens, i.DKIM.Origin)
	i.Tags = decodeTags(tags)
	return &i, nil
}

// Stored token lists: Easy DKIM keeps "rsa1 rsa2 rsa3 ed25519"; BYODKIM the selector.
func splitTokens(s string, o Origin) ([]string, string) {
	f := strings.Fields(s)
	if o == OriginEasy && len(f) == 4 {
		return f[:3], f[3]
	}
	return f, ""
}

func joinTokens(d DKIM) string {
	t := strings.Join(d.Tokens, " ")
	if d.Ed25519Token != "" {
		t += " " + d.Ed25519Token
	}
	return t
}

// Tags are stored as lines of key=value with both parts escaped.
func encodeTags(tags []Tag) string {
	var b strings.Builder
	for _, t := range tags {
		b.WriteString(escapeTag(t.Key))
		b.WriteByte('=')
		b.WriteString(escapeTag(t.Value))
		b.WriteByte('\n')
	}
	return b.String()
}

func escapeTag(s string) string {
	return strings.NewReplacer("%", "%25", "=", "%3D", "\n", "%0A").Replace(s)
}

func unescapeTag(s string) string {
	return strings.NewReplacer("%3D", "=", "%0A", "\n", "%25", "%").Replace(s)
}

func decodeTags(s string) []Tag {
	var tags []Tag
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			tags = append(tags, Tag{unescapeTag(k), unescapeTag(v)})
		}
	}
	return tags
}

// Get returns the account's identity by name (normalised first).
func (s *Store) Get(ctx context.Context, accountID, name string) (*Identity, error) {
	return s.GetIn(ctx, s.db, accountID, name)
}

// GetIn is Get through q: the caller's transaction, for a caller that
// must not wait for a second connection while it holds one.
func (s *Store) GetIn(ctx context.Context, q db.Querier, accountID, name string) (*Identity, error) {
	n, _, _, err := Parse("Identity", name)
	if err != nil {
		return nil, err
	}
	return s.get(ctx, q, accountID, n)
}

func (s *Store) get(ctx context.Context, q db.Querier, accountID, name string) (*Identity, error) {
	i, err := scanIdentity(q.QueryRow(ctx, `SELECT `+columns+` FROM identities WHERE account_id = ? AND name = ?`, accountID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("identity: get %s: %w", name, err)
	}
	return i, nil
}

// GetByID returns an identity by its row id.
func (s *Store) GetByID(ctx context.Context, id int64) (*Identity, error) {
	i, err := scanIdentity(s.db.QueryRow(ctx, `SELECT `+columns+` FROM identities WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: id %d", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("identity: get id %d: %w", id, err)
	}
	return i, nil
}

// FindByName returns every account's identity with this name (for the
// operator's CLI, which is not scoped to one account).
func (s *Store) FindByName(ctx context.Context, name string) ([]*Identity, error) {
	n, _, _, err := Parse("Identity", name)
	if err != nil {
		return nil, err
	}
	return s.query(ctx, `SELECT `+columns+` FROM identities WHERE name = ? ORDER BY account_id`, n)
}

func (s *Store) query(ctx context.Context, q string, args ...any) ([]*Identity, error) {
	return queryIn(ctx, s.db, q, args...)
}

// queryIn returns the identities query q selects through from (the
// database or a transaction).
func queryIn(ctx context.Context, from db.Querier, q string, args ...any) ([]*Identity, error) {
	rows, err := from.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("identity: query: %w", err)
	}
	defer rows.Close()
	var out []*Identity
	for rows.Next() {
		i, err := scanIdentity(rows)
		if err != nil {
			return nil, fmt.Errorf("identity: scan: %w", err)
		}
		out = append(out, i)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("identity: query: %w", err)
	}
	return out, nil
}

// ListOptions selects a page of identities.
type ListOptions struct {
	Kind  Kind   // "" for both kinds
	After string // the last name of the previous page ("" for the first)
	Limit int    // page size, at least 1
}

// List returns the account's identities ordered by name, and whether more follow.
func (s *Store) List(ctx context.Context, accountID string, o ListOptions) ([]*Identity, bool, error) {
	if o.Limit < 1 {
		o.Limit = 1
	}
	q := `SELECT ` + columns + ` FROM identities WHERE account_id = ? AND name > ?`
	args := []any{accountID, o.After}
	if o.Kind != "" {
		q += ` AND kind = ?`
		args = append(args, string(o.Kind))
	}
	q += ` ORDER BY name LIMIT ?`
	args = append(args, o.Limit+1)
	ids, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, false, err
	}
	more := len(ids) > o.Limit
	if more {
		ids = ids[:o.Limit]
	}
	return ids, more, nil
}

// GetMany returns the named identities that exist (unknown and invalid
// names are left out, as SES's Get*Attributes calls do), keyed by the name
// as given, in one query — or none, while the account's identities are
// unchanged since the rows were read (package cachever). Each call gets
// its own copies.
func (s *Store) GetMany(ctx context.Context, accountID string, names []string) (map[string]*Identity, error) {
	given := map[string][]string{} // normalised name -> names as given
	var args []any
	for _, n := range names {
		norm, _, _, err := Parse("Identities", n)
		if err != nil {
			continue
		}
		if _, dup := given[norm]; !dup {
			args = append(args, norm)
		}
		given[norm] = append(given[norm], n)
	}
	out := make(map[string]*Identity, len(names))
	if len(args) == 0 {
		return out, nil
	}
	v, err := cachever.Read(ctx, s.db, accountID)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	ver := v[cachever.Identity]
	cached := make(map[string]*Identity, len(args))
	for _, a := range args {
		i, ok := s.cache.Get(nameKey{accountID, a.(string)}, ver)
		if !ok {
			cached = nil
			break
		}
		cached[a.(string)] = i
	}
	if cached == nil {
		q := `SELECT ` + columns + ` FROM identities WHERE account_id = ? AND name IN (?` + strings.Repeat(", ?", len(args)-1) + `)`
		found, err := s.query(ctx, q, append([]any{accountID}, args...)...)
		if err != nil {
			return nil, err
		}
		cached = make(map[string]*Identity, len(args))
		for _, a := range args {
			cached[a.(string)] = nil
		}
		for _, i := range found {
			cached[i.Name] = i
		}
		for n, i := range cached {
			s.cache.Put(nameKey{accountID, n}, ver, i)
		}
	}
	for norm, i := range cached {
		if i == nil {
			continue
		}
		for _, n := range given[norm] {
			out[n] = i.clone()
		}
	}
	return out, nil
}

// clone returns a copy of i that shares nothing with it.
func (i *Identity) clone() *Identity {
	c := *i
	c.DKIM.Tokens = slices.Clone(i.DKIM.Tokens)
	c.Tags = slices.Clone(i.Tags)
	return &c
}

// Delete removes an identity with its keys and history.
func (s *Store) Delete(ctx context.Context, accountID, name string) error {
	n, _, _, err := Parse("Identity", name)
	if err != nil {
		return err
	}
	res, err := s.db.Exec(ctx, `DELETE FROM identities WHERE account_id = ? AND name = ?`, accountID, n)
	if err != nil {
		return fmt.Errorf("identity: delete %s: %w", n, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, n)
	}
	return nil
}

// Transition is one recorded status change.
type Transition struct {
	ID         int64
	IdentityID int64
	AccountID  string
	Identity   string
	Attribute  Attribute
	From, To   Status
	Reason     string
	At         time.Time
}

func (s *Store) addTransition(ctx context.Context, tx *db.Tx, i *Identity, attr Attribute, from, to Status, reason string, at time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO identity_transitions (identity_id, account_id, identity, attribute, from_status, to_status, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		i.ID, i.AccountID, i.Name, string(attr), string(from), string(to), reason, db.Millis(at))
	if err != nil {
		return fmt.Errorf("identity: record transition: %w", err)
	}
	s.log.Info("identity status changed", "account", i.AccountID, "identity", i.Name, "attribute", attr, "from", from, "to", to, "reason", reason)
	return nil
}

// Transitions returns an identity's recorded status changes, oldest first.
func (s *Store) Transitions(ctx context.Context, identityID int64) ([]Transition, error) {
	return s.transitions(ctx, `WHERE identity_id = ? ORDER BY id`, identityID)
}

// Unnotified returns up to limit transitions the account owner has not
// been told about yet, oldest first.
func (s *Store) Unnotified(ctx context.Context, limit int) ([]Transition, error) {
	return s.transitions(ctx, `WHERE notified_at = 0 ORDER BY id LIMIT ?`, limit)
}

// MarkNotified records in tx that the owner was told about transition id
// (or that there was nothing to tell); ErrStale when it already was.
func (s *Store) MarkNotified(ctx context.Context, tx *db.Tx, id int64, at time.Time) error {
	return markOnce(ctx, tx, `UPDATE identity_transitions SET notified_at = ? WHERE id = ? AND notified_at = 0`, at, id)
}

func markOnce(ctx context.Context, tx *db.Tx, q string, at time.Time, id int64) error {
	res, err := tx.Exec(ctx, q, db.Millis(at), id)
	if err != nil {
		return fmt.Errorf("identity: mark %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ErrStale
	}
	return nil
}

func (s *Store) transitions(ctx context.Context, where string, args ...any) ([]Transition, error) {
	rows, err := s.db.Query(ctx, `SELECT id, identity_id, account_id, identity, attribute, from_status, to_status, reason, at FROM identity_transitions `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("identity: transitions: %w", err)
	}
	defer rows.Close()
	var out []Transition
	for rows.Next() {
		var t Transition
		var attr, from, to string
		var at int64
		if err := rows.Scan(&t.ID, &t.IdentityID, &t.AccountID, &t.Identity, &attr, &from, &to, &t.Reason, &at); err != nil {
			return nil, fmt.Errorf("identity: transitions: %w", err)
		}
		t.Attribute, t.From, t.To, t.At = Attribute(attr), Status(from), Status(to), db.Time(at)
		out = append(out, t)
	}
	return out, rows.Err()
}

// lock re-reads the identity i inside tx — locking its row on PostgreSQL;
// SQLite's write transaction is exclusive already — and fails with
// ErrNotFound when it was deleted meanwhile. Changes prepared outside a
// transaction (DKIM keys take a while to generate) go through it, so they
// never land on a row that is gone or belongs to someone else.
func (s *Store) lock(ctx context.Context, tx *db.Tx, i *Identity) (*Identity, error) {
	cur, err := getForUpdate(ctx, tx, `id = ? AND account_id = ? AND name = ?`, i.ID, i.AccountID, i.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, i.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("identity: lock %s: %w", i.Name, err)
	}
	return cur, nil
}

// getForUpdate reads the identity row matching where inside tx, locked
// against concurrent writers until tx ends (PostgreSQL: FOR UPDATE;
// SQLite's write transactions exclude each other already). No row:
// sql.ErrNoRows.
func getForUpdate(ctx context.Context, tx *db.Tx, where string, args ...any) (*Identity, error) {
	q := `SELECT ` + columns + ` FROM identities WHERE ` + where
	if tx.Dialect() == db.Postgres {
		q += ` FOR UPDATE`
	}
	return scanIdentity(tx.QueryRow(ctx, q, args...))
}

// DBInTx runs fn in a transaction of the store's database, for callers
// that mark rows with MarkNotified without queueing mail.
func (s *Store) DBInTx(ctx context.Context, fn func(ctx context.Context, tx *db.Tx) error) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error { return fn(ctx, tx) })
}
