package contact

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sesame-email/sesame/internal/db"
)

// Change is one change of a contact's subscription, as Options.Changed
// sees it: Old is nil for a new contact, New nil for a deleted one.
type Change struct {
	AccountID string
	List      *List
	Old, New  *Contact
	// Source is how a contact's own change was made ("UnsubscribeHeader",
	// "UnsubscribeLink"; see Store.ChangeByRecipient), "" for a change
	// made through the API or an import job.
	Source string
	// Origin is what ChangeByRecipient was given with the change (the
	// message its link came from), nil for other changes.
	Origin any
}

// Options configures a Store.
type Options struct {
	DB  *db.DB           // required
	Now func() time.Time // nil: time.Now
	// Changed, when set, is called in the transaction of every change of
	// a contact (Store.write); an error rolls the change back. Part 2
	// publishes the Subscription event here.
	Changed func(ctx context.Context, tx *db.Tx, c Change) error
}

// Store is the contact lists and contacts of all accounts. It is safe for
// concurrent use; every call is scoped to one account.
type Store struct {
	db      *db.DB
	now     func() time.Time
	changed func(ctx context.Context, tx *db.Tx, c Change) error
	limit   int // lists per account (MaxLists; tests may raise it)
}

// New returns a Store.
func New(opts Options) (*Store, error) {
	if opts.DB == nil {
		return nil, errors.New("contact: Options.DB is required")
	}
	s := &Store{db: opts.DB, now: opts.Now, changed: opts.Changed, limit: MaxLists}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// SetListLimit sets the number of lists an account may have (MaxLists
// unless set). Call it before the store is used.
func (s *Store) SetListLimit(n int) { s.limit = n }

// CreateList stores a new list: ErrAlreadyExists for a name in use,
// ErrLimitExceeded beyond the limit, *InvalidError for bad input.
func (s *Store) CreateList(ctx context.Context, accountID string, l List) error {
	if err := ValidateName("ContactListName", l.Name); err != nil {
		return err
	}
	if len(l.Description) > MaxDescriptionLength {
		return invalid("Description", "Description is too long: at most %d characters.", MaxDescriptionLength)
	}
	if err := validateTopics(l.Topics); err != nil {
		return err
	}
	if err := validateTags(l.Tags); err != nil {
		return err
	}
	topics, tags, err := encodeList(l.Topics, l.Tags)
	if err != nil {
		return err
	}
	now := db.Millis(s.now())
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		if err := tx.LockAccount(ctx, accountID); err != nil { // count and insert as one
			return fmt.Errorf("contact: %w", err)
		}
		var n int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM contact_lists WHERE account_id = ?`, accountID).Scan(&n); err != nil {
			return fmt.Errorf("contact: count lists: %w", err)
		}
		var exists int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM contact_lists WHERE account_id = ? AND name = ?`, accountID, l.Name).Scan(&exists); err != nil {
			return fmt.Errorf("contact: create list: %w", err)
		}
		if exists > 0 {
			return fmt.Errorf("%w: contact list %s", ErrAlreadyExists, l.Name)
		}
		if n >= int64(s.limit) {
			return fmt.Errorf("%w: an account has at most %d contact list(s)", ErrLimitExceeded, s.limit)
		}
		_, err := tx.Exec(ctx, `INSERT INTO contact_lists (account_id, name, description, topics, tags, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			accountID, l.Name, l.Description, topics, tags, now, now)
		if db.IsUniqueViolation(err) {
			return fmt.Errorf("%w: contact list %s", ErrAlreadyExists, l.Name)
		}
		if err != nil {
			return fmt.Errorf("contact: create list %s: %w", l.Name, err)
		}
		return nil
	})
}

func encodeList(topics []Topic, tags []Tag) (string, string, error) {
	if topics == nil {
		topics = []Topic{}
	}
	if tags == nil {
		tags = []Tag{}
	}
	tb, err := json.Marshal(topics)
	if err != nil {
		return "", "", fmt.Errorf("contact: encode topics: %w", err)
	}
	gb, err := json.Marshal(tags)
	if err != nil {
		return "", "", fmt.Errorf("contact: encode tags: %w", err)
	}
	return string(tb), string(gb), nil
}

const listColumns = `name, description, topics, tags, created_at, updated_at`

func scanList(sc interface{ Scan(...any) error }) (*List, error) {
	var (
		l                List
		topics, tags     string
		created, updated int64
	)
	if err := sc.Scan(&l.Name, &l.Description, &topics, &tags, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(topics), &l.Topics); err != nil {
		return nil, fmt.Errorf("topics of %s: %w", l.Name, err)
	}
	if err := json.Unmarshal([]byte(tags), &l.Tags); err != nil {
		return nil, fmt.Errorf("tags of %s: %w", l.Name, err)
	}
	l.Created, l.Updated = db.Time(created), db.Time(updated)
	return &l, nil
}

// GetList returns the account's list of that name, or ErrNotFound.
func (s *Store) GetList(ctx context.Context, accountID, name string) (*List, error) {
	return getList(ctx, s.db, accountID, name)
}

func getList(ctx context.Context, q db.Querier, accountID, name string) (*List, error) {
	return readList(ctx, q, "", accountID, name)
}

// Row locks of a list in a transaction (PostgreSQL; SQLite's write
// transactions exclude each other already). A change of the list itself
// (its topics, its tags) holds it for update; a change of one of its
// contacts holds it shared, so that the topics it checked the contact's
// preferences against cannot change before it commits: else an
// UpdateContactList removing a topic, committed between that check and
// the contact's commit, would leave a preference for a topic the list no
// longer has (and it would come back if the topic were added again).
const (
	lockList  = ` FOR UPDATE`
	shareList = ` FOR SHARE`
)

// getListLocked is getList in tx, the list's row locked (lockList or
// shareList) until tx ends.
func getListLocked(ctx context.Context, tx *db.Tx, lock, accountID, name string) (*List, error) {
	if tx.Dialect() != db.Postgres {
		lock = ""
	}
	return readList(ctx, tx, lock, accountID, name)
}

func readList(ctx context.Context, q db.Querier, lock, accountID, name string) (*List, error) {
	l, err := scanList(q.QueryRow(ctx, `SELECT `+listColumns+` FROM contact_lists WHERE account_id = ? AND name = ?`+lock, accountID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: contact list %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("contact: get list %s: %w", name, err)
	}
	return l, nil
}

// UpdateList changes a list's description (nil: unchanged) and topics
// (nil: unchanged; otherwise the new set, and the contacts' preferences
// for topics no longer in it are dropped).
func (s *Store) UpdateList(ctx context.Context, accountID, name string, description *string, topics []Topic) error {
	if description != nil && len(*description) > MaxDescriptionLength {
		return invalid("Description", "Description is too long: at most %d characters.", MaxDescriptionLength)
	}
	if topics != nil {
		if err := validateTopics(topics); err != nil {
			return err
		}
	}
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		l, err := getListLocked(ctx, tx, lockList, accountID, name)
		if err != nil {
			return err
		}
		if description != nil {
			l.Description = *description
		}
		if topics != nil {
			l.Topics = topics
			keep := make([]any, 0, len(topics)+2)
			keep = append(keep, accountID, name)
			q := `DELETE FROM contact_topics WHERE account_id = ? AND list_name = ?`
			if len(topics) > 0 {
				for _, t := range topics {
					keep = append(keep, t.TopicName)
				}
				q += ` AND topic NOT IN (` + marks(len(topics)) + `)`
			}
			if _, err := tx.Exec(ctx, q, keep...); err != nil {
				return fmt.Errorf("contact: drop preferences of removed topics: %w", err)
			}
		}
		enc, _, err := encodeList(l.Topics, nil)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE contact_lists SET description = ?, topics = ?, updated_at = ? WHERE account_id = ? AND name = ?`,
			l.Description, enc, db.Millis(s.now()), accountID, name); err != nil {
			return fmt.Errorf("contact: update list %s: %w", name, err)
		}
		return nil
	})
}

