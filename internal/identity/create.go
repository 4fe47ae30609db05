package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dkim"
)

// DKIMSetup says how a new domain identity gets its DKIM key.
type DKIMSetup struct {
	// Origin is OriginEasy (generate a key), OriginExternal (BYODKIM: Selector
	// and PrivateKey are required) or OriginNone (no DKIM: verified by the
	// _amazonses TXT token, as v1 VerifyDomainIdentity creates domains).
	Origin     Origin
	KeyLength  KeyLength // Easy DKIM; "" means RSA_2048_BIT
	Selector   string    // BYODKIM
	PrivateKey string    // BYODKIM: base64 DER as SES takes it
}

// CreateOptions are the optional parts of a new identity.
type CreateOptions struct {
	DKIM             DKIMSetup // domains only
	ConfigurationSet string
	Tags             []Tag
}

// preparedKey is a DKIM key ready to insert.
type preparedKey struct {
	selector  string
	origin    Origin
	key       *dkim.Key
	published bool
}

// prepareDKIM validates the setup and generates keys, outside any transaction.
func (s *Store) prepareDKIM(setup DKIMSetup) (DKIM, []preparedKey, error) {
	now := s.now()
	switch setup.Origin {
	case OriginNone:
		return DKIM{Status: NotStarted, SigningEnabled: false}, nil, nil
	case OriginEasy:
		kl := setup.KeyLength
		if kl == "" {
			kl = RSA2048
		}
		if kl != RSA1024 && kl != RSA2048 {
			return DKIM{}, nil, invalid("NextSigningKeyLength", "Invalid NextSigningKeyLength %q: must be one of RSA_1024_BIT, RSA_2048_BIT.", kl)
		}
		rsaKey, err := s.genKey(dkim.RSA, kl.Bits())
		if err != nil {
			return DKIM{}, nil, fmt.Errorf("identity: generate DKIM key: %w", err)
		}
		edKey, err := s.genKey(dkim.Ed25519, 0)
		if err != nil {
			return DKIM{}, nil, fmt.Errorf("identity: generate DKIM key: %w", err)
		}
		d := DKIM{Origin: OriginEasy, SigningEnabled: true, Status: Pending, Since: now, KeyLength: kl, NextKeyLength: kl, KeyGeneratedAt: now}
		var keys []preparedKey
		for range 3 {
			t := dkim.Token()
			d.Tokens = append(d.Tokens, t)
			keys = append(keys, preparedKey{selector: t, origin: OriginEasy, key: rsaKey, published: true})
		}
		d.Ed25519Token = dkim.Token()
		keys = append(keys, preparedKey{selector: d.Ed25519Token, origin: OriginEasy, key: edKey, published: true})
		return d, keys, nil
	case OriginExternal:
		if !dkim.ValidSelector(setup.Selector) {
			return DKIM{}, nil, invalid("DomainSigningSelector", "Invalid DomainSigningSelector %q: a selector is 1-63 letters, digits and hyphens, not starting or ending with a hyphen.", setup.Selector)
		}
		if setup.PrivateKey == "" {
			return DKIM{}, nil, invalid("DomainSigningPrivateKey", "DomainSigningPrivateKey is required when DomainSigningSelector is given.")
		}
		k, err := dkim.ParseBYODKIM(setup.PrivateKey)
		if err != nil {
			var ke *dkim.KeyError
			if errors.As(err, &ke) {
				return DKIM{}, nil, invalid("DomainSigningPrivateKey", "%s", ke.Msg)
			}
			return DKIM{}, nil, invalid("DomainSigningPrivateKey", "Invalid DomainSigningPrivateKey: %v", err)
		}
		sel := strings.ToLower(setup.Selector)
		d := DKIM{Origin: OriginExternal, SigningEnabled: true, Status: Pending, Since: now, Tokens: []string{sel}, KeyGeneratedAt: now}
		return d, []preparedKey{{selector: sel, origin: OriginExternal, key: k}}, nil
	}
	return DKIM{}, nil, invalid("SigningAttributesOrigin", "Invalid SigningAttributesOrigin %q: must be AWS_SES or EXTERNAL.", setup.Origin)
}

