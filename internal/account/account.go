// Package account owns Sesame's tenants: accounts (name, notification
// address, sandbox and sending state, quotas) and their access keys, whose
// secrets are sealed at rest and unsealed only to check a request's
// signature.
package account

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"time"

	"github.com/sesame-email/sesame/internal/addr"
	"github.com/sesame-email/sesame/internal/cachever"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/seal"
)

// Errors returned by the store.
var (
	ErrNotFound      = errors.New("account: not found")
	ErrUnknownKey    = errors.New("account: unknown access key")
	ErrAlreadyExists = errors.New("account: already exists")
	ErrInvalid       = errors.New("account: invalid")
	// ErrLastKey: RemoveKey without force of an account's only key.
	ErrLastKey = errors.New("account: last access key")
)

// Account is a tenant.
type Account struct {
	ID             string // 12 digits, as AWS account ids
	Name           string
	Email          string // where notifications about identities go
	Sandbox        bool
	SendingEnabled bool
	Max24HourSend  float64
	MaxSendRate    float64
	CreatedAt      time.Time
}

// Key is an access key. Secret is set only when the key was just created.
type Key struct {
	AccessKeyID string
	Secret      string
	AccountID   string
	CreatedAt   time.Time
	InactiveAt  time.Time // when the key was deactivated; zero: active
}

// Store is the account records over a database. Get and Secret answer
// from memory while the account's cache version (package cachever) is
// the one their entry was loaded under.
type Store struct {
	db       *db.DB
	box      *seal.Box
	now      func() time.Time
	accounts *cachever.Cache[string, Account]
	secrets  *cachever.Cache[string, cachedSecret]
}

// cachedSecret is an access key's unsealed secret, kept in memory only.
type cachedSecret struct{ secret, accountID string }

// maxCached bounds each of the store's caches.
const maxCached = 10000

// New returns a Store; now nil means time.Now.
func New(d *db.DB, box *seal.Box, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: d, box: box, now: now,
		accounts: cachever.NewCache[string, Account](maxCached), secrets: cachever.NewCache[string, cachedSecret](maxCached)}
}

// CreateOptions describe a new account. Empty key fields are generated.
type CreateOptions struct {
	Name            string
	Email           string
	AccessKeyID     string
	SecretAccessKey string
}

var (
	nameRE      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	accountIDRE = regexp.MustCompile(`^[0-9]{12}$`)
	keyIDRE     = regexp.MustCompile(`^[A-Za-z0-9]{16,128}$`)
	secretRE    = regexp.MustCompile(`^[\x21-\x7e]{16,128}$`)
)

// checkName applies the rules on account names. Admin commands take an
// account by ID, access key ID or name, so a name must look like neither of
// the others: account IDs are 12 digits, access key IDs 16 to 128 letters
// and digits (generated ones are AKIA and 16 more).
func checkName(name string) error {
	switch {
	case !nameRE.MatchString(name):
		return fmt.Errorf("%w: name %q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, name)
	case accountIDRE.MatchString(name):
		return fmt.Errorf("%w: name %q looks like an account ID (12 digits), which commands that take an account would read as one; choose another name", ErrInvalid, name)
	case keyIDRE.MatchString(name):
		return fmt.Errorf("%w: name %q looks like an access key ID (16 or more letters and digits only), which commands that take an account would read as one; add a '-', '_' or '.', or shorten it", ErrInvalid, name)
	}
	return nil
}

// Create adds an account with one access key and returns both (the key
// with its secret, shown only now).
func (s *Store) Create(ctx context.Context, o CreateOptions) (*Account, Key, error) {
	if o.Name == "" {
		o.Name = "account-" + digits(6)
	}
	if err := checkName(o.Name); err != nil {
		return nil, Key{}, err
	}
	if o.Email != "" {
		a, err := addr.ParseAddress(o.Email)
		if err != nil {
			return nil, Key{}, fmt.Errorf("%w: email: %v", ErrInvalid, err)
		}
		o.Email = a.String()
	}
	if (o.AccessKeyID == "") != (o.SecretAccessKey == "") {
		return nil, Key{}, fmt.Errorf("%w: give both an access key id and a secret access key, or neither", ErrInvalid)
	}
	k, err := newKey(o.AccessKeyID, o.SecretAccessKey)
	if err != nil {
		return nil, Key{}, err
	}
	now := s.now()
	a := &Account{ID: digits(12), Name: o.Name, Email: o.Email, Sandbox: true, SendingEnabled: true, Max24HourSend: 200, MaxSendRate: 1, CreatedAt: now.UTC().Truncate(time.Millisecond)}
	k.AccountID, k.CreatedAt = a.ID, a.CreatedAt
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO accounts (id, name, email, sandbox, sending_enabled, max_24h_send, max_send_rate, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.Name, a.Email, a.Sandbox, a.SendingEnabled, a.Max24HourSend, a.MaxSendRate, db.Millis(now))
		if db.IsUniqueViolation(err) {
			return fmt.Errorf("%w: an account named %q", ErrAlreadyExists, a.Name)
		}
		if err != nil {
			return fmt.Errorf("account: create: %w", err)
		}
		return s.insertKey(ctx, tx, k)
	})
	if err != nil {
		return nil, Key{}, err
	}
	return a, k, nil
}