// DeleteList deletes a list and all its contacts, or returns ErrNotFound.
func (s *Store) DeleteList(ctx context.Context, accountID, name string) error {
	res, err := s.db.Exec(ctx, `DELETE FROM contact_lists WHERE account_id = ? AND name = ?`, accountID, name)
	if err != nil {
		return fmt.Errorf("contact: delete list %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return fmt.Errorf("contact: delete list %s: %w", name, err)
		}
		return fmt.Errorf("%w: contact list %s", ErrNotFound, name)
	}
	return nil
}

// TagList adds tags to a list, replacing the values of keys it has
// (TagResource); UntagList removes keys (UntagResource).
func (s *Store) TagList(ctx context.Context, accountID, name string, add []Tag) error {
	return s.retag(ctx, accountID, name, func(tags []Tag) []Tag {
		for _, t := range add {
			i := slices.IndexFunc(tags, func(o Tag) bool { return o.Key == t.Key })
			if i >= 0 {
				tags[i] = t
			} else {
				tags = append(tags, t)
			}
		}
		return tags
	})
}

// UntagList removes the tags of those keys from a list.
func (s *Store) UntagList(ctx context.Context, accountID, name string, keys []string) error {
	return s.retag(ctx, accountID, name, func(tags []Tag) []Tag {
		return slices.DeleteFunc(tags, func(t Tag) bool { return slices.Contains(keys, t.Key) })
	})
}

