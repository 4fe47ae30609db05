package readiness

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sesame-email/sesame/internal/addr"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dmarcrule"
	"github.com/sesame-email/sesame/internal/dns"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/stats"
)

// The windows and thresholds of the report.
const (
	// UnsubscribeWindow is how far back the unsubscribe headers of sent
	// mail are counted.
	UnsubscribeWindow = 7 * 24 * time.Hour
	// BulkDailyVolume is the recipients per day from which Gmail treats a
	// sender as a bulk sender (and so requires one-click unsubscribe in
	// marketing and subscribed mail).
	BulkDailyVolume = 5000
	// ComplaintWindow is how far back the complaint rate looks (the
	// reputation guardrails' window).
	ComplaintWindow = 7 * 24 * time.Hour
	// MinVolume is the fewest sends in ComplaintWindow for the complaint
	// rate to be judged (the reputation guardrails' default).
	MinVolume = 500
	// ComplaintFail is the complaint rate the providers enforce (0.3%).
	ComplaintFail = 0.003
	// ComplaintWarn is the complaint rate the providers recommend staying
	// under (0.1%).
	ComplaintWarn = 0.001
)

// Errors of Evaluate.
var (
	// ErrNotFound: no identity of the account covers the name.
	ErrNotFound = errors.New("readiness: no identity of the account covers the domain")
	// ErrNotVerified: identities cover it, but none is verified yet.
	ErrNotVerified = errors.New("readiness: the identity is not verified")
)

// Identities is what the report reads of the account's identities
// (identity.Store).
type Identities interface {
	GetMany(ctx context.Context, accountID string, names []string) (map[string]*identity.Identity, error)
	AddressesOf(ctx context.Context, accountID, domain string) ([]*identity.Identity, error)
	DefaultMailFromDomain() string
	ServiceDomain() string
}

// Stats is what the report reads of the send statistics (stats.Store).
type Stats interface {
	IdentityBuckets(ctx context.Context, accountID string, identities []string, addressDomain string, since time.Time) ([]stats.IdentityBucket, error)
}

// Options configures an Evaluator.
type Options struct {
	Identities Identities   // required
	Resolver   dns.Resolver // required: the resolver of Sesame's DNS checks
	Stats      Stats        // required
	DB         *db.DB       // required: the stored messages are read from it
	Now        func() time.Time
}

// Evaluator builds readiness reports.
type Evaluator struct {
	opts Options
	now  func() time.Time
}

