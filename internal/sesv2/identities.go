package sesv2

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/sesapi"
)

// Enum values of the v2 model used by the identity operations.
const (
	originEasy     = "AWS_SES"
	originExternal = "EXTERNAL"
)

// ListEmailIdentities page sizes.
const (
	defaultPageSize = 25
	maxPageSize     = 1000
)

// Wire shapes (JSON member names are SES's).

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type dkimSigningAttributes struct {
	DomainSigningSelector         string `json:"DomainSigningSelector"`
	DomainSigningPrivateKey       string `json:"DomainSigningPrivateKey"`
	NextSigningKeyLength          string `json:"NextSigningKeyLength"`
	DomainSigningAttributesOrigin string `json:"DomainSigningAttributesOrigin"`
}

type dkimAttributes struct {
	SigningEnabled             bool     `json:"SigningEnabled"`
	Status                     string   `json:"Status,omitempty"`
	Tokens                     []string `json:"Tokens,omitempty"`
	SigningHostedZone          string   `json:"SigningHostedZone,omitempty"`
	SigningAttributesOrigin    string   `json:"SigningAttributesOrigin,omitempty"`
	NextSigningKeyLength       string   `json:"NextSigningKeyLength,omitempty"`
	CurrentSigningKeyLength    string   `json:"CurrentSigningKeyLength,omitempty"`
	LastKeyGenerationTimestamp *epoch   `json:"LastKeyGenerationTimestamp,omitempty"`
}

type mailFromAttributes struct {
	MailFromDomain       string `json:"MailFromDomain,omitempty"`
	MailFromDomainStatus string `json:"MailFromDomainStatus,omitempty"`
	BehaviorOnMxFailure  string `json:"BehaviorOnMxFailure"`
}

type verificationInfo struct {
	LastCheckedTimestamp *epoch `json:"LastCheckedTimestamp,omitempty"`
	LastSuccessTimestamp *epoch `json:"LastSuccessTimestamp,omitempty"`
	ErrorType            string `json:"ErrorType,omitempty"`
}

// identityName returns the {EmailIdentity} path label (already decoded).
func identityName(r *http.Request) (string, error) {
	n := r.PathValue("EmailIdentity")
	if n == "" {
		return "", badRequest("EmailIdentity is required.")
	}
	return n, nil
}

// identityNotFound is the NotFoundException for an unknown identity.
func identityNotFound(name string) *sesapi.Error {
	return notFound("Email identity %s does not exist.", name)
}

// mapNotFound turns the store's ErrNotFound into identityNotFound(name);
// other errors pass through for apiError.
func mapNotFound(err error, name string) error {
	if errors.Is(err, identity.ErrNotFound) {
		return identityNotFound(name)
	}
	return err
}

// checkKeyLength validates a DkimSigningKeyLength member ("" is allowed).
func checkKeyLength(field, v string) (identity.KeyLength, error) {
	switch identity.KeyLength(v) {
	case "", identity.RSA1024, identity.RSA2048:
		return identity.KeyLength(v), nil
	}
	return "", badRequest("Invalid value %q for %s: must be one of %s, %s.", v, field, identity.RSA1024, identity.RSA2048)
}

// checkOrigin validates a DkimSigningAttributesOrigin member ("" is
// allowed). The AWS_SES_<REGION> values ask for Deterministic Easy DKIM
// replicated from another AWS region, which Sesame does not offer.
func checkOrigin(field, v string) error {
	switch {
	case v == "" || v == originEasy || v == originExternal:
		return nil
	case strings.HasPrefix(v, originEasy+"_"):
		return badRequest("%s %s is not supported: Sesame does not replicate Easy DKIM keys from another region. Use %s or %s.", field, v, originEasy, originExternal)
	}
	return badRequest("Invalid value %q for %s: must be one of %s, %s.", v, field, originEasy, originExternal)
}

// dkimSetup turns CreateEmailIdentity's DkimSigningAttributes into the
// store's DKIMSetup for a domain: Easy DKIM unless a selector or key is
// given (or the origin is EXTERNAL).
func dkimSetup(a *dkimSigningAttributes) (identity.DKIMSetup, error) {
	if a == nil {
		return identity.DKIMSetup{Origin: identity.OriginEasy}, nil
	}
	if err := checkOrigin("DkimSigningAttributes.DomainSigningAttributesOrigin", a.DomainSigningAttributesOrigin); err != nil {
		return identity.DKIMSetup{}, err
	}
	kl, err := checkKeyLength("DkimSigningAttributes.NextSigningKeyLength", a.NextSigningKeyLength)
	if err != nil {
		return identity.DKIMSetup{}, err
	}
	byo := a.DomainSigningSelector != "" || a.DomainSigningPrivateKey != ""
	switch a.DomainSigningAttributesOrigin {
	case originExternal:
		byo = true
	case originEasy:
		if byo {
			return identity.DKIMSetup{}, badRequest("DomainSigningSelector and DomainSigningPrivateKey apply only to BYODKIM: leave DomainSigningAttributesOrigin empty or set it to %s.", originExternal)
		}
	}
	if !byo {
		return identity.DKIMSetup{Origin: identity.OriginEasy, KeyLength: kl}, nil
	}
	if a.DomainSigningSelector == "" {
		return identity.DKIMSetup{}, badRequest("DomainSigningSelector is required for BYODKIM (with DomainSigningPrivateKey).")
	}
	if a.DomainSigningPrivateKey == "" {
		return identity.DKIMSetup{}, badRequest("DomainSigningPrivateKey is required for BYODKIM (with DomainSigningSelector).")
	}
	return identity.DKIMSetup{Origin: identity.OriginExternal, Selector: a.DomainSigningSelector, PrivateKey: a.DomainSigningPrivateKey}, nil
}

// dkimOf returns the DkimAttributes of an identity. An address reports
// its own domain's DKIM when that domain is an identity of the account
// (only the exact domain after the @, as SES does); otherwise DKIM has not
// started for it.
func (h *handler) dkimOf(r *http.Request, i *identity.Identity) (dkimAttributes, error) {
	if i.Kind == identity.KindEmail {
		d, err := h.ids.Get(r.Context(), i.AccountID, i.Domain)
		if errors.Is(err, identity.ErrNotFound) {
			return dkimAttributes{SigningEnabled: false, Status: identity.NotStarted.V2()}, nil
		}
		if err != nil {
			return dkimAttributes{}, fmt.Errorf("sesv2: read domain %s of %s: %w", i.Domain, i.Name, err)
		}
		d.DKIM.SigningEnabled = d.DKIM.SigningEnabled && i.DKIM.SigningEnabled // the address's own switch
		i = d
	}
	dk := i.DKIM
	out := dkimAttributes{SigningEnabled: dk.SigningEnabled, Status: dk.Status.V2()}
	if out.Status == "" {
		out.Status = identity.NotStarted.V2()
	}
	if dk.Origin == identity.OriginNone {
		return out, nil
	}
	out.Tokens = dk.Tokens
	out.SigningAttributesOrigin = string(dk.Origin)
	if dk.Origin == identity.OriginEasy {
		out.SigningHostedZone = h.ids.SigningHostedZone()
		out.CurrentSigningKeyLength = string(dk.KeyLength)
		out.NextSigningKeyLength = string(dk.NextKeyLength)
	}
	out.LastKeyGenerationTimestamp = timestamp(dk.KeyGeneratedAt)
	return out, nil
}

// CreateEmailIdentity: POST /v2/email/identities.

type createEmailIdentityInput struct {
	EmailIdentity         string                 `json:"EmailIdentity"`
	Tags                  []tag                  `json:"Tags"`
	DkimSigningAttributes *dkimSigningAttributes `json:"DkimSigningAttributes"`
	ConfigurationSetName  string                 `json:"ConfigurationSetName"`
}

type createEmailIdentityOutput struct {
	IdentityType             string         `json:"IdentityType"`
	VerifiedForSendingStatus bool           `json:"VerifiedForSendingStatus"`
	DkimAttributes           dkimAttributes `json:"DkimAttributes"`
}

