// Package dnscheck is the DNS checker: a loop that looks up, through the
// configured resolver, the records each identity depends on — the Easy
// DKIM CNAMEs or the BYODKIM key, the _amazonses verification token, the
// custom MAIL FROM domain's MX (and SPF) — and hands what it found to the
// identity records, which step their status machines.
//
// Its one rule: a lookup that failed (timeout, SERVFAIL) is no evidence
// either way and moves nothing; only a definite answer (the records are
// there, or definitely not / not correctly there) does. Identities are
// checked when due (new and changed ones at once), with bounded
// concurrency; on PostgreSQL several nodes may run the checker, and a
// lease lets one of them at a time do the work.
package dnscheck

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sesame-email/sesame/internal/dkim"
	sesdns "github.com/sesame-email/sesame/internal/dns"
	"github.com/sesame-email/sesame/internal/identity"
)

// Store is what the checker needs from the identity records.
type Store interface {
	// Due returns up to limit identities whose check is due at now.
	Due(ctx context.Context, now time.Time, limit int) ([]*identity.Identity, error)
	// Record applies a check result in one transaction; identity.ErrStale
	// when the identity changed meanwhile.
	Record(ctx context.Context, r identity.CheckResult) ([]identity.Transition, error)
	// ExpectedBYODKIMKey returns the p= value a BYODKIM identity's TXT must carry.
	ExpectedBYODKIMKey(ctx context.Context, identityID int64) (string, error)
	FeedbackHost() string
	SigningHostedZone() string
	ServiceDomain() string
}

var _ Store = (*identity.Store)(nil)

// Options configures a Checker.
type Options struct {
	Store    Store           // required
	Resolver sesdns.Resolver // required
	Logger   *slog.Logger    // nil: discard
	Now      func() time.Time
	// Interval is the time between two checks of an identity; 0: 5 minutes.
	Interval time.Duration
	// Window is how long Pending or TemporaryFailure may last before Failed; 0: 72 hours.
	Window time.Duration
	// Concurrency bounds the identities checked at once; 0: 16.
	Concurrency int
	// Poll is how often Run looks for due identities when not woken; 0: 10 seconds.
	Poll time.Duration
	// Lease, when set, is called before each round; the round is skipped
	// when it reports false (another node holds the checker lease).
	Lease func(ctx context.Context) (bool, error)
}

// Checker checks identities' DNS records.
type Checker struct {
	opts Options
	now  func() time.Time
	log  *slog.Logger
	wake chan struct{}
}

// New returns a Checker.
func New(opts Options) (*Checker, error) {
	if opts.Store == nil || opts.Resolver == nil {
		return nil, errors.New("dnscheck: Store and Resolver are required")
	}
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Minute
	}
	if opts.Window <= 0 {
		opts.Window = 72 * time.Hour
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.Poll <= 0 {
		opts.Poll = 10 * time.Second
	}
	c := &Checker{opts: opts, now: opts.Now, log: opts.Logger, wake: make(chan struct{}, 1)}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Kick wakes Run to look for due identities now (a new or changed identity).
func (c *Checker) Kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run checks due identities until ctx ends.
func (c *Checker) Run(ctx context.Context) error {
	t := time.NewTicker(c.opts.Poll)
	defer t.Stop()
	for {
		if _, err := c.RunOnce(ctx); err != nil && ctx.Err() == nil {
			c.log.Error("dns check round failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-c.wake:
		}
	}
}

// batch is how many due identities a round takes from the store at a time.
const batch = 500

// RunOnce checks every identity due now and returns how many it checked.
func (c *Checker) RunOnce(ctx context.Context) (int, error) {
	if c.opts.Lease != nil {
		ok, err := c.opts.Lease(ctx)
		if err != nil {
			return 0, fmt.Errorf("dnscheck: lease: %w", err)
		}
		if !ok {
			return 0, nil
		}
	}
	total := 0
	start := c.now()
	for {
		due, err := c.opts.Store.Due(ctx, start, batch)
		if err != nil {
			return total, fmt.Errorf("dnscheck: due identities: %w", err)
		}
		if len(due) == 0 {
			return total, nil
		}
		var (
			wg       sync.WaitGroup
			sem      = make(chan struct{}, c.opts.Concurrency)
			mu       sync.Mutex
			progress int
		)
		for _, id := range due {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				defer func() {
					if v := recover(); v != nil {
						c.log.Error("panic while checking identity", "identity", id.Name, "panic", v)
					}
				}()
				res := c.Check(ctx, id)
				_, err := c.opts.Store.Record(ctx, res)
				if err != nil && !errors.Is(err, identity.ErrStale) {
					c.log.Error("recording dns check failed", "account", id.AccountID, "identity", id.Name, "err", err)
					return
				}
				mu.Lock()
				progress++
				mu.Unlock()
			}()
		}
		wg.Wait()
		total += progress
		if ctx.Err() != nil {
			return total, ctx.Err()
		}
		if progress == 0 { // every record failed: don't spin on the same rows
			return total, errors.New("dnscheck: no check of this batch could be recorded")
		}
		if len(due) < batch {
			return total, nil
		}
	}
}

// CheckNow checks one identity at once and records the result, as a round
// of Run does (the console's "check now"); it returns the transitions
// made. identity.ErrStale means the identity changed during the check:
// nothing was recorded, and the next round checks it again.
func (c *Checker) CheckNow(ctx context.Context, i *identity.Identity) ([]identity.Transition, error) {
	ts, err := c.opts.Store.Record(ctx, c.Check(ctx, i))
	if err != nil {
		return nil, fmt.Errorf("dnscheck: check %s now: %w", i.Name, err)
	}
	return ts, nil
}

// finding is the outcome of one lookup.
type finding struct {
	obs    identity.Observation
	detail string
	errTyp string // SES v2 VerificationError
}

// Check looks up everything the identity depends on. It only reads DNS.
func (c *Checker) Check(ctx context.Context, i *identity.Identity) identity.CheckResult {
	r := identity.CheckResult{IdentityID: i.ID, Version: i.Version, At: c.now(), Window: c.opts.Window, Interval: c.opts.Interval, MailFromDomain: i.MailFrom.Domain}
	if i.MailFrom.Domain != "" {
		mf := c.checkMailFrom(ctx, i.MailFrom.Domain)
		r.MailFrom, r.MailFromDetail = mf.obs, mf.detail
	}
	if i.Kind == identity.KindEmail {
		// An address is verified by following its link; the checker only
		// lets a pending link expire (the store applies the window). Its
		// custom MAIL FROM domain is checked like a domain's.
		if i.Verification == identity.Pending {
			r.Verification = identity.Absent
			r.VerificationDetail = "the verification link was not followed"
		}
		return r
	}
	var dk finding
	switch i.DKIM.Origin {
	case identity.OriginEasy:
		dk = c.checkEasyDKIM(ctx, i)
	case identity.OriginExternal:
		dk = c.checkBYODKIM(ctx, i)
	}
	r.DKIM, r.DKIMDetail = dk.obs, dk.detail
	if i.DKIM.Origin == identity.OriginEasy && i.DKIM.Ed25519Token != "" {
		r.Ed25519 = c.checkCNAME(ctx, i.DKIM.Ed25519Token, i.Domain)
	}
	if i.Verification == identity.Pending || i.Verification == identity.Success || i.Verification == identity.TemporaryFailure {
		var txt finding
		if dk.obs != identity.Present { // DKIM found verifies the domain; no need for the token
			txt = c.checkToken(ctx, i)
		}
		switch {
		case dk.obs == identity.Present:
			r.Verification, r.VerificationDetail = identity.Present, "DKIM records found: "+dk.detail
		case txt.obs == identity.Present:
			r.Verification, r.VerificationDetail = identity.Present, txt.detail
		case txt.obs == identity.Absent && (dk.obs == identity.Absent || i.DKIM.Origin == identity.OriginNone):
			r.Verification = identity.Absent
			r.VerificationDetail = txt.detail
			if dk.detail != "" {
				r.VerificationDetail = dk.detail + "; " + txt.detail
			}
			r.VerificationError = dk.errTyp
			if r.VerificationError == "" {
				r.VerificationError = txt.errTyp
			}
		default:
			r.VerificationDetail = strings.Trim(dk.detail+"; "+txt.detail, "; ")
			r.VerificationError = "DNS_SERVER_ERROR"
		}
	}
	return r
}

func (c *Checker) checkEasyDKIM(ctx context.Context, i *identity.Identity) finding {
	var found, missing, failed []string
	errTyp := ""
	for _, t := range i.DKIM.Tokens {
		name := t + "._domainkey." + i.Domain
		want := t + "." + c.opts.Store.SigningHostedZone() + "."
		got, err := c.opts.Resolver.LookupCNAME(ctx, name)
		switch {
		case err == nil && got == want:
			found = append(found, fmt.Sprintf("CNAME %s → %s", name, strings.TrimSuffix(want, ".")))
		case err == nil:
			missing = append(missing, fmt.Sprintf("CNAME %s points at %s, not %s", name, strings.TrimSuffix(got, "."), strings.TrimSuffix(want, ".")))
			errTyp = "INVALID_VALUE"
		case sesdns.IsNotFound(err):
			missing = append(missing, fmt.Sprintf("no CNAME at %s (want %s)", name, strings.TrimSuffix(want, ".")))
			if errTyp == "" {
				errTyp = "HOST_NOT_FOUND"
			}
		default:
			failed = append(failed, fmt.Sprintf("lookup of %s failed: %v", name, err))
		}
	}
	return summarise(found, missing, failed, errTyp, fmt.Sprintf("all %d DKIM CNAME records found", len(i.DKIM.Tokens)))
}

// checkCNAME looks for one Easy DKIM CNAME: present, absent or no evidence.
func (c *Checker) checkCNAME(ctx context.Context, token, domain string) identity.Observation {
	got, err := c.opts.Resolver.LookupCNAME(ctx, token+"._domainkey."+domain)
	switch {
	case err == nil && got == token+"."+c.opts.Store.SigningHostedZone()+".":
		return identity.Present
	case err == nil || sesdns.IsNotFound(err):
		return identity.Absent
	}
	return identity.NoEvidence
}

func summarise(found, missing, failed []string, errTyp, okText string) finding {
	switch {
	case len(missing) > 0:
		return finding{identity.Absent, strings.Join(append(missing, failed...), "; "), errTyp}
	case len(failed) > 0:
		return finding{identity.NoEvidence, strings.Join(failed, "; "), "DNS_SERVER_ERROR"}
	}
	return finding{identity.Present, okText, ""}
}

func (c *Checker) checkBYODKIM(ctx context.Context, i *identity.Identity) finding {
	if len(i.DKIM.Tokens) == 0 {
		return finding{}
	}
	name := i.DKIM.Tokens[0] + "._domainkey." + i.Domain
	want, err := c.opts.Store.ExpectedBYODKIMKey(ctx, i.ID)
	if err != nil {
		return finding{identity.NoEvidence, fmt.Sprintf("stored key unreadable: %v", err), "SERVICE_ERROR"}
	}
	txts, err := c.opts.Resolver.LookupTXT(ctx, name)
	if sesdns.IsNotFound(err) {
		return finding{identity.Absent, fmt.Sprintf("no TXT record at %s", name), "HOST_NOT_FOUND"}
	}
	if err != nil {
		return finding{identity.NoEvidence, fmt.Sprintf("lookup of %s failed: %v", name, err), "DNS_SERVER_ERROR"}
	}
	for _, txt := range txts {
		tags, err := dkim.ParseRecord(txt)
		if err == nil && samePublicKey(tags["p"], want) {
			return finding{identity.Present, fmt.Sprintf("DKIM key TXT at %s matches", name), ""}
		}
	}
	return finding{identity.Absent, fmt.Sprintf("TXT at %s does not carry the public key of the private key supplied (%d record(s) found)", name, len(txts)), "INVALID_VALUE"}
}

// samePublicKey compares two p= values as keys, so a key published as
// PKCS#1 RSAPublicKey matches the same key as SubjectPublicKeyInfo.
func samePublicKey(a, b string) bool {
	if a == b {
		return a != ""
	}
	ka, kb := parsePublic(a), parsePublic(b)
	return ka != nil && kb != nil && ka.Equal(kb)
}

func parsePublic(p string) *rsa.PublicKey {
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return nil
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		rk, _ := k.(*rsa.PublicKey)
		return rk
	}
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return k
	}
	return nil
}

func (c *Checker) checkToken(ctx context.Context, i *identity.Identity) finding {
	name := "_amazonses." + i.Domain
	txts, err := c.opts.Resolver.LookupTXT(ctx, name)
	if sesdns.IsNotFound(err) {
		return finding{identity.Absent, fmt.Sprintf("no TXT record at %s", name), "HOST_NOT_FOUND"}
	}
	if err != nil {
		return finding{identity.NoEvidence, fmt.Sprintf("lookup of %s failed: %v", name, err), "DNS_SERVER_ERROR"}
	}
	for _, t := range txts {
		if strings.TrimSpace(t) == i.VerificationToken {
			return finding{identity.Present, fmt.Sprintf("verification token found in TXT at %s", name), ""}
		}
	}
	return finding{identity.Absent, fmt.Sprintf("TXT at %s does not hold the verification token (%d record(s) found)", name, len(txts)), "INVALID_VALUE"}
}

// checkMailFrom applies DESIGN.md's detection rule: exactly one MX, and it
// points at the feedback host. The SPF record is reported but does not
// decide the status (SES decides on the MX alone).
func (c *Checker) checkMailFrom(ctx context.Context, domain string) finding {
	host := c.opts.Store.FeedbackHost()
	mxs, err := c.opts.Resolver.LookupMX(ctx, domain)
	var f finding
	switch {
	case sesdns.IsNotFound(err):
		f = finding{identity.Absent, fmt.Sprintf("no MX record at %s; publish exactly one: MX 10 %s", domain, host), ""}
	case err != nil:
		return finding{identity.NoEvidence, fmt.Sprintf("MX lookup of %s failed (%v); the status is unchanged and the lookup will be retried", domain, err), ""}
	default:
		var recs, why []string
		for _, mx := range mxs {
			recs = append(recs, fmt.Sprintf("MX %d %s", mx.Pref, strings.TrimSuffix(mx.Host, ".")))
			if strings.TrimSuffix(mx.Host, ".") != host {
				why = append(why, fmt.Sprintf("MX %d %s points at %s, not %s", mx.Pref, strings.TrimSuffix(mx.Host, "."), strings.TrimSuffix(mx.Host, "."), host))
			}
		}
		switch {
		case len(mxs) == 1 && len(why) == 0:
			f = finding{identity.Present, fmt.Sprintf("found %s: exactly one MX, pointing at the feedback host", recs[0]), ""}
		case len(mxs) > 1:
			f = finding{identity.Absent, fmt.Sprintf("found %d MX records (%s); exactly one is allowed, pointing at %s", len(mxs), strings.Join(recs, ", "), host), ""}
		default:
			f = finding{identity.Absent, "found " + strings.Join(recs, ", ") + ": " + strings.Join(why, "; "), ""}
		}
	}
	f.detail += "; " + c.spfNote(ctx, domain)
	return f
}

func (c *Checker) spfNote(ctx context.Context, domain string) string {
	include := "include:" + c.opts.Store.ServiceDomain()
	txts, err := c.opts.Resolver.LookupTXT(ctx, domain)
	if err != nil && !sesdns.IsNotFound(err) {
		return "SPF not checked (lookup failed)"
	}
	for _, t := range txts {
		if strings.HasPrefix(strings.ToLower(t), "v=spf1") {
			for _, term := range strings.Fields(strings.ToLower(t)) {
				if strings.TrimLeft(term, "+") == include {
					return "SPF record includes " + c.opts.Store.ServiceDomain()
				}
			}
			return fmt.Sprintf("warning: the SPF record %q does not include %s, so SPF will not pass for mail Sesame sends", t, c.opts.Store.ServiceDomain())
		}
	}
	return fmt.Sprintf("warning: no SPF record at %s; publish TXT \"v=spf1 %s ~all\"", domain, include)
}
