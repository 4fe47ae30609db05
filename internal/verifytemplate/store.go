package verifytemplate

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/compose"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/send"
)

// Options configures a Store.
type Options struct {
	DB         *db.DB          // required
	Identities *identity.Store // required: FromEmailAddress checks, links
	Accounts   *account.Store  // required by Send (the sandbox check)
	Sender     *send.Sender    // required by Send
	Now        func() time.Time
	Logger     *slog.Logger // nil: discard
}

// Store is the custom verification email templates over a database, and
// their sending. It is safe for concurrent use.
type Store struct {
	opts Options
	now  func() time.Time
	log  *slog.Logger
}

// New returns a Store.
func New(opts Options) (*Store, error) {
	if opts.DB == nil || opts.Identities == nil {
		return nil, errors.New("verifytemplate: DB and Identities are required")
	}
	s := &Store{opts: opts, now: opts.Now, log: opts.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// checkFrom refuses a FromEmailAddress no verified identity of the
// account covers.
func (s *Store) checkFrom(ctx context.Context, accountID, from string) error {
	ok, err := s.opts.Identities.Verified(ctx, accountID, "FromEmailAddress", from)
	if err != nil {
		var ie *identity.InvalidError
		if errors.As(err, &ie) {
			return invalid("FromEmailAddress", "Invalid FromEmailAddress: %s", ie.Msg)
		}
		return err
	}
	if !ok {
		return refuse(ErrFromNotVerified, "Email address is not verified. The following identities failed the check: %s (FromEmailAddress must be a verified address, or an address of a verified domain).", from)
	}
	return nil
}

// Create stores a new template of the account, after checking every
// member (a rejection changes nothing). A name in use → ErrAlreadyExists;
// the account's 51st → ErrLimitExceeded; an unverified FromEmailAddress →
// ErrFromNotVerified.
func (s *Store) Create(ctx context.Context, accountID string, t Template) error {
	if err := validate(t); err != nil {
		return err
	}
	if err := s.checkFrom(ctx, accountID, t.FromEmailAddress); err != nil {
		return err
	}
	if t.Tags == nil {
		t.Tags = []Tag{}
	}
	tags, err := json.Marshal(t.Tags)
	if err != nil {
		return fmt.Errorf("verifytemplate: encode tags: %w", err)
	}
	return s.opts.DB.InTx(ctx, func(tx *db.Tx) error {
		if err := tx.LockAccount(ctx, accountID); err != nil { // count and insert as one, against concurrent creates
			return fmt.Errorf("verifytemplate: %w", err)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM custom_verification_templates WHERE account_id = ?`, accountID).Scan(&n); err != nil {
			return fmt.Errorf("verifytemplate: count: %w", err)
		}
		var exists int
		err := tx.QueryRow(ctx, `SELECT 1 FROM custom_verification_templates WHERE account_id = ? AND name = ?`, accountID, t.Name).Scan(&exists)
		if err == nil {
			return refuse(ErrAlreadyExists, "Custom verification email template %s already exists.", t.Name)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("verifytemplate: create %s: %w", t.Name, err)
		}
		if n >= MaxTemplates {
			return refuse(ErrLimitExceeded, "Maximum number of custom verification email templates exceeded: this account has %d (at most %d).", n, MaxTemplates)
		}
		_, err = tx.Exec(ctx, `INSERT INTO custom_verification_templates (account_id, name, from_address, subject, content, success_url, failure_url, tags, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, accountID, t.Name, t.FromEmailAddress, t.Subject, t.Content, t.SuccessURL, t.FailureURL, string(tags), db.Millis(s.now()))
		if db.IsUniqueViolation(err) {
			return refuse(ErrAlreadyExists, "Custom verification email template %s already exists.", t.Name)
		}
		if err != nil {
			return fmt.Errorf("verifytemplate: create %s: %w", t.Name, err)
		}
		return nil
	})
}

const columns = `name, from_address, subject, content, success_url, failure_url, tags, created_at`

type scanner interface{ Scan(dest ...any) error }

func scan(sc scanner) (*Template, error) {
	var (
		t       Template
		tags    string
		created int64
	)
	if err := sc.Scan(&t.Name, &t.FromEmailAddress, &t.Subject, &t.Content, &t.SuccessURL, &t.FailureURL, &tags, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(tags), &t.Tags); err != nil {
		return nil, fmt.Errorf("verifytemplate: stored tags of %s: %w", t.Name, err)
	}
	t.CreatedAt = db.Time(created)
	return &t, nil
}

// Get returns the account's template of that name; none → ErrNotFound.
func (s *Store) Get(ctx context.Context, accountID, name string) (*Template, error) {
	t, err := scan(s.opts.DB.QueryRow(ctx, `SELECT `+columns+` FROM custom_verification_templates WHERE account_id = ? AND name = ?`, accountID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refuse(ErrNotFound, "Custom verification email template %s does not exist.", name)
	}
	if err != nil {
		return nil, fmt.Errorf("verifytemplate: get %s: %w", name, err)
	}
	return t, nil
}

// Update changes the given members of the account's template name, after
// checking the template that results (a rejection changes nothing); a
// new FromEmailAddress must be verified. None → ErrNotFound.
func (s *Store) Update(ctx context.Context, accountID, name string, u Update) error {
	if err := validateName(name); err != nil {
		return err
	}
	return s.opts.DB.InTx(ctx, func(tx *db.Tx) error {
		q := `SELECT ` + columns + ` FROM custom_verification_templates WHERE account_id = ? AND name = ?`
		if tx.Dialect() == db.Postgres {
			q += ` FOR UPDATE`
		}
		t, err := scan(tx.QueryRow(ctx, q, accountID, name))
		if errors.Is(err, sql.ErrNoRows) {
			return refuse(ErrNotFound, "Custom verification email template %s does not exist.", name)
		}
		if err != nil {
			return fmt.Errorf("verifytemplate: update %s: %w", name, err)
		}
		for _, f := range []struct {
			v   *string
			dst *string
		}{{u.FromEmailAddress, &t.FromEmailAddress}, {u.Subject, &t.Subject}, {u.Content, &t.Content}, {u.SuccessURL, &t.SuccessURL}, {u.FailureURL, &t.FailureURL}} {
			if f.v != nil {
				*f.dst = *f.v
			}
		}
		if err := validate(*t); err != nil {
			return err
		}
		if u.FromEmailAddress != nil { // a read beside tx: SQLite's WAL and PostgreSQL let it through
			if err := s.checkFrom(ctx, accountID, t.FromEmailAddress); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE custom_verification_templates SET from_address = ?, subject = ?, content = ?, success_url = ?, failure_url = ?
			WHERE account_id = ? AND name = ?`, t.FromEmailAddress, t.Subject, t.Content, t.SuccessURL, t.FailureURL, accountID, name); err != nil {
			return fmt.Errorf("verifytemplate: update %s: %w", name, err)
		}
		return nil
	})
}

// Delete removes the account's template name; none → ErrNotFound (v1
// ignores it: its DeleteCustomVerificationEmailTemplate has no errors).
// Links already mailed keep working: they carry their own redirect URLs.
func (s *Store) Delete(ctx context.Context, accountID, name string) error {
	res, err := s.opts.DB.Exec(ctx, `DELETE FROM custom_verification_templates WHERE account_id = ? AND name = ?`, accountID, name)
	if err != nil {
		return fmt.Errorf("verifytemplate: delete %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return refuse(ErrNotFound, "Custom verification email template %s does not exist.", name)
	}
	return nil
}

// List returns up to size of the account's templates in name order, after
// the position token (from a previous List; "" for the start), and the
// token of the next page ("" after the last). A token List did not make →
// *InvalidError naming NextToken.
func (s *Store) List(ctx context.Context, accountID, token string, size int) ([]Template, string, error) {
	after := ""
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || !strings.HasPrefix(string(b), "cvt:") || len(b) == 4 {
			return nil, "", invalid("NextToken", "Invalid NextToken: it was not returned by a previous call.")
		}
		after = string(b[4:])
	}
	size = max(size, 1)
	rows, err := s.opts.DB.Query(ctx, `SELECT `+columns+` FROM custom_verification_templates WHERE account_id = ? AND name > ? ORDER BY name LIMIT ?`, accountID, after, size+1)
	if err != nil {
		return nil, "", fmt.Errorf("verifytemplate: list: %w", err)
	}
	defer rows.Close()
	var out []Template
	for rows.Next() {
		t, err := scan(rows)
		if err != nil {
			return nil, "", fmt.Errorf("verifytemplate: list: %w", err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("verifytemplate: list: %w", err)
	}
	next := ""
	if len(out) > size {
		out = out[:size]
		next = base64.RawURLEncoding.EncodeToString([]byte("cvt:" + out[size-1].Name))
	}
	return out, next, nil
}

// SendRequest is one SendCustomVerificationEmail.
type SendRequest struct {
	AccountID        string
	EmailAddress     string // the address to verify
	TemplateName     string
	ConfigurationSet string // "" for none (the sender identity's default applies)
	// SourceIP and CallerIdentity are the caller's, for the auto-tags.
	SourceIP, CallerIdentity string
}

// Send mails the template's verification mail to r.EmailAddress and
// returns its MessageId. In order: the address must parse (*InvalidError),
// the account must be out of the sandbox (ErrProductionAccess), the
// template must exist (ErrNotFound) and its FromEmailAddress be verified
// (ErrFromNotVerified); then a link is issued (identity.IssueCustomLink)
// and the mail — FROM the template's address TO r.EmailAddress, its
// subject, its content followed by the link — goes through the admission
// door, whose refusals (*send.Error: configuration set, quota, rate,
// paused sending, ...) come back as they are, after the link is removed
// again: a refused send leaves nothing behind. A verified address gets the
// mail too (SES does not say it refuses; following the link changes
// nothing then).
func (s *Store) Send(ctx context.Context, r SendRequest) (string, error) {
	if s.opts.Accounts == nil || s.opts.Sender == nil {
		return "", errors.New("verifytemplate: sending needs Options.Accounts and Options.Sender")
	}
	if strings.TrimSpace(r.EmailAddress) == "" {
		return "", invalid("EmailAddress", "EmailAddress is required.")
	}
	addr, kind, _, err := identity.Parse("EmailAddress", r.EmailAddress)
	if err == nil && kind != identity.KindEmail {
		err = invalid("EmailAddress", "Invalid EmailAddress <%s>: an email address needs an @ and a domain.", r.EmailAddress)
	}
	var ie *identity.InvalidError
	if errors.As(err, &ie) {
		return "", invalid("EmailAddress", "Invalid EmailAddress: %s", ie.Msg)
	}
	if err != nil {
		return "", err
	}
	if err := validateName(r.TemplateName); err != nil {
		return "", err
	}
	acct, err := s.opts.Accounts.Get(ctx, r.AccountID)
	if err != nil {
		return "", fmt.Errorf("verifytemplate: account %s: %w", r.AccountID, err)
	}
	if acct.Sandbox {
		return "", refuse(ErrProductionAccess, "Production access not granted: custom verification emails can be sent only by accounts out of the sandbox.")
	}
	t, err := s.Get(ctx, r.AccountID, r.TemplateName)
	if err != nil {
		return "", err
	}
	if err := s.checkFrom(ctx, r.AccountID, t.FromEmailAddress); err != nil {
		return "", err
	}
	link, undo, err := s.opts.Identities.IssueCustomLink(ctx, identity.CustomLink{AccountID: r.AccountID, Address: addr, Template: t.Name,
		SuccessURL: t.SuccessURL, FailureURL: t.FailureURL})
	if err != nil {
		return "", err
	}
	res, err := s.opts.Sender.Submit(ctx, send.Request{
		AccountID: r.AccountID,
		Simple:    &compose.Simple{From: t.FromEmailAddress, To: []string{addr}, Subject: t.Subject, HTML: Body(t.Content, link)},
		From:      t.FromEmailAddress, ConfigurationSet: r.ConfigurationSet,
		MaxSize: send.MaxSizeV1, Operation: "SendCustomVerificationEmail",
		SourceIP: r.SourceIP, CallerIdentity: r.CallerIdentity,
	})
	if err != nil {
		// A fresh context: the request's may be what ended the send.
		if uerr := undo(context.WithoutCancel(ctx)); uerr != nil {
			s.log.Error("custom verification link of a refused send not removed (its secret was never mailed)", "account", r.AccountID, "err", uerr)
		}
		return "", err
	}
	return res.MessageID, nil
}