func (s *Store) insertKeys(ctx context.Context, tx *db.Tx, identityID int64, keys []preparedKey) error {
	for _, k := range keys {
		der, err := k.key.MarshalPrivate()
		if err != nil {
			return fmt.Errorf("identity: marshal DKIM key: %w", err)
		}
		rec, err := k.key.Record()
		if err != nil {
			return fmt.Errorf("identity: DKIM record: %w", err)
		}
		sealed := s.box.Seal(der, keyAAD(identityID, k.selector))
		_, err = tx.Exec(ctx, `INSERT INTO dkim_keys (identity_id, selector, origin, algorithm, bits, private_sealed, public_record, published, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			identityID, k.selector, string(k.origin), string(k.key.Algorithm), k.key.Bits, sealed, rec, k.published, db.Millis(s.now()))
		if err != nil {
			return fmt.Errorf("identity: store DKIM key: %w", err)
		}
	}
	return nil
}

// keyAAD binds a sealed key to its identity and selector.
func keyAAD(identityID int64, selector string) []byte {
	return fmt.Appendf(nil, "dkim:%d:%s", identityID, selector)
}

// Create adds an identity: a domain (with DKIM per opts.DKIM) or an email
// address (a verification mail is queued, within the limits of
// admitVerification). An identity of that name in the account →
// ErrAlreadyExists. Nothing is written on any error.
func (s *Store) Create(ctx context.Context, accountID, name string, opts CreateOptions) (*Identity, error) {
	n, kind, domain, err := Parse("EmailIdentity", name)
	if err != nil {
		return nil, err
	}
	if kind == KindEmail {
		opts.DKIM = DKIMSetup{Origin: OriginNone}
	}
	if err := validateTags(opts.Tags); err != nil {
		return nil, err
	}
	if _, err := s.get(ctx, s.db, accountID, n); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrAlreadyExists, n)
	}
	d, keys, err := s.prepareDKIM(opts.DKIM)
	if err != nil {
		return nil, err
	}
	if kind == KindEmail {
		// An address signs with its domain's key; its own flag can only
		// turn that off (SetIdentityDkimEnabled on the address).
		d.SigningEnabled = true
	}
	now := s.now()
	i := &Identity{AccountID: accountID, Name: n, Kind: kind, Domain: domain, Version: 1, CreatedAt: now,
		Verification: Pending, VerificationSince: now, DKIM: d, FeedbackForwarding: true,
		ConfigurationSet: opts.ConfigurationSet, Tags: opts.Tags, NextCheckAt: now}
	i.MailFrom.Behavior = UseDefaultValue
	var secret string
	done := func(bool) {}
	if kind == KindDomain {
		i.VerificationToken = newDomainToken()
	} else {
		secret, i.VerificationToken = newAddressToken()
		i.NextCheckAt = now.Add(s.opts.AddressLinkValidity)
		if done, err = s.admitVerification(ctx, accountID, n); err != nil {
			return nil, err
		}
	}
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		if err := s.insert(ctx, tx, i, keys); err != nil {
			return err
		}
		if d.Status == Pending {
			if err := s.addTransition(ctx, tx, i, AttrDKIM, NotStarted, Pending, fmt.Sprintf("%s DKIM set up", d.Origin), now); err != nil {
				return err
			}
		}
		if kind == KindEmail {
			return s.queueVerificationMail(ctx, tx, i, secret)
		}
		return nil
	})
	done(err == nil)
	if err != nil {
		return nil, err
	}
	s.changed()
	return i, nil
}

// insert stores the new Pending identity i (its ID is set) with its DKIM
// keys and the transition that created it, in tx. A name in use →
// ErrAlreadyExists.
func (s *Store) insert(ctx context.Context, tx *db.Tx, i *Identity, keys []preparedKey) error {
	d := i.DKIM
	err := tx.QueryRow(ctx, `INSERT INTO identities (account_id, name, kind, domain, version, created_at,
		verification_status, verification_token, verification_since,
		dkim_origin, dkim_signing_enabled, dkim_status, dkim_since, dkim_tokens, dkim_key_length, dkim_next_key_length, dkim_key_generated_at,
		mail_from_behavior, feedback_forwarding, configuration_set, tags, next_check_at)
		VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		i.AccountID, i.Name, string(i.Kind), i.Domain, db.Millis(i.CreatedAt),
		string(Pending), i.VerificationToken, db.Millis(i.CreatedAt),
		string(d.Origin), d.SigningEnabled, string(d.Status), db.Millis(d.Since), joinTokens(d), string(d.KeyLength), string(d.NextKeyLength), db.Millis(d.KeyGeneratedAt),
		string(UseDefaultValue), true, i.ConfigurationSet, encodeTags(i.Tags), db.Millis(i.NextCheckAt)).Scan(&i.ID)
	if db.IsUniqueViolation(err) {
		return fmt.Errorf("%w: %s", ErrAlreadyExists, i.Name)
	}
	if err != nil {
		return fmt.Errorf("identity: create %s: %w", i.Name, err)
	}
	if err := s.insertKeys(ctx, tx, i.ID, keys); err != nil {
		return err
	}
	return s.addTransition(ctx, tx, i, AttrVerification, NotStarted, Pending, "identity created", i.CreatedAt)
}

// validateTags applies SES's tag rules (configset.ValidateTags).
func validateTags(tags []Tag) error {
	cs := make([]configset.Tag, len(tags))
	for i, t := range tags {
		cs[i] = configset.Tag(t)
	}
	err := configset.ValidateTags(cs)
	if ie, ok := errors.AsType[*configset.InvalidError](err); ok {
		return invalid(ie.Field, "%s", ie.Msg)
	}
	return err
}

// EnsureDomain returns the account's domain identity, creating it without
// DKIM (verified by its _amazonses TXT token) when missing, as v1
// VerifyDomainIdentity does. A Failed verification restarts at Pending.
func (s *Store) EnsureDomain(ctx context.Context, accountID, domain string) (*Identity, error) {
	n, kind, _, err := Parse("Domain", domain)
	if err != nil {
		return nil, err
	}
	if kind != KindDomain {
		return nil, invalid("Domain", "Invalid domain name <%s>: a domain identity must not contain @.", domain)
	}
	i, err := s.get(ctx, s.db, accountID, n)
	if errors.Is(err, ErrNotFound) {
		i, err = s.Create(ctx, accountID, n, CreateOptions{DKIM: DKIMSetup{Origin: OriginNone}})
		if errors.Is(err, ErrAlreadyExists) { // created concurrently
			return s.get(ctx, s.db, accountID, n)
		}
		return i, err
	}
	if err != nil || i.Verification != Failed {
		return i, err
	}
	return s.restartVerification(ctx, i)
}

// restartVerification puts a Failed identity back to Pending.
func (s *Store) restartVerification(ctx context.Context, i *Identity) (*Identity, error) {
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		cur, err := s.lock(ctx, tx, i)
		if err != nil {
			return err
		}
		return s.restartVerificationTx(ctx, tx, cur, "verification started again", s.now())
	})
	if err != nil {
		return nil, err
	}
	s.changed()
	return s.GetByID(ctx, i.ID)
}