func newKey(id, secret string) (Key, error) {
	if id == "" {
		id = "AKIA" + randomString("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
		secret = randomString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40)
	}
	if !keyIDRE.MatchString(id) {
		return Key{}, fmt.Errorf("%w: access key id %q: use 16-128 letters and digits", ErrInvalid, id)
	}
	if !secretRE.MatchString(secret) {
		return Key{}, fmt.Errorf("%w: secret access key: use 16-128 printable characters without spaces", ErrInvalid)
	}
	return Key{AccessKeyID: id, Secret: secret}, nil
}

func (s *Store) insertKey(ctx context.Context, tx *db.Tx, k Key) error {
	sealed := s.box.Seal([]byte(k.Secret), secretAAD(k.AccessKeyID))
	_, err := tx.Exec(ctx, `INSERT INTO access_keys (access_key_id, account_id, secret_sealed, created_at) VALUES (?, ?, ?, ?)`,
		k.AccessKeyID, k.AccountID, sealed, db.Millis(k.CreatedAt))
	if db.IsUniqueViolation(err) {
		return fmt.Errorf("%w: access key %s", ErrAlreadyExists, k.AccessKeyID)
	}
	if err != nil {
		return fmt.Errorf("account: store key: %w", err)
	}
	return nil
}

// AddKey adds an access key to an account (generated when id is empty).
func (s *Store) AddKey(ctx context.Context, accountID, id, secret string) (Key, error) {
	if (id == "") != (secret == "") {
		return Key{}, fmt.Errorf("%w: give both an access key id and a secret access key, or neither", ErrInvalid)
	}
	k, err := newKey(id, secret)
	if err != nil {
		return Key{}, err
	}
	k.AccountID, k.CreatedAt = accountID, s.now().UTC().Truncate(time.Millisecond)
	err = s.db.InTx(ctx, func(tx *db.Tx) error { return s.insertKey(ctx, tx, k) })
	return k, err
}