func (h *handler) createEmailIdentity(r *http.Request, c sesapi.Caller) (any, error) {
	var in createEmailIdentityInput
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	if in.EmailIdentity == "" {
		return nil, badRequest("EmailIdentity is required.")
	}
	_, kind, _, err := identity.Parse("EmailIdentity", in.EmailIdentity)
	if err != nil {
		return nil, err
	}
	opts := identity.CreateOptions{ConfigurationSet: in.ConfigurationSetName}
	opts.Tags = storeTags[identity.Tag](in.Tags)
	if kind == identity.KindDomain {
		if opts.DKIM, err = dkimSetup(in.DkimSigningAttributes); err != nil {
			return nil, err
		}
	} else if a := in.DkimSigningAttributes; a != nil {
		// Only the members that make sense for a domain are refused; an
		// origin of AWS_SES or a key length is harmless and ignored.
		if a.DomainSigningSelector != "" || a.DomainSigningPrivateKey != "" || a.DomainSigningAttributesOrigin == originExternal {
			return nil, badRequest("DkimSigningAttributes for BYODKIM apply only to domain identities; %s is an email address.", in.EmailIdentity)
		}
		if err := checkOrigin("DkimSigningAttributes.DomainSigningAttributesOrigin", a.DomainSigningAttributesOrigin); err != nil {
			return nil, err
		}
		if _, err := checkKeyLength("DkimSigningAttributes.NextSigningKeyLength", a.NextSigningKeyLength); err != nil {
			return nil, err
		}
	}
	if err := h.checkSetExists(r, c, in.ConfigurationSetName); err != nil {
		return nil, err
	}
	i, err := h.ids.Create(r.Context(), c.AccountID, in.EmailIdentity, opts)
	if errors.Is(err, identity.ErrAlreadyExists) {
		return nil, alreadyExists("Email identity %s already exists.", in.EmailIdentity)
	}
	if err != nil {
		return nil, verificationError(err)
	}
	dk, err := h.dkimOf(r, i)
	if err != nil {
		return nil, err
	}
	return createEmailIdentityOutput{
		IdentityType:             i.Kind.V2(),
		VerifiedForSendingStatus: i.VerifiedForSending(),
		DkimAttributes:           dk,
	}, nil
}

// verificationError maps a refused verification mail to SES v2's codes: a
// resend within the cooldown → TooManyRequestsException (429), the daily
// cap on verification mail → LimitExceededException, and the account's
// daily quota or sending rate → TooManyRequestsException, as for a send.
func verificationError(err error) error {
	var le *identity.LimitError
	switch {
	case !errors.As(err, &le):
		return sendError(err)
	case errors.Is(err, identity.ErrThrottled):
		return sesapi.Errorf(http.StatusTooManyRequests, "TooManyRequestsException", "%s", le.Msg)
	}
	return sesapi.Errorf(http.StatusBadRequest, "LimitExceededException", "%s", le.Msg)
}

// GetEmailIdentity: GET /v2/email/identities/{EmailIdentity}.

type getEmailIdentityOutput struct {
	IdentityType             string             `json:"IdentityType"`
	FeedbackForwardingStatus bool               `json:"FeedbackForwardingStatus"`
	VerifiedForSendingStatus bool               `json:"VerifiedForSendingStatus"`
	DkimAttributes           dkimAttributes     `json:"DkimAttributes"`
	MailFromAttributes       mailFromAttributes `json:"MailFromAttributes"`
	Policies                 map[string]string  `json:"Policies"`
	Tags                     []tag              `json:"Tags"`
	ConfigurationSetName     string             `json:"ConfigurationSetName,omitempty"`
	VerificationStatus       string             `json:"VerificationStatus,omitempty"`
	VerificationInfo         verificationInfo   `json:"VerificationInfo"`
}

func (h *handler) getEmailIdentity(r *http.Request, c sesapi.Caller) (any, error) {
	name, err := identityName(r)
	if err != nil {
		return nil, err
	}
	i, err := h.ids.Get(r.Context(), c.AccountID, name)
	if err != nil {
		return nil, mapNotFound(err, name)
	}
	dk, err := h.dkimOf(r, i)
	if err != nil {
		return nil, err
	}
	out := getEmailIdentityOutput{
		IdentityType:             i.Kind.V2(),
		FeedbackForwardingStatus: i.FeedbackForwarding,
		VerifiedForSendingStatus: i.VerifiedForSending(),
		DkimAttributes:           dk,
		MailFromAttributes:       mailFromAttributes{BehaviorOnMxFailure: i.MailFrom.Behavior.V2()},
		Policies:                 map[string]string{},
		Tags:                     apiTags(i.Tags),
		ConfigurationSetName:     i.ConfigurationSet,
		VerificationStatus:       i.Verification.V2(),
		VerificationInfo: verificationInfo{
			LastCheckedTimestamp: timestamp(i.LastCheckedAt),
			LastSuccessTimestamp: timestamp(i.LastSuccessAt),
			ErrorType:            i.VerificationError,
		},
	}
	if i.MailFrom.Domain != "" {
		out.MailFromAttributes.MailFromDomain = i.MailFrom.Domain
		out.MailFromAttributes.MailFromDomainStatus = i.MailFrom.Status.V2()
	}
	return out, nil
}