// restartVerificationTx puts cur's verification back to Pending inside tx,
// with a transition saying why: a domain keeps its token; an address gets
// a new link (the old one stops working) and a new verification mail.
func (s *Store) restartVerificationTx(ctx context.Context, tx *db.Tx, cur *Identity, reason string, now time.Time) error {
	token := cur.VerificationToken
	next := now
	var secret string
	if cur.Kind == KindEmail {
		secret, token = newAddressToken()
		next = now.Add(s.opts.AddressLinkValidity)
	}
	_, err := tx.Exec(ctx, `UPDATE identities SET verification_status = ?, verification_since = ?, verification_token = ?, verification_error = '', version = version + 1, next_check_at = ? WHERE id = ?`,
		string(Pending), db.Millis(now), token, db.Millis(next), cur.ID)
	if err != nil {
		return fmt.Errorf("identity: restart verification: %w", err)
	}
	cur.VerificationToken = token
	if err := s.addTransition(ctx, tx, cur, AttrVerification, cur.Verification, Pending, reason, now); err != nil {
		return err
	}
	if cur.Kind == KindEmail {
		return s.queueVerificationMail(ctx, tx, cur, secret)
	}
	return nil
}

// EnsureAddress returns the account's address identity, creating it when
// missing, as v1 VerifyEmailIdentity does. For an address not yet verified
// a new verification mail is queued (SES sends the mail again), within the
// limits of admitVerification: refused, it changes nothing (a Pending
// address's link keeps working). A Success address is left alone.
func (s *Store) EnsureAddress(ctx context.Context, accountID, address string) (*Identity, error) {
	n, kind, _, err := Parse("EmailAddress", address)
	if err != nil {
		return nil, err
	}
	if kind != KindEmail {
		return nil, invalid("EmailAddress", "Invalid email address <%s>: an email address needs an @ and a domain.", address)
	}
	i, err := s.get(ctx, s.db, accountID, n)
	if errors.Is(err, ErrNotFound) {
		i, err = s.Create(ctx, accountID, n, CreateOptions{})
		if errors.Is(err, ErrAlreadyExists) {
			return s.get(ctx, s.db, accountID, n)
		}
		return i, err
	}
	if err != nil || i.Verification == Success {
		return i, err
	}
	done, err := s.admitVerification(ctx, accountID, n)
	if err != nil {
		return nil, err
	}
	i.Verification = Failed // restart from wherever it was
	i, err = s.restartVerification(ctx, i)
	done(err == nil)
	return i, err
}