func (s *Store) retag(ctx context.Context, accountID, name string, f func([]Tag) []Tag) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		l, err := getListLocked(ctx, tx, lockList, accountID, name)
		if err != nil {
			return err
		}
		tags := f(l.Tags)
		if err := validateTags(tags); err != nil {
			return err
		}
		_, enc, err := encodeList(nil, tags)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE contact_lists SET tags = ? WHERE account_id = ? AND name = ?`, enc, accountID, name); err != nil {
			return fmt.Errorf("contact: tag list %s: %w", name, err)
		}
		return nil
	})
}

// Page sizes of the lists: at most MaxPageSize, DefaultPageSize when 0.
const (
	DefaultPageSize = 1000
	MaxPageSize     = 1000
)

func pageSize(size int) (int, error) {
	switch {
	case size == 0:
		return DefaultPageSize, nil
	case size < 0 || size > MaxPageSize:
		return 0, invalid("PageSize", "PageSize %d is not valid: it must be from 1 to %d.", size, MaxPageSize)
	}
	return size, nil
}

// Tokens: a version prefix and the position (a key or a name), base64.
const (
	listToken    = "l1:"
	contactToken = "c1:"
	jobToken     = "j1:"
)

func encodeToken(prefix, pos string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(prefix + pos))
}

// decodeToken reverses encodeToken; anything it did not make is refused,
// a position that is not text too (PostgreSQL would refuse it as a
// parameter: a failed query instead of a bad token), as suppression's
// tokens are.
func decodeToken(prefix, tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(tok, "="))
	pos, ok := strings.CutPrefix(string(b), prefix)
	if err != nil || !ok || pos == "" || !utf8.ValidString(pos) || strings.ContainsRune(pos, 0) {
		return "", invalid("NextToken", "NextToken is not valid: pass the NextToken of the previous page unchanged.")
	}
	return pos, nil
}

// ListLists returns a page of the account's lists in name order and the
// token of the next page ("" on the last).
func (s *Store) ListLists(ctx context.Context, accountID, token string, size int) ([]*List, string, error) {
	size, err := pageSize(size)
	if err != nil {
		return nil, "", err
	}
	after := ""
	if token != "" {
		if after, err = decodeToken(listToken, token); err != nil {
			return nil, "", err
		}
	}
	rows, err := s.db.Query(ctx, `SELECT `+listColumns+` FROM contact_lists WHERE account_id = ? AND name > ? ORDER BY name LIMIT ?`, accountID, after, size+1)
	if err != nil {
		return nil, "", fmt.Errorf("contact: list lists: %w", err)
	}
	defer rows.Close()
	var out []*List
	for rows.Next() {
		l, err := scanList(rows)
		if err != nil {
			return nil, "", fmt.Errorf("contact: list lists: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("contact: list lists: %w", err)
	}
	if len(out) > size {
		out = out[:size]
		return out, encodeToken(listToken, out[size-1].Name), nil
	}
	return out, "", nil
}

// marks returns n comma-separated placeholders.
func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }
