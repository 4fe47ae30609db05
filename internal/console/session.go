package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/sesame-email/sesame/internal/db"
)

// session is one signed-in browser.
type session struct {
	hash        string // SHA-256 (hex) of the cookie value
	AccountID   string // the account the session acts as; "" for an operator who has not picked one
	AccessKeyID string // the key it signed in with; "" for an operator
	Admin       bool
	CSRF        string
	ExpiresAt   time.Time
}

// errNoSession is a cookie that names no live session.
var errNoSession = errors.New("console: no such session")

// randomToken returns n random bytes, base64url.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// sessions stores sessions in the database, so that every node of a
// cluster knows them and a restart keeps them.
type sessions struct {
	db  *db.DB
	ttl time.Duration
}

// create stores a new session and returns its cookie value. It deletes
// the expired sessions on the way.
func (s *sessions) create(ctx context.Context, now time.Time, accountID, keyID string, admin bool) (string, *session, error) {
	id := randomToken(32)
	se := &session{hash: hashID(id), AccountID: accountID, AccessKeyID: keyID, Admin: admin, CSRF: randomToken(32), ExpiresAt: now.Add(s.ttl)}
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM console_sessions WHERE expires_at <= ?`, db.Millis(now)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO console_sessions (id_hash, account_id, access_key_id, admin, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			se.hash, accountID, keyID, admin, se.CSRF, db.Millis(now), db.Millis(se.ExpiresAt))
		return err
	})
	if err != nil {
		return "", nil, fmt.Errorf("console: create session: %w", err)
	}
	return id, se, nil
}

// get returns the live session of a cookie value: errNoSession when there
// is none or it has expired at now.
func (s *sessions) get(ctx context.Context, now time.Time, id string) (*session, error) {
	if id == "" {
		return nil, errNoSession
	}
	se := &session{hash: hashID(id)}
	var exp int64
	err := s.db.QueryRow(ctx, `SELECT account_id, access_key_id, admin, csrf, expires_at FROM console_sessions WHERE id_hash = ?`, se.hash).
		Scan(&se.AccountID, &se.AccessKeyID, &se.Admin, &se.CSRF, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("console: read session: %w", err)
	}
	se.ExpiresAt = db.Time(exp)
	if !now.Before(se.ExpiresAt) {
		return nil, errNoSession
	}
	return se, nil
}

// pick sets the account an operator's session acts as.
func (s *sessions) pick(ctx context.Context, se *session, accountID string) error {
	if _, err := s.db.Exec(ctx, `UPDATE console_sessions SET account_id = ? WHERE id_hash = ? AND admin = ?`, accountID, se.hash, true); err != nil {
		return fmt.Errorf("console: pick account: %w", err)
	}
	se.AccountID = accountID
	return nil
}

// end deletes a session.
func (s *sessions) end(ctx context.Context, se *session) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM console_sessions WHERE id_hash = ?`, se.hash); err != nil {
		return fmt.Errorf("console: end session: %w", err)
	}
	return nil
}
