package sesv1

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/sesapi"
)

// Limits from the SES model.
const (
	maxListItems     = 1000 // ListIdentities MaxItems
	maxAttributesFor = 100  // identities per Get*Attributes call
	maxTokenName     = 512  // longest name a NextToken may carry
)

// memberList is a list as the Query protocol writes it: <member> items.
// It is always written, empty or not.
type memberList struct {
	Member []string `xml:"member"`
}

// entryMap is a map as the Query protocol writes it: <entry><key/><value/></entry>.
// It is always written, empty or not.
type entryMap[T any] struct {
	Entry []mapEntry[T] `xml:"entry"`
}

type mapEntry[T any] struct {
	Key   string `xml:"key"`
	Value T      `xml:"value"`
}

type verifyDomainIdentityResult struct {
	VerificationToken string
}

type verifyDomainDkimResult struct {
	DkimTokens memberList
}

type listIdentitiesResult struct {
	Identities memberList
	NextToken  string `xml:",omitempty"`
}

type listVerifiedEmailAddressesResult struct {
	VerifiedEmailAddresses memberList
}

type verificationAttributes struct {
	VerificationStatus string
	VerificationToken  string `xml:",omitempty"`
}

type getIdentityVerificationAttributesResult struct {
	VerificationAttributes entryMap[verificationAttributes]
}

type dkimAttributes struct {
	DkimEnabled            bool
	DkimVerificationStatus string
	DkimTokens             *memberList `xml:",omitempty"`
}

type getIdentityDkimAttributesResult struct {
	DkimAttributes entryMap[dkimAttributes]
}

type mailFromAttributes struct {
	MailFromDomain       string // written even when empty: the SDKs expect the member
	MailFromDomainStatus string `xml:",omitempty"`
	BehaviorOnMXFailure  string
}

type getIdentityMailFromDomainAttributesResult struct {
	MailFromDomainAttributes entryMap[mailFromAttributes]
}

// doesNotExist is the answer for an identity the account does not have.
func doesNotExist(name string) error {
	return invalidParameter("Identity %s does not exist.", name)
}

// VerifyDomainIdentity: add the domain (verified by its _amazonses TXT
// token) or return the existing one; the token is the same every time.
func (h *handler) verifyDomainIdentity(c *call) (any, error) {
	d, err := c.required("Domain")
	if err != nil {
		return nil, err
	}
	i, err := h.ids.EnsureDomain(c.ctx, c.account, d)
	if err != nil {
		return nil, err
	}
	return verifyDomainIdentityResult{VerificationToken: i.VerificationToken}, nil
}

// VerifyDomainDkim: set up Easy DKIM for the domain, creating the domain
// identity when missing; a domain already on Easy DKIM keeps its tokens.
// A domain whose verification Failed starts verifying again, as with
// VerifyDomainIdentity.
func (h *handler) verifyDomainDkim(c *call) (any, error) {
	d, err := c.required("Domain")
	if err != nil {
		return nil, err
	}
	n, kind, _, err := identity.Parse("Domain", d)
	if err != nil {
		return nil, err
	}
	if kind != identity.KindDomain {
		return nil, invalidParameter("Invalid domain name <%s>: a domain identity must not contain @.", d)
	}
	easy := identity.DKIMSetup{Origin: identity.OriginEasy}
	i, err := h.ids.Get(c.ctx, c.account, n)
	switch {
	case errors.Is(err, identity.ErrNotFound):
		i, err = h.ids.Create(c.ctx, c.account, n, identity.CreateOptions{DKIM: easy})
		if errors.Is(err, identity.ErrAlreadyExists) { // created concurrently
			i, err = h.ids.SetDKIMSigning(c.ctx, c.account, n, easy, true)
		}
	case err != nil:
	default:
		if i.Verification == identity.Failed {
			if _, err := h.ids.EnsureDomain(c.ctx, c.account, n); err != nil {
				return nil, err
			}
		}
		i, err = h.ids.SetDKIMSigning(c.ctx, c.account, n, easy, true)
	}
	if err != nil {
		return nil, err
	}
	return verifyDomainDkimResult{DkimTokens: memberList{Member: i.DKIM.Tokens}}, nil
}

// VerifyEmailIdentity and VerifyEmailAddress: add the address (a
// verification mail goes out) or send the mail again while it is not
// verified.
func (h *handler) verifyEmailIdentity(c *call) (any, error) {
	a, err := c.required("EmailAddress")
	if err != nil {
		return nil, err
	}
	if _, err := h.ids.EnsureAddress(c.ctx, c.account, a); err != nil {
		return nil, verificationError(err)
	}
	return nil, nil
}

// verificationError maps a refused verification mail to SES v1's codes: a
// resend within the cooldown → Throttling (SES throttles these calls), the
// daily cap on verification mail → LimitExceeded, and the account's daily
// quota or sending rate → Throttling, as for a send.
func verificationError(err error) error {
	var le *identity.LimitError
	switch {
	case !errors.As(err, &le):
		return sendError(err)
	case errors.Is(err, identity.ErrThrottled):
		return sesapi.Errorf(http.StatusBadRequest, "Throttling", "%s", le.Msg)
	}
	return sesapi.Errorf(http.StatusBadRequest, "LimitExceeded", "%s", le.Msg)
}