// settleAddress ends address i's verification in tx: to (Success or
// Failed) from its current state, with the transition saying why; the
// checker has nothing more to do with it.
func (s *Store) settleAddress(ctx context.Context, tx *db.Tx, i *Identity, to Status, reason string, now time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE identities SET verification_status = ?, verification_since = ?, last_success_at = ?, next_check_at = NULL WHERE id = ?`,
		string(to), db.Millis(now), db.Millis(now), i.ID); err != nil {
		return fmt.Errorf("identity: confirm: %w", err)
	}
	if err := s.addTransition(ctx, tx, i, AttrVerification, i.Verification, to, reason, now); err != nil {
		return err
	}
	i.Verification, i.VerificationSince = to, now
	return nil
}

// ConfirmAddress marks the address whose verification link carries this
// secret as verified; the address is found by the secret's hash, the only
// form stored. An unknown secret → ErrNotFound; a link older than the
// validity window → ErrExpired (and the address is Failed).
func (s *Store) ConfirmAddress(ctx context.Context, token string) (*Identity, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: empty token", ErrNotFound)
	}
	var out *Identity
	changed := false
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		i, err := scanIdentity(tx.QueryRow(ctx, `SELECT `+columns+` FROM identities WHERE verification_token = ? AND kind = ?`, tokenHash(token), string(KindEmail)))
		if err != nil {
			return fmt.Errorf("%w: no address with this verification token", ErrNotFound)
		}
		out = i
		now := s.now()
		switch i.Verification {
		case Success:
			return nil
		case Pending:
		default:
			return fmt.Errorf("%w: %s", ErrExpired, i.Name)
		}
		to, reason := Success, "verification link followed"
		if now.Sub(i.VerificationSince) >= s.opts.AddressLinkValidity {
			to, reason = Failed, fmt.Sprintf("verification link followed after it expired (%s)", s.opts.AddressLinkValidity)
		}
		if err := s.settleAddress(ctx, tx, i, to, reason, now); err != nil {
			return err
		}
		changed = true
		if to == Failed {
			return nil // committed, then reported
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if changed {
		s.changed()
	}
	if out.Verification == Failed {
		return out, fmt.Errorf("%w: %s", ErrExpired, out.Name)
	}
	return out, nil
}