// RemoveKey deletes the access key id of the account; requests signed
// with it fail from then on. A key of another account, or none, →
// ErrUnknownKey. The account's last key is removed only with force (the
// account can then call the API again once a key is added): without,
// ErrLastKey. On PostgreSQL the account's row is locked first, so that two
// removals at once cannot take its last two keys.
func (s *Store) RemoveKey(ctx context.Context, accountID, id string, force bool) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		err := tx.LockAccount(ctx, accountID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrNotFound, accountID)
		}
		if err != nil {
			return fmt.Errorf("account: remove key: %w", err)
		}
		var mine, all int
		err = tx.QueryRow(ctx, `SELECT COUNT(CASE WHEN access_key_id = ? THEN 1 END), COUNT(*) FROM access_keys WHERE account_id = ?`, id, accountID).Scan(&mine, &all)
		if err != nil {
			return fmt.Errorf("account: remove key: %w", err)
		}
		switch {
		case mine == 0:
			return fmt.Errorf("%w: account %s has no access key %s", ErrUnknownKey, accountID, id)
		case all == 1 && !force:
			return fmt.Errorf("%w: %s is the only access key of account %s: without it the account cannot call the API; add another first (--add), or give --force to remove it anyway", ErrLastKey, id, accountID)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM access_keys WHERE access_key_id = ? AND account_id = ?`, id, accountID); err != nil {
			return fmt.Errorf("account: remove key: %w", err)
		}
		return nil
	})
}

// SetKeyActive deactivates (active false) or activates again the access
// key id of the account. An inactive key is unknown to Secret: requests
// and SMTP sessions signed with it fail from the next lookup on, and work
// again once it is activated. A key of another account, or none, →
// ErrUnknownKey. Deactivating an inactive key keeps its first
// deactivation time.
func (s *Store) SetKeyActive(ctx context.Context, accountID, id string, active bool) error {
	q := `UPDATE access_keys SET inactive_at = NULL WHERE access_key_id = ? AND account_id = ?`
	args := []any{id, accountID}
	if !active {
		q = `UPDATE access_keys SET inactive_at = COALESCE(inactive_at, ?) WHERE access_key_id = ? AND account_id = ?`
		args = append([]any{db.Millis(s.now())}, args...)
	}
	res, err := s.db.Exec(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("account: set key status: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("account: set key status: %w", err)
	} else if n == 0 {
		return fmt.Errorf("%w: account %s has no access key %s", ErrUnknownKey, accountID, id)
	}
	return nil
}

// Keys lists an account's access keys, without secrets.
func (s *Store) Keys(ctx context.Context, accountID string) ([]Key, error) {
	rows, err := s.db.Query(ctx, `SELECT access_key_id, account_id, created_at, inactive_at FROM access_keys WHERE account_id = ? ORDER BY created_at, access_key_id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("account: keys: %w", err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		var k Key
		var at int64
		var inactive sql.NullInt64
		if err := rows.Scan(&k.AccessKeyID, &k.AccountID, &at, &inactive); err != nil {
			return nil, fmt.Errorf("account: keys: %w", err)
		}
		k.CreatedAt = db.Time(at)
		if inactive.Valid {
			k.InactiveAt = db.Time(inactive.Int64)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// Secret returns the secret of an access key and its account, for
// signature checks; an unknown or inactive key → ErrUnknownKey. The unsealed secret
// is kept in memory while the account's keys and settings are unchanged
// (cachever.Account); unknown keys are not remembered, and a removed key's
// secret is dropped from memory at its next lookup.
func (s *Store) Secret(ctx context.Context, accessKeyID string) (secret, accountID string, err error) {
	if c, ver, ok := s.secrets.Peek(accessKeyID); ok {
		v, err := cachever.Read(ctx, s.db, c.accountID)
		if err != nil {
			return "", "", fmt.Errorf("account: look up key: %w", err)
		}
		if v[cachever.Account] == ver {
			return c.secret, c.accountID, nil
		}
		// Stale: the key may be gone or moved to another account (whose
		// versions are not comparable with this entry's). The old secret
		// leaves memory now rather than at the next clear of the cache.
		s.secrets.Delete(accessKeyID)
	}
	// The key and its account's version in one statement: one snapshot.
	var sealed []byte
	var ver int64
	err = s.db.QueryRow(ctx, `SELECT k.account_id, k.secret_sealed, COALESCE(c.v_account, 0) FROM access_keys k
		LEFT JOIN cache_versions c ON c.account_id = k.account_id WHERE k.access_key_id = ? AND k.inactive_at IS NULL`, accessKeyID).Scan(&accountID, &sealed, &ver)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("%w: %s", ErrUnknownKey, accessKeyID)
	}
	if err != nil {
		return "", "", fmt.Errorf("account: look up key: %w", err)
	}
	b, err := s.box.Open(sealed, secretAAD(accessKeyID))
	if err != nil {
		return "", "", fmt.Errorf("account: unseal key %s: %w", accessKeyID, err)
	}
	s.secrets.Put(accessKeyID, ver, cachedSecret{secret: string(b), accountID: accountID})
	return string(b), accountID, nil
}

// secretAAD binds a sealed secret to its access key.
func secretAAD(accessKeyID string) []byte { return []byte("access-key:" + accessKeyID) }

// SealedSecrets returns every access key's sealed secret, oldest first,
// so that a master key can be tried on a database that has no key check
// yet (masterkey.Options.Sealed) and the keys it cannot open be named.
// Every account has a key, so a database with anything sealed in it has
// one.
func SealedSecrets(ctx context.Context, q db.Querier) ([]seal.Sealed, error) {
	rows, err := q.Query(ctx, `SELECT access_key_id, account_id, secret_sealed FROM access_keys ORDER BY created_at, access_key_id`)
	if err != nil {
		return nil, fmt.Errorf("account: sealed secrets: %w", err)
	}
	defer rows.Close()
	var out []seal.Sealed
	for rows.Next() {
		var id, acct string
		var sealed []byte
		if err := rows.Scan(&id, &acct, &sealed); err != nil {
			return nil, fmt.Errorf("account: sealed secrets: %w", err)
		}
		out = append(out, seal.Sealed{What: fmt.Sprintf("the secret of access key %s (account %s)", id, acct), Value: sealed, AAD: secretAAD(id)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("account: sealed secrets: %w", err)
	}
	return out, nil
}

const accountColumns = `id, name, email, sandbox, sending_enabled, max_24h_send, max_send_rate, created_at`

func scanAccount(sc interface{ Scan(...any) error }) (*Account, error) {
	var a Account
	var at int64
	if err := sc.Scan(&a.ID, &a.Name, &a.Email, &a.Sandbox, &a.SendingEnabled, &a.Max24HourSend, &a.MaxSendRate, &at); err != nil {
		return nil, err
	}
	a.CreatedAt = db.Time(at)
	return &a, nil
}

// Get returns an account by id, from memory while the account's cache
// version is unchanged.
func (s *Store) Get(ctx context.Context, id string) (*Account, error) {
	v, err := cachever.Read(ctx, s.db, id)
	if err != nil {
		return nil, fmt.Errorf("account: get: %w", err)
	}
	if a, ok := s.accounts.Get(id, v[cachever.Account]); ok {
		return &a, nil
	}
	a, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	s.accounts.Put(id, v[cachever.Account], *a)
	return a, nil
}

func (s *Store) get(ctx context.Context, id string) (*Account, error) {
	a, err := scanAccount(s.db.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("account: get: %w", err)
	}
	return a, nil
}

// Find returns the account ref refers to: the account with that ID, else
// the account of that access key, else the account of that name — in that
// order, never whichever matches first, so that an account named like
// another's ID or key (refused by Create, but possible in a database from
// before the rule) cannot stand in for it.
func (s *Store) Find(ctx context.Context, ref string) (*Account, error) {
	for _, where := range []string{
		`id = ?`,
		`id = (SELECT account_id FROM access_keys WHERE access_key_id = ?)`,
		`name = ?`,
	} {
		a, err := scanAccount(s.db.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE `+where, ref))
		if err == nil {
			return a, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("account: find: %w", err)
		}
	}
	return nil, fmt.Errorf("%w: no account has the id, access key or name %q", ErrNotFound, ref)
}

// List returns every account, by name.
func (s *Store) List(ctx context.Context) ([]*Account, error) {
	rows, err := s.db.Query(ctx, `SELECT `+accountColumns+` FROM accounts ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("account: list: %w", err)
	}
	defer rows.Close()
	var out []*Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("account: list: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func digits(n int) string { return randomString("0123456789", n) }

func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

// Production quotas SES grants by default when it takes an account out of
// the sandbox.
const (
	DefaultProductionMax24HourSend = 50000
	DefaultProductionMaxSendRate   = 14
)

// SetProduction takes an account out of the sandbox with the given quotas
// (the self-hosted form of "request production access"). max24h is a
// whole number of messages, or -1 for unlimited; rate must be positive.
// Neither may be NaN or infinite: the APIs could not encode them.
func (s *Store) SetProduction(ctx context.Context, accountID string, max24h, rate float64) error {
	if max24h != -1 && (max24h < 1 || math.IsInf(max24h, 0) || max24h != math.Trunc(max24h)) {
		return fmt.Errorf("%w: the daily quota must be a whole number of messages (at least 1), or -1 for unlimited; got %v", ErrInvalid, max24h)
	}
	if !(rate > 0) || math.IsInf(rate, 0) {
		return fmt.Errorf("%w: the sending rate must be a positive number of messages per second; got %v", ErrInvalid, rate)
	}
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE accounts SET sandbox = ?, max_24h_send = ?, max_send_rate = ? WHERE id = ?`, false, max24h, rate, accountID)
		if err != nil {
			return fmt.Errorf("account: set production: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: %s", ErrNotFound, accountID)
		}
		// A pending production-access request is granted.
		if _, err := tx.Exec(ctx, `UPDATE account_details SET review_status = 'GRANTED' WHERE account_id = ? AND review_status = 'PENDING'`, accountID); err != nil {
			return fmt.Errorf("account: grant production access: %w", err)
		}
		return nil
	})
}

// ErrShutdown is returned by ResumeSending for an account whose
// enforcement status is SHUTDOWN: SES pauses such an account's sending
// itself, and only SES (here the operator, with `sesame account
// reinstate`) lifts the pause, not the account's own API calls.
var ErrShutdown = errors.New("account: sending paused by the enforcement status SHUTDOWN")

// ShutdownMessage is the APIs' message for ErrShutdown.
const ShutdownMessage = "Sending is paused for this account because its enforcement status is SHUTDOWN (its bounce or complaint rate reached the pause level). It cannot be resumed by the account's own requests; the operator reinstates the account (sesame account reinstate)."

// ResumeSending resumes the account's sending (the customer's
// PutAccountSendingAttributes / UpdateAccountSendingEnabled) unless status
// (the reputation guard's enforcement status; nil: not checked) says
// SHUTDOWN: then it is ErrShutdown. Status is asked again after the
// change, and a SHUTDOWN that arrived meanwhile is restored (the guard
// pauses before it records SHUTDOWN, and again after), so a resume racing
// the guard never leaves a SHUTDOWN account sending.
func (s *Store) ResumeSending(ctx context.Context, accountID string, status func(ctx context.Context, accountID string) (string, error)) error {
	shutdown := func() (bool, error) {
		if status == nil {
			return false, nil
		}
		st, err := status(ctx, accountID)
		if err != nil {
			return false, fmt.Errorf("account: enforcement status of %s: %w", accountID, err)
		}
		return st == "SHUTDOWN", nil
	}
	if down, err := shutdown(); err != nil || down {
		return cmp.Or(err, ErrShutdown)
	}
	if err := s.SetSendingEnabled(ctx, accountID, true); err != nil {
		return err
	}
	down, err := shutdown()
	if err != nil || !down {
		return err
	}
	if err := s.SetSendingEnabled(ctx, accountID, false); err != nil {
		return err
	}
	return ErrShutdown
}

// SetSendingEnabled pauses or resumes sending for the account (v1
// UpdateAccountSendingEnabled, v2 PutAccountSendingAttributes).
func (s *Store) SetSendingEnabled(ctx context.Context, accountID string, enabled bool) error {
	res, err := s.db.Exec(ctx, `UPDATE accounts SET sending_enabled = ? WHERE id = ?`, enabled, accountID)
	if err != nil {
		return fmt.Errorf("account: set sending enabled: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, accountID)
	}
	return nil
}