// ListIdentities: the account's identities of every status, by name, a
// page at a time.
func (h *handler) listIdentities(c *call) (any, error) {
	var kind identity.Kind
	switch t := c.param("IdentityType"); t {
	case "":
	case string(identity.KindEmail), string(identity.KindDomain):
		kind = identity.Kind(t)
	default:
		return nil, enumError("IdentityType", t, string(identity.KindDomain), string(identity.KindEmail))
	}
	limit := h.pageSize
	if v := c.param("MaxItems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListItems {
			return nil, invalidParameter("Invalid MaxItems %q: must be an integer from 1 to %d.", v, maxListItems)
		}
		limit = n
	}
	var after string
	if t := c.param("NextToken"); t != "" {
		var ok bool
		if after, ok = decodeNextToken(t); !ok {
			return nil, invalidParameter("Invalid NextToken")
		}
	}
	ids, more, err := h.ids.List(c.ctx, c.account, identity.ListOptions{Kind: kind, After: after, Limit: limit})
	if err != nil {
		return nil, err
	}
	res := listIdentitiesResult{Identities: memberList{Member: make([]string, 0, len(ids))}}
	for _, i := range ids {
		res.Identities.Member = append(res.Identities.Member, i.Name)
	}
	if more && len(ids) > 0 {
		res.NextToken = encodeNextToken(ids[len(ids)-1].Name)
	}
	return res, nil
}

// encodeNextToken makes the opaque token that continues a listing after name.
func encodeNextToken(name string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(name))
}

// decodeNextToken returns the name a token continues after.
func decodeNextToken(t string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || len(b) == 0 || len(b) > maxTokenName || !utf8.Valid(b) {
		return "", false
	}
	return string(b), true
}

// ListVerifiedEmailAddresses (deprecated): every verified address identity.
func (h *handler) listVerifiedEmailAddresses(c *call) (any, error) {
	res := listVerifiedEmailAddressesResult{VerifiedEmailAddresses: memberList{Member: []string{}}}
	after := ""
	for {
		ids, more, err := h.ids.List(c.ctx, c.account, identity.ListOptions{Kind: identity.KindEmail, After: after, Limit: maxListItems})
		if err != nil {
			return nil, err
		}
		for _, i := range ids {
			if i.VerifiedForSending() {
				res.VerifiedEmailAddresses.Member = append(res.VerifiedEmailAddresses.Member, i.Name)
			}
		}
		if !more || len(ids) == 0 {
			return res, nil
		}
		after = ids[len(ids)-1].Name
	}
}

// DeleteIdentity: remove the identity; an unknown one is not an error.
func (h *handler) deleteIdentity(c *call) (any, error) {
	name, err := c.required("Identity")
	if err != nil {
		return nil, err
	}
	if err := h.ids.Delete(c.ctx, c.account, name); err != nil && !errors.Is(err, identity.ErrNotFound) {
		return nil, err
	}
	return nil, nil
}

// DeleteVerifiedEmailAddress (deprecated): DeleteIdentity for an address.
func (h *handler) deleteVerifiedEmailAddress(c *call) (any, error) {
	a, err := c.required("EmailAddress")
	if err != nil {
		return nil, err
	}
	if _, kind, _, err := identity.Parse("EmailAddress", a); err != nil {
		return nil, err
	} else if kind != identity.KindEmail {
		return nil, invalidParameter("Invalid email address <%s>: an email address needs an @ and a domain.", a)
	}
	if err := h.ids.Delete(c.ctx, c.account, a); err != nil && !errors.Is(err, identity.ErrNotFound) {
		return nil, err
	}
	return nil, nil
}

