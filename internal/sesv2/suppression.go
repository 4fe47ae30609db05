package sesv2

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/sesame-email/sesame/internal/sesapi"
	"github.com/sesame-email/sesame/internal/suppression"
)

// The account-level suppression list operations (ses-api.md §7, "Suppression
// list"): PutSuppressedDestination, GetSuppressedDestination,
// DeleteSuppressedDestination, ListSuppressedDestinations and
// PutAccountSuppressionAttributes. Each works on the caller's account only.
//
// TenantName, on all of them, targets a tenant's list (SES's multi-tenant
// feature). Sesame has no tenants, so every tenant name is unknown:
// NotFoundException, as SES answers for a tenant that does not exist.

// Wire shapes.

type suppressedDestinationAttributes struct {
	MessageId  string `json:",omitempty"`
	FeedbackId string `json:",omitempty"`
}

type suppressedDestination struct {
	EmailAddress   string
	Reason         string
	LastUpdateTime epoch
	Attributes     *suppressedDestinationAttributes `json:",omitempty"`
}

type suppressedDestinationSummary struct {
	EmailAddress   string
	Reason         string
	LastUpdateTime epoch
}

type listSuppressedDestinationsOutput struct {
	SuppressedDestinationSummaries []suppressedDestinationSummary
	NextToken                      string `json:",omitempty"`
}

// suppressionAttributes is GetAccount's SuppressionAttributes member.
type suppressionAttributes struct {
	SuppressedReasons []string
}

// suppressionStore returns the store, or the error of an operation
// called on a handler built without one.
func (h *handler) suppressionStore(op string) (*suppression.Store, error) {
	if h.suppression == nil {
		return nil, errors.New("sesv2: " + op + " needs the suppression store")
	}
	return h.suppression, nil
}

// noTenant refuses a TenantName: Sesame has no tenants.
func noTenant(name string) error {
	if name == "" {
		return nil
	}
	return notFound("Tenant %s does not exist.", name)
}

// suppressionError maps the store's errors: ErrNotFound to the
// NotFoundException for address, a bad NextToken to
// InvalidNextTokenException, other invalid input to BadRequestException.
func suppressionError(err error, address string) error {
	var ie *suppression.InvalidError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, suppression.ErrNotFound):
		return notFound("Email address %s does not exist on your suppression list.", address)
	case errors.Is(err, suppression.ErrInvalidToken):
		return sesapi.Errorf(http.StatusBadRequest, "InvalidNextTokenException", "%s", err.Error())
	case errors.As(err, &ie):
		return badRequest("%s", ie.Msg)
	}
	return err
}

// putSuppressedDestination: PUT /v2/email/suppression/addresses
// {EmailAddress, Reason}. An address already listed (in any case) gets
// the new reason and time, and loses the attributes bounce or complaint
// processing recorded.
func (h *handler) putSuppressedDestination(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.suppressionStore("PutSuppressedDestination")
	if err != nil {
		return nil, err
	}
	var in struct{ EmailAddress, Reason, TenantName string }
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	if in.EmailAddress == "" {
		return nil, badRequest("EmailAddress is required.")
	}
	if in.Reason == "" {
		return nil, badRequest("Reason is required: BOUNCE or COMPLAINT.")
	}
	if err := noTenant(in.TenantName); err != nil {
		return nil, err
	}
	return nil, suppressionError(s.Put(r.Context(), c.AccountID, in.EmailAddress, suppression.Reason(in.Reason)), in.EmailAddress)
}

// getSuppressedDestination: GET /v2/email/suppression/addresses/{EmailAddress}.
func (h *handler) getSuppressedDestination(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.suppressionStore("GetSuppressedDestination")
	if err != nil {
		return nil, err
	}
	address := r.PathValue("EmailAddress")
	if err := noTenant(r.URL.Query().Get("TenantName")); err != nil {
		return nil, err
	}
	e, err := s.Get(r.Context(), c.AccountID, address)
	if err != nil {
		return nil, suppressionError(err, address)
	}
	out := suppressedDestination{EmailAddress: e.Address, Reason: string(e.Reason), LastUpdateTime: epoch(e.LastUpdateTime)}
	if e.MessageID != "" || e.FeedbackID != "" {
		out.Attributes = &suppressedDestinationAttributes{MessageId: e.MessageID, FeedbackId: e.FeedbackID}
	}
	return struct{ SuppressedDestination suppressedDestination }{out}, nil
}