// ListEmailIdentities: GET /v2/email/identities?NextToken=&PageSize=.

type identityInfo struct {
	IdentityType       string `json:"IdentityType"`
	IdentityName       string `json:"IdentityName"`
	SendingEnabled     bool   `json:"SendingEnabled"`
	VerificationStatus string `json:"VerificationStatus,omitempty"`
}

type listEmailIdentitiesOutput struct {
	EmailIdentities []identityInfo `json:"EmailIdentities"`
	NextToken       string         `json:"NextToken,omitempty"`
}

// encodeToken makes the opaque NextToken that resumes after name.
func encodeToken(name string) string { return base64.RawURLEncoding.EncodeToString([]byte(name)) }

// decodeToken reverses encodeToken; anything it did not make is refused.
func decodeToken(tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(tok, "="))
	if err != nil || len(b) == 0 || !utf8.Valid(b) || strings.ContainsRune(string(b), 0) {
		return "", badRequest("Invalid NextToken.")
	}
	return string(b), nil
}

// listEmailIdentitiesInput is the body of the newer form of the call
// (POST /v2/email/list-identities, SDKs from late 2026 on, which added
// Filter); the older form (GET /v2/email/identities) carries NextToken and
// PageSize in the query string and has no filter.
type listEmailIdentitiesInput struct {
	Filter    map[string]string `json:"Filter"`
	NextToken string            `json:"NextToken"`
	PageSize  *int              `json:"PageSize"`
}

// The IdentityFilterKey values.
const (
	filterNameContains       = "IDENTITY_NAME_CONTAINS"
	filterIdentityType       = "IDENTITY_TYPE"
	filterVerificationStatus = "VERIFICATION_STATUS"
)

// identityFilter selects identities for ListEmailIdentities.
type identityFilter struct {
	nameContains string // lower case; "" for any
	kind         string // v2 IdentityType; "" for any
	status       string // v2 VerificationStatus; "" for any
}

func (f identityFilter) match(i *identity.Identity) bool {
	return (f.nameContains == "" || strings.Contains(strings.ToLower(i.Name), f.nameContains)) &&
		(f.kind == "" || i.Kind.V2() == f.kind) &&
		(f.status == "" || i.Verification.V2() == f.status)
}

// parseFilter validates the Filter map.
func parseFilter(m map[string]string) (identityFilter, error) {
	var f identityFilter
	for k, v := range m {
		switch k {
		case filterNameContains:
			f.nameContains = strings.ToLower(v)
		case filterIdentityType:
			switch v {
			case "EMAIL_ADDRESS", "DOMAIN", "MANAGED_DOMAIN":
				f.kind = v
			default:
				return f, badRequest("Invalid value %q for Filter %s: must be one of EMAIL_ADDRESS, DOMAIN, MANAGED_DOMAIN.", v, k)
			}
		case filterVerificationStatus:
			switch v {
			case "PENDING", "SUCCESS", "FAILED", "TEMPORARY_FAILURE", "NOT_STARTED":
				f.status = v
			default:
				return f, badRequest("Invalid value %q for Filter %s: must be one of PENDING, SUCCESS, FAILED, TEMPORARY_FAILURE, NOT_STARTED.", v, k)
			}
		default:
			return f, badRequest("Invalid Filter key %q: must be one of %s, %s, %s.", k, filterNameContains, filterIdentityType, filterVerificationStatus)
		}
	}
	return f, nil
}