// identities reads the Identities list of the Get*Attributes calls: at
// most 100 names, duplicates dropped, order kept.
func (c *call) identities() ([]string, error) {
	names, err := c.list("Identities", true)
	if err != nil {
		return nil, err
	}
	if len(names) > maxAttributesFor {
		return nil, invalidParameter("Too many identities: %d were given; at most %d may be requested at once.", len(names), maxAttributesFor)
	}
	seen := make(map[string]bool, len(names))
	out := names[:0:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

// getMany returns the requested identities that exist, in request order.
func (h *handler) getMany(c *call) ([]string, map[string]*identity.Identity, error) {
	names, err := c.identities()
	if err != nil {
		return nil, nil, err
	}
	found, err := h.ids.GetMany(c.ctx, c.account, names)
	if err != nil {
		return nil, nil, err
	}
	return names, found, nil
}

// GetIdentityVerificationAttributes: status (and, for domains, the TXT
// token) of each existing identity; unknown names are left out.
func (h *handler) getIdentityVerificationAttributes(c *call) (any, error) {
	names, found, err := h.getMany(c)
	if err != nil {
		return nil, err
	}
	res := getIdentityVerificationAttributesResult{}
	for _, n := range names {
		i, ok := found[n]
		if !ok {
			continue
		}
		v := verificationAttributes{VerificationStatus: string(i.Verification)}
		if i.Kind == identity.KindDomain {
			v.VerificationToken = i.VerificationToken
		}
		res.VerificationAttributes.Entry = append(res.VerificationAttributes.Entry, mapEntry[verificationAttributes]{Key: n, Value: v})
	}
	return res, nil
}

// GetIdentityDkimAttributes: DKIM state of each existing identity. An
// address reports its domain identity's state (no tokens: those belong to
// the domain), or disabled and NotStarted when its domain is not an
// identity of the account.
func (h *handler) getIdentityDkimAttributes(c *call) (any, error) {
	names, found, err := h.getMany(c)
	if err != nil {
		return nil, err
	}
	// The addresses' domain identities, in one query.
	var want []string
	for _, i := range found {
		if i.Kind != identity.KindDomain && !slices.Contains(want, i.Domain) {
			want = append(want, i.Domain)
		}
	}
	domains := map[string]*identity.Identity{} // by domain name; absent when not an identity
	if len(want) > 0 {
		if domains, err = h.ids.GetMany(c.ctx, c.account, want); err != nil {
			return nil, fmt.Errorf("sesv1: domains of addresses: %w", err)
		}
	}
	res := getIdentityDkimAttributesResult{}
	for _, n := range names {
		i, ok := found[n]
		if !ok {
			continue
		}
		var v dkimAttributes
		if i.Kind == identity.KindDomain {
			v = domainDKIM(i)
		} else {
			d := domains[i.Domain]
			v = dkimAttributes{DkimEnabled: false, DkimVerificationStatus: string(identity.NotStarted)}
			if d != nil {
				v = domainDKIM(d)
				v.DkimTokens = nil
				v.DkimEnabled = v.DkimEnabled && i.DKIM.SigningEnabled // the address's own switch
			}
		}
		res.DkimAttributes.Entry = append(res.DkimAttributes.Entry, mapEntry[dkimAttributes]{Key: n, Value: v})
	}
	return res, nil
}

// domainDKIM is a domain identity's DKIM attributes.
func domainDKIM(i *identity.Identity) dkimAttributes {
	v := dkimAttributes{DkimEnabled: i.DKIM.SigningEnabled, DkimVerificationStatus: string(i.DKIM.Status)}
	if v.DkimVerificationStatus == "" {
		v.DkimVerificationStatus = string(identity.NotStarted)
	}
	if len(i.DKIM.Tokens) > 0 {
		v.DkimTokens = &memberList{Member: i.DKIM.Tokens}
	}
	return v
}

// SetIdentityDkimEnabled: turn DKIM signing on or off.
func (h *handler) setIdentityDkimEnabled(c *call) (any, error) {
	name, err := c.required("Identity")
	if err != nil {
		return nil, err
	}
	enabled, err := c.requiredBool("DkimEnabled")
	if err != nil {
		return nil, err
	}
	err = h.ids.SetDKIMEnabled(c.ctx, c.account, name, enabled)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, doesNotExist(name)
	}
	return nil, err
}

// SetIdentityMailFromDomain: set, change or (without MailFromDomain)
// clear the custom MAIL FROM domain and the behaviour on MX failure.
func (h *handler) setIdentityMailFromDomain(c *call) (any, error) {
	name, err := c.required("Identity")
	if err != nil {
		return nil, err
	}
	behavior := identity.UseDefaultValue
	switch b := c.param("BehaviorOnMXFailure"); b {
	case "":
	case string(identity.UseDefaultValue), string(identity.RejectMessage):
		behavior = identity.Behavior(b)
	default:
		return nil, enumError("BehaviorOnMXFailure", b, string(identity.RejectMessage), string(identity.UseDefaultValue))
	}
	err = h.ids.SetMailFrom(c.ctx, c.account, name, c.param("MailFromDomain"), behavior)
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return nil, doesNotExist(name)
	case errors.Is(err, identity.ErrNotVerified):
		return nil, invalidParameter("Identity %s is not verified. A custom MAIL FROM domain can be set only on a verified identity.", name)
	}
	return nil, err
}

// GetIdentityMailFromDomainAttributes: an entry for every existing
// identity; MailFromDomainStatus only when a MAIL FROM domain is set.
func (h *handler) getIdentityMailFromDomainAttributes(c *call) (any, error) {
	names, found, err := h.getMany(c)
	if err != nil {
		return nil, err
	}
	res := getIdentityMailFromDomainAttributesResult{}
	for _, n := range names {
		i, ok := found[n]
		if !ok {
			continue
		}
		v := mailFromAttributes{BehaviorOnMXFailure: string(i.MailFrom.Behavior)}
		if v.BehaviorOnMXFailure == "" {
			v.BehaviorOnMXFailure = string(identity.UseDefaultValue)
		}
		if i.MailFrom.Domain != "" {
			v.MailFromDomain, v.MailFromDomainStatus = i.MailFrom.Domain, string(i.MailFrom.Status)
		}
		res.MailFromDomainAttributes.Entry = append(res.MailFromDomainAttributes.Entry, mapEntry[mailFromAttributes]{Key: n, Value: v})
	}
	return res, nil
}
