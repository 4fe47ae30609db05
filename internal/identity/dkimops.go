package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dkim"
)

// SetDKIMSigning sets up or changes a domain identity's DKIM key (v2
// PutEmailIdentityDkimSigningAttributes, v1 VerifyDomainDkim). Switching to
// Easy DKIM from another origin makes new tokens and restarts the DKIM
// status at Pending; staying on Easy DKIM with another key length makes a
// new key under the same tokens (published at once, since the customer's
// CNAMEs point into Sesame's zone). BYODKIM replaces the key and restarts
// at Pending. With keepExisting, an identity already on Easy DKIM is left
// as it is (v1 VerifyDomainDkim returns the same tokens on repeated calls).
func (s *Store) SetDKIMSigning(ctx context.Context, accountID, name string, setup DKIMSetup, keepExisting bool) (*Identity, error) {
	i, err := s.Get(ctx, accountID, name)
	if err != nil {
		return nil, err
	}
	if i.Kind != KindDomain {
		return nil, invalid("EmailIdentity", "DKIM signing attributes can only be set on a domain identity; %s is an email address.", i.Name)
	}
	if keepExisting && i.DKIM.Origin == OriginEasy && setup.Origin == OriginEasy {
		if i.DKIM.Status != Failed && i.Verification != Failed {
			return i, nil
		}
		return s.restartDKIM(ctx, i)
	}
	if setup.Origin == OriginNone {
		return nil, invalid("SigningAttributesOrigin", "SigningAttributesOrigin must be AWS_SES or EXTERNAL.")
	}
	rotate := i.DKIM.Origin == OriginEasy && setup.Origin == OriginEasy
	if rotate && (setup.KeyLength == "" || setup.KeyLength == i.DKIM.KeyLength) {
		return i, nil // nothing to change
	}
	d, keys, err := s.prepareDKIM(setup)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if rotate { // same tokens, same status, new key
		d.Tokens, d.Ed25519Token, d.Status, d.Since = i.DKIM.Tokens, i.DKIM.Ed25519Token, i.DKIM.Status, i.DKIM.Since
		for k := range keys {
			if k < 3 {
				keys[k].selector = d.Tokens[k]
			} else {
				keys[k].selector = d.Ed25519Token
			}
		}
	}
	d.SigningEnabled = true
	if rotate && d.Status == Failed { // new key, same tokens: look for the CNAMEs again
		d.Status, d.Since = Pending, now
	}
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		cur, err := s.lock(ctx, tx, i)
		if err != nil {
			return err
		}
		if cur.DKIM.Origin != i.DKIM.Origin || joinTokens(cur.DKIM) != joinTokens(i.DKIM) {
			return fmt.Errorf("identity: %s: its DKIM setup changed meanwhile; try again", i.Name)
		}
		// New signing attributes are a new start: a domain whose
		// verification failed is looked for again.
		if cur.Verification == Failed {
			if err := s.restartVerificationTx(ctx, tx, cur, "new DKIM signing attributes; verification started again", now); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM dkim_keys WHERE identity_id = ?`, i.ID); err != nil {
			return fmt.Errorf("identity: replace DKIM keys: %w", err)
		}
		if err := s.insertKeys(ctx, tx, i.ID, keys); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE identities SET dkim_origin = ?, dkim_signing_enabled = ?, dkim_status = ?, dkim_since = ?, dkim_tokens = ?,
			dkim_key_length = ?, dkim_next_key_length = ?, dkim_key_generated_at = ?, dkim_diagnostic = '', version = version + 1, next_check_at = ? WHERE id = ?`,
			string(d.Origin), d.SigningEnabled, string(d.Status), db.Millis(d.Since), joinTokens(d),
			string(d.KeyLength), string(d.NextKeyLength), db.Millis(now), db.Millis(now), i.ID)
		if err != nil {
			return fmt.Errorf("identity: set DKIM: %w", err)
		}
		if d.Status != cur.DKIM.Status || d.Origin != cur.DKIM.Origin {
			return s.addTransition(ctx, tx, i, AttrDKIM, cur.DKIM.Status, d.Status, fmt.Sprintf("%s DKIM set up", d.Origin), now)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.changed()
	return s.GetByID(ctx, i.ID)
}

// SetDKIMEnabled turns DKIM signing on or off (v1 SetIdentityDkimEnabled,
// v2 PutEmailIdentityDkimAttributes). Turning it on for a domain without a
// DKIM key is refused, as SES refuses it ("not verified for DKIM signing").
// For an address identity the flag is stored; its mail is signed with its
// domain's key when that domain is an identity.
func (s *Store) SetDKIMEnabled(ctx context.Context, accountID, name string, enabled bool) error {
	return s.update(ctx, accountID, name, func(ctx context.Context, tx *db.Tx, i *Identity) error {
		if enabled && i.Kind == KindDomain && i.DKIM.Origin == OriginNone {
			return invalid("DkimEnabled", "Domain %s is not verified for DKIM signing.", i.Name)
		}
		_, err := tx.Exec(ctx, `UPDATE identities SET dkim_signing_enabled = ?, version = version + 1 WHERE id = ?`, enabled, i.ID)
		return err
	})
}

// DKIMRecords returns the DKIM TXT record texts published under an Easy
// DKIM token in Sesame's zone, for the embedded DNS server. An unknown
// token → ErrNotFound.
func (s *Store) DKIMRecords(ctx context.Context, token string) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT public_record FROM dkim_keys WHERE selector = ? AND published = ?`, strings.ToLower(token), true)
	if err != nil {
		return nil, fmt.Errorf("identity: DKIM records: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, fmt.Errorf("identity: DKIM records: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("identity: DKIM records: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: DKIM token %s", ErrNotFound, token)
	}
	return out, nil
}

// SigningKey is a private DKIM key with the selector to sign under.
type SigningKey struct {
	Selector string
	Origin   Origin
	Key      *dkim.Key
}

// SigningKeys returns an identity's private DKIM keys, unsealed: for Easy
// DKIM the RSA key under the first token and the Ed25519 key under its
// token; for BYODKIM the customer's key under the selector.
func (s *Store) SigningKeys(ctx context.Context, identityID int64) ([]SigningKey, error) {
	rows, err := s.db.Query(ctx, `SELECT selector, origin, algorithm, private_sealed FROM dkim_keys WHERE identity_id = ? ORDER BY id`, identityID)
	if err != nil {
		return nil, fmt.Errorf("identity: signing keys: %w", err)
	}
	defer rows.Close()
	var out []SigningKey
	seen := map[string]bool{}
	for rows.Next() {
		var sel, origin, alg string
		var sealed []byte
		if err := rows.Scan(&sel, &origin, &alg, &sealed); err != nil {
			return nil, fmt.Errorf("identity: signing keys: %w", err)
		}
		if seen[alg] { // one signature per algorithm: the first token's
			continue
		}
		seen[alg] = true
		der, err := s.box.Open(sealed, keyAAD(identityID, sel))
		if err != nil {
			return nil, fmt.Errorf("identity: unseal DKIM key %s: %w", sel, err)
		}
		k, err := dkim.ParsePrivate(der)
		if err != nil {
			return nil, fmt.Errorf("identity: parse DKIM key %s: %w", sel, err)
		}
		out = append(out, SigningKey{Selector: sel, Origin: Origin(origin), Key: k})
	}
	return out, rows.Err()
}

// publicRecord returns the stored public key record of a BYODKIM identity.
func (s *Store) publicRecord(ctx context.Context, identityID int64) (string, error) {
	var rec string
	err := s.db.QueryRow(ctx, `SELECT public_record FROM dkim_keys WHERE identity_id = ? AND origin = ? ORDER BY id LIMIT 1`, identityID, string(OriginExternal)).Scan(&rec)
	if err != nil {
		return "", fmt.Errorf("identity: BYODKIM record: %w", err)
	}
	return rec, nil
}

// ExpectedBYODKIMKey returns the p= value the customer must publish for a
// BYODKIM identity.
func (s *Store) ExpectedBYODKIMKey(ctx context.Context, identityID int64) (string, error) {
	rec, err := s.publicRecord(ctx, identityID)
	if err != nil {
		return "", err
	}
	tags, err := dkim.ParseRecord(rec)
	if err != nil {
		return "", fmt.Errorf("identity: stored BYODKIM record: %w", err)
	}
	if tags["p"] == "" {
		return "", errors.New("identity: stored BYODKIM record has no p= tag")
	}
	return tags["p"], nil
}

// restartDKIM puts a Failed Easy DKIM status, and a Failed verification,
// back to Pending, keeping the tokens and keys (v1 VerifyDomainDkim called
// again on a domain whose records were not found in time).
func (s *Store) restartDKIM(ctx context.Context, i *Identity) (*Identity, error) {
	now := s.now()
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		cur, err := s.lock(ctx, tx, i)
		if err != nil {
			return err
		}
		if cur.DKIM.Status == Failed {
			if _, err := tx.Exec(ctx, `UPDATE identities SET dkim_status = ?, dkim_since = ?, version = version + 1, next_check_at = ? WHERE id = ?`,
				string(Pending), db.Millis(now), db.Millis(now), i.ID); err != nil {
				return fmt.Errorf("identity: restart DKIM: %w", err)
			}
			if err := s.addTransition(ctx, tx, i, AttrDKIM, Failed, Pending, "DKIM verification started again", now); err != nil {
				return err
			}
		}
		if cur.Verification != Failed {
			return nil
		}
		return s.restartVerificationTx(ctx, tx, cur, "DKIM verification started again; so is the domain's", now)
	})
	if err != nil {
		return nil, err
	}
	s.changed()
	return s.GetByID(ctx, i.ID)
}