// deleteSuppressedDestination: DELETE /v2/email/suppression/addresses/{EmailAddress}.
func (h *handler) deleteSuppressedDestination(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.suppressionStore("DeleteSuppressedDestination")
	if err != nil {
		return nil, err
	}
	address := r.PathValue("EmailAddress")
	if err := noTenant(r.URL.Query().Get("TenantName")); err != nil {
		return nil, err
	}
	return nil, suppressionError(s.Delete(r.Context(), c.AccountID, address), address)
}

// listSuppressedDestinations: GET /v2/email/suppression/addresses
// ?Reason=&Reason=&StartDate=&EndDate=&NextToken=&PageSize=. Entries come
// in the order of their lower-cased address; see suppression.Store.List
// for what a NextToken guarantees. PageSize is 1 to 1000, default 1000;
// 0 is taken as the default, as ListEmailIdentities does.
func (h *handler) listSuppressedDestinations(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.suppressionStore("ListSuppressedDestinations")
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	if err := noTenant(q.Get("TenantName")); err != nil {
		return nil, err
	}
	o := suppression.ListOptions{Token: q.Get("NextToken")}
	for _, v := range q["Reason"] {
		o.Reasons = append(o.Reasons, suppression.Reason(v))
	}
	if o.Start, err = queryTime(q.Get("StartDate"), "StartDate"); err != nil {
		return nil, err
	}
	if o.End, err = queryTime(q.Get("EndDate"), "EndDate"); err != nil {
		return nil, err
	}
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > suppression.MaxPageSize {
			return nil, badRequest("PageSize %q is not valid: it must be a number from 1 to %d.", v, suppression.MaxPageSize)
		}
		o.PageSize = n
	}
	es, next, err := s.List(r.Context(), c.AccountID, o)
	if err != nil {
		return nil, suppressionError(err, "")
	}
	out := listSuppressedDestinationsOutput{SuppressedDestinationSummaries: make([]suppressedDestinationSummary, len(es)), NextToken: next}
	for i, e := range es {
		out.SuppressedDestinationSummaries[i] = suppressedDestinationSummary{EmailAddress: e.Address, Reason: string(e.Reason), LastUpdateTime: epoch(e.LastUpdateTime)}
	}
	return out, nil
}

// queryTime parses a timestamp in the query string: ISO 8601 date-time as
// the SDKs send it (2020-01-02T15:04:05Z, fractions allowed), or Unix
// seconds as SES's documentation describes it. "" is the zero time.
func queryTime(v, field string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) < 1e12 {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	return time.Time{}, badRequest("%s %q is not valid: it must be an ISO 8601 date-time (like 2020-01-02T15:04:05Z) or Unix seconds.", field, v)
}

// putAccountSuppressionAttributes: PUT /v2/email/account/suppression
// {SuppressedReasons, ValidationAttributes}. The list replaces the
// account's reasons; an empty or absent list turns automatic suppression
// off. ValidationAttributes (SES's automatic address validation) is
// accepted and ignored; a request carrying only it leaves the reasons as
// they are.
func (h *handler) putAccountSuppressionAttributes(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.suppressionStore("PutAccountSuppressionAttributes")
	if err != nil {
		return nil, err
	}
	var in struct {
		SuppressedReasons    *[]string
		ValidationAttributes *struct{}
	}
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	if in.SuppressedReasons == nil && in.ValidationAttributes != nil {
		return nil, nil
	}
	var reasons []suppression.Reason
	if in.SuppressedReasons != nil {
		for _, v := range *in.SuppressedReasons {
			reasons = append(reasons, suppression.Reason(v))
		}
	}
	return nil, suppressionError(s.SetAttributes(r.Context(), c.AccountID, reasons), "")
}

// accountSuppressionAttributes returns GetAccount's SuppressionAttributes,
// nil (member omitted) on a handler without the suppression store.
func (h *handler) accountSuppressionAttributes(r *http.Request, accountID string) (*suppressionAttributes, error) {
	if h.suppression == nil {
		return nil, nil
	}
	reasons, err := h.suppression.Attributes(r.Context(), accountID)
	if err != nil {
		return nil, err
	}
	out := &suppressionAttributes{SuppressedReasons: make([]string, len(reasons))}
	for i, rr := range reasons {
		out.SuppressedReasons[i] = string(rr)
	}
	return out, nil
}