// listIdentitiesGet is ListEmailIdentities as GET /v2/email/identities.
func (h *handler) listIdentitiesGet(r *http.Request, c sesapi.Caller) (any, error) {
	q := r.URL.Query()
	size := 0
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, badRequest("Invalid PageSize %q: it must be a number from 1 to %d.", v, maxPageSize)
		}
		size = n
	}
	return h.listEmailIdentities(r, c, q.Get("NextToken"), size, identityFilter{})
}

// listIdentitiesPost is ListEmailIdentities as POST /v2/email/list-identities.
func (h *handler) listIdentitiesPost(r *http.Request, c sesapi.Caller) (any, error) {
	var in listEmailIdentitiesInput
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	f, err := parseFilter(in.Filter)
	if err != nil {
		return nil, err
	}
	size := 0
	if in.PageSize != nil {
		size = *in.PageSize
	}
	return h.listEmailIdentities(r, c, in.NextToken, size, f)
}

func (h *handler) listEmailIdentities(r *http.Request, c sesapi.Caller, token string, size int, f identityFilter) (any, error) {
	if size < 0 || size > maxPageSize {
		return nil, badRequest("Invalid PageSize %d: it must be a number from 1 to %d.", size, maxPageSize)
	}
	if size == 0 {
		size = defaultPageSize
	}
	var after string
	if token != "" {
		var err error
		if after, err = decodeToken(token); err != nil {
			return nil, err
		}
	}
	out := listEmailIdentitiesOutput{EmailIdentities: []identityInfo{}}
	var kind identity.Kind
	switch f.kind {
	case "DOMAIN":
		kind = identity.KindDomain
	case "EMAIL_ADDRESS":
		kind = identity.KindEmail
	case "MANAGED_DOMAIN":
		return out, nil // Sesame has no SES-managed domains
	}
	// Read pages from the store until this page is full or the store is
	// exhausted; filters other than the kind are applied here.
	for {
		ids, more, err := h.ids.List(r.Context(), c.AccountID, identity.ListOptions{Kind: kind, After: after, Limit: size})
		if err != nil {
			return nil, err
		}
		for k, i := range ids {
			after = i.Name
			if !f.match(i) {
				continue
			}
			out.EmailIdentities = append(out.EmailIdentities, identityInfo{
				IdentityType:       i.Kind.V2(),
				IdentityName:       i.Name,
				SendingEnabled:     i.VerifiedForSending(),
				VerificationStatus: i.Verification.V2(),
			})
			if len(out.EmailIdentities) == size {
				if more || k < len(ids)-1 {
					out.NextToken = encodeToken(i.Name)
				}
				return out, nil
			}
		}
		if !more {
			return out, nil
		}
	}
}

// DeleteEmailIdentity: DELETE /v2/email/identities/{EmailIdentity}.

func (h *handler) deleteEmailIdentity(r *http.Request, c sesapi.Caller) (any, error) {
	name, err := identityName(r)
	if err != nil {
		return nil, err
	}
	if err := h.ids.Delete(r.Context(), c.AccountID, name); err != nil {
		return nil, mapNotFound(err, name)
	}
	return nil, nil
}

// PutEmailIdentityMailFromAttributes: PUT .../{EmailIdentity}/mail-from.

type putMailFromInput struct {
	MailFromDomain      string `json:"MailFromDomain"`
	BehaviorOnMxFailure string `json:"BehaviorOnMxFailure"`
}

func (h *handler) putMailFromAttributes(r *http.Request, c sesapi.Caller) (any, error) {
	name, err := identityName(r)
	if err != nil {
		return nil, err
	}
	var in putMailFromInput
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	b, err := identity.ParseBehaviorV2("BehaviorOnMxFailure", in.BehaviorOnMxFailure)
	if err != nil {
		return nil, err
	}
	err = h.ids.SetMailFrom(r.Context(), c.AccountID, name, in.MailFromDomain, b)
	if errors.Is(err, identity.ErrNotVerified) {
		return nil, badRequest("%s", identity.MailFromNotVerifiedMessage(name))
	}
	if err != nil {
		return nil, mapNotFound(err, name)
	}
	return nil, nil
}

// PutEmailIdentityDkimAttributes: PUT .../{EmailIdentity}/dkim.

type putDkimAttributesInput struct {
	SigningEnabled bool `json:"SigningEnabled"`
}