// New returns an Evaluator.
func New(o Options) (*Evaluator, error) {
	if o.Identities == nil || o.Resolver == nil || o.Stats == nil || o.DB == nil {
		return nil, errors.New("readiness: Identities, Resolver, Stats and DB are required")
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Evaluator{opts: o, now: now}, nil
}

// Status is a check's verdict.
type Status string

// The verdicts, from best to worst; Unknown when the data to judge is
// missing (too little mail, a failed DNS lookup).
const (
	Pass    Status = "pass"
	Warn    Status = "warn"
	Fail    Status = "fail"
	Unknown Status = "unknown"
)

// The names of the checks, in the order of Report.Checks.
const (
	CheckDMARCRecord = "dmarc-record"
	CheckSPF         = "spf-alignment"
	CheckDKIM        = "dkim-alignment"
	CheckUnsubscribe = "one-click-unsubscribe"
	CheckComplaints  = "complaint-rate"
	CheckDMARCResult = "dmarc-result"
)

// Check is one rule's verdict: a sentence, what was found and what to
// change (nothing when it passes).
type Check struct {
	Name     string   `json:"name"`  // one of the Check* constants
	Title    string   `json:"title"` // for people, e.g. "DMARC record published"
	Status   Status   `json:"status"`
	Summary  string   `json:"summary"`
	Evidence []string `json:"evidence,omitempty"`
	Advice   []string `json:"advice,omitempty"`
}

// Report is a domain's readiness.
type Report struct {
	AccountID string    `json:"accountId"`
	Domain    string    `json:"domain"` // the From domain judged
	At        time.Time `json:"at"`
	// SentAs is the From address (or the domain) whose mail is judged: an
	// address when the domain is covered by address identities only.
	SentAs string `json:"sentAs"`
	// Identity is the most specific verified identity covering SentAs.
	Identity             string        `json:"identity"`
	IdentityKind         identity.Kind `json:"identityKind"`
	OrganizationalDomain string        `json:"organizationalDomain"`

	DMARC       DMARCRecord  `json:"dmarc"`
	SPF         SPFState     `json:"spf"`
	DKIM        DKIMState    `json:"dkim"`
	Unsubscribe Unsubscribe  `json:"unsubscribe"`
	Complaints  Complaints   `json:"complaints"`
	Result      DMARCOutcome `json:"result"`
	// MailFromMX is the custom MAIL FROM domain's MX records, looked up
	// now.
	MailFromMX MXState `json:"mailFromMx"`

	Checks []Check `json:"checks"`
	// Ready is true when no check fails.
	Ready bool `json:"ready"`
}

// Check returns the check named name (a Check* constant), nil if absent.
func (r *Report) Check(name string) *Check {
	for i := range r.Checks {
		if r.Checks[i].Name == name {
			return &r.Checks[i]
		}
	}
	return nil
}

// Evaluate reports on name, a domain or an address, for accountID. A
// domain that only address identities cover is judged as mail from the
// first verified one. No identity of the account covers it →
// ErrNotFound; none verified → ErrNotVerified; name not a domain or an
// address → *identity.InvalidError.
func (e *Evaluator) Evaluate(ctx context.Context, accountID, name string) (*Report, error) {
	n, kind, domain, err := identity.Parse("Domain", name)
	if err != nil {
		return nil, err
	}
	chain, sentAs, err := e.chain(ctx, accountID, n, kind, domain)
	if err != nil {
		return nil, err
	}
	r := &Report{AccountID: accountID, Domain: domain, At: e.now().UTC(), SentAs: sentAs,
		Identity: chain[0].Name, IdentityKind: chain[0].Kind, OrganizationalDomain: dmarcrule.OrgDomain(domain)}
	r.DMARC = e.lookupDMARC(ctx, domain)
	e.spf(ctx, r, chain)
	e.dkim(r, chain)
	e.lookupMX(ctx, r)
	r.Result = outcome(r)
	buckets, err := e.complaints(ctx, r, chain)
	if err != nil {
		return nil, err
	}
	if err := e.unsubscribe(ctx, r, buckets); err != nil {
		return nil, err
	}
	r.Checks = []Check{dmarcCheck(r), spfCheck(r), dkimCheck(r), unsubscribeCheck(r), complaintCheck(r), resultCheck(r)}
	r.Ready = true
	for _, c := range r.Checks {
		if c.Status == Fail {
			r.Ready = false
		}
	}
	return r, nil
}

// chain returns the verified identities that cover mail from name, most
// specific first, and what is judged (the address or the domain).
func (e *Evaluator) chain(ctx context.Context, accountID, name string, kind identity.Kind, domain string) ([]*identity.Identity, string, error) {
	local := ""
	if kind == identity.KindEmail {
		a, err := addr.ParseAddress(name)
		if err != nil {
			return nil, "", &identity.InvalidError{Field: "Domain", Msg: fmt.Sprintf("Invalid email address %s.", name)}
		}
		local = a.Local
	}
	names := identity.CoveringNames(name, domain)
	if kind == identity.KindDomain {
		names = names[1:] // the domain itself is the second name
	}
	found, err := e.opts.Identities.GetMany(ctx, accountID, names)
	if err != nil {
		return nil, "", fmt.Errorf("readiness: identities of %s: %w", name, err)
	}
	var chain []*identity.Identity
	if kind == identity.KindEmail {
		chain = send.Covering(found, addr.Address{Local: local, Domain: domain})
	} else {
		for _, nm := range names {
			if i := found[nm]; i != nil && i.VerifiedForSending() {
				chain = append(chain, i)
			}
		}
	}
	if len(chain) > 0 {
		return chain, name, nil
	}
	unverified := len(found) > 0
	if kind == identity.KindDomain {
		addrs, err := e.opts.Identities.AddressesOf(ctx, accountID, domain)
		if err != nil {
			return nil, "", fmt.Errorf("readiness: address identities at %s: %w", domain, err)
		}
		for _, a := range addrs {
			if a.VerifiedForSending() {
				return []*identity.Identity{a}, a.Name, nil
			}
			unverified = true
		}
	}
	if unverified {
		return nil, "", fmt.Errorf("%w: no identity covering %s is verified yet, and Sesame refuses mail from it until one is", ErrNotVerified, name)
	}
	return nil, "", fmt.Errorf("%w: %s", ErrNotFound, name)
}

// complaints fills r.Complaints from the send statistics of the chain's
// identities, and returns them (UnsubscribeWindow is ComplaintWindow: the
// unsubscribe check reads the daily volume from them).
func (e *Evaluator) complaints(ctx context.Context, r *Report, chain []*identity.Identity) ([]stats.IdentityBucket, error) {
	ids, addrDomain := statIdentities(r, chain)
	since := r.At.Add(-ComplaintWindow)
	bs, err := e.opts.Stats.IdentityBuckets(ctx, r.AccountID, ids, addrDomain, since)
	if err != nil {
		return nil, fmt.Errorf("readiness: %w", err)
	}
	c := Complaints{Window: ComplaintWindow.String(), Since: since, Identities: ids}
	if addrDomain != "" {
		c.Identities = append(c.Identities, "*@"+addrDomain)
	}
	for _, b := range bs {
		c.Sends += b.Sends
		c.Complaints += b.Complaints
	}
	if c.Sends > 0 {
		c.Rate = float64(c.Complaints) / float64(c.Sends)
	}
	c.Enough = c.Sends >= MinVolume
	r.Complaints = c
	return bs, nil
}

// statIdentities returns the identities whose statistics are the
// domain's: the domain identity covering it, and the address identities
// at the domain (addrDomain).
func statIdentities(r *Report, chain []*identity.Identity) (ids []string, addrDomain string) {
	for _, i := range chain {
		if i.Kind == identity.KindDomain {
			return []string{i.Name}, r.Domain
		}
	}
	return nil, r.Domain
}

// Complaints is the complaint rate's evidence.
type Complaints struct {
	Window     string    `json:"window"`
	Since      time.Time `json:"since"`
	Identities []string  `json:"identities"` // whose statistics were summed
	Sends      int64     `json:"sends"`
	Complaints int64     `json:"complaints"`
	Rate       float64   `json:"rate"`
	Enough     bool      `json:"enough"` // at least MinVolume sends
}