func (h *handler) putDkimAttributes(r *http.Request, c sesapi.Caller) (any, error) {
	name, err := identityName(r)
	if err != nil {
		return nil, err
	}
	var in putDkimAttributesInput
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	err = h.ids.SetDKIMEnabled(r.Context(), c.AccountID, name, in.SigningEnabled)
	if errors.Is(err, identity.ErrNotFound) {
		// SES answers 400 here, not 404 (ses-api.md §7.1).
		return nil, badRequest("Domain %s is not verified for DKIM signing.", name)
	}
	return nil, err
}

// PutEmailIdentityDkimSigningAttributes: PUT .../{EmailIdentity}/dkim/signing.

type signingAttributes struct {
	DomainSigningSelector   string `json:"DomainSigningSelector"`
	DomainSigningPrivateKey string `json:"DomainSigningPrivateKey"`
	NextSigningKeyLength    string `json:"NextSigningKeyLength"`
}

type putDkimSigningAttributesInput struct {
	SigningAttributesOrigin string             `json:"SigningAttributesOrigin"`
	SigningAttributes       *signingAttributes `json:"SigningAttributes"`
}

type putDkimSigningAttributesOutput struct {
	DkimStatus        string   `json:"DkimStatus,omitempty"`
	DkimTokens        []string `json:"DkimTokens,omitempty"`
	SigningHostedZone string   `json:"SigningHostedZone,omitempty"`
}

func (h *handler) putDkimSigningAttributes(r *http.Request, c sesapi.Caller) (any, error) {
	name, err := identityName(r)
	if err != nil {
		return nil, err
	}
	var in putDkimSigningAttributesInput
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	if in.SigningAttributesOrigin == "" {
		return nil, badRequest("SigningAttributesOrigin is required: %s or %s.", originEasy, originExternal)
	}
	if err := checkOrigin("SigningAttributesOrigin", in.SigningAttributesOrigin); err != nil {
		return nil, err
	}
	a := in.SigningAttributes
	if a == nil {
		a = &signingAttributes{}
	}
	var setup identity.DKIMSetup
	switch in.SigningAttributesOrigin {
	case originEasy:
		kl, err := checkKeyLength("SigningAttributes.NextSigningKeyLength", a.NextSigningKeyLength)
		if err != nil {
			return nil, err
		}
		if a.DomainSigningSelector != "" || a.DomainSigningPrivateKey != "" {
			return nil, badRequest("SigningAttributes.DomainSigningSelector and DomainSigningPrivateKey apply only when SigningAttributesOrigin is %s.", originExternal)
		}
		setup = identity.DKIMSetup{Origin: identity.OriginEasy, KeyLength: kl}
	case originExternal:
		if a.DomainSigningSelector == "" || a.DomainSigningPrivateKey == "" {
			return nil, badRequest("SigningAttributes.DomainSigningSelector and SigningAttributes.DomainSigningPrivateKey are required when SigningAttributesOrigin is %s.", originExternal)
		}
		setup = identity.DKIMSetup{Origin: identity.OriginExternal, Selector: a.DomainSigningSelector, PrivateKey: a.DomainSigningPrivateKey}
	}
	i, err := h.ids.SetDKIMSigning(r.Context(), c.AccountID, name, setup, false)
	if err != nil {
		return nil, mapNotFound(err, name)
	}
	return putDkimSigningAttributesOutput{
		DkimStatus:        i.DKIM.Status.V2(),
		DkimTokens:        i.DKIM.Tokens,
		SigningHostedZone: h.ids.SigningHostedZone(),
	}, nil
}

// PutEmailIdentityFeedbackAttributes: PUT .../{EmailIdentity}/feedback.

type putFeedbackAttributesInput struct {
	EmailForwardingEnabled bool `json:"EmailForwardingEnabled"` // absent: false
}

func (h *handler) putFeedbackAttributes(r *http.Request, c sesapi.Caller) (any, error) {
	name, err := identityName(r)
	if err != nil {
		return nil, err
	}
	var in putFeedbackAttributesInput
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	if err := h.ids.SetFeedbackForwarding(r.Context(), c.AccountID, name, in.EmailForwardingEnabled); err != nil {
		return nil, mapNotFound(err, name)
	}
	return nil, nil
}
