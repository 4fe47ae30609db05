// Package sesv1 implements the SES v1 API (the AWS Query protocol, version
// 2010-12-01) over the identity records: requests are form-encoded
// parameters with an Action (POST body, or the query string of a GET),
// answers are XML in the namespace http://ses.amazonaws.com/doc/2010-12-01/
// with an {Action}Result element and ResponseMetadata, and errors are
// SES's ErrorResponse envelopes.
//
// Implemented actions: VerifyDomainIdentity, VerifyDomainDkim,
// VerifyEmailIdentity, VerifyEmailAddress, ListIdentities,
// ListVerifiedEmailAddresses, DeleteIdentity, DeleteVerifiedEmailAddress,
// GetIdentityVerificationAttributes, GetIdentityDkimAttributes,
// SetIdentityDkimEnabled, SetIdentityMailFromDomain,
// GetIdentityMailFromDomainAttributes, SetIdentityFeedbackForwardingEnabled,
// GetIdentityNotificationAttributes, SetIdentityNotificationTopic and
// SetIdentityHeadersInNotificationsEnabled (topics of Sesame's SNS
// service, through Options.Topics); the custom verification email
// actions (Create/Get/Update/Delete/ListCustomVerificationEmailTemplate(s),
// SendCustomVerificationEmail, through Options.CustomVerification).
//
// Every parameter is validated before a store method that writes is
// called, so a rejected request changes nothing.
package sesv1

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/sesapi"
	"github.com/sesame-email/sesame/internal/sns"
	"github.com/sesame-email/sesame/internal/stats"
	"github.com/sesame-email/sesame/internal/template"
	"github.com/sesame-email/sesame/internal/verifytemplate"
)

// Version is the SES v1 API version this package speaks.
const Version = "2010-12-01"

// Options configures the handler.
type Options struct {
	Identities *identity.Store // required
	Accounts   *account.Store  // the account actions (GetSendQuota...); nil: they fail
	Queue      *queue.Queue    // sending statistics; nil: GetSendQuota fails
	Sender     *send.Sender    // SendEmail, SendRawEmail; nil: they fail
	// ConfigSets is the configuration sets and their event destinations;
	// nil: those actions fail.
	ConfigSets *configset.Store
	Logger     *slog.Logger     // nil: discard
	Now        func() time.Time // nil: time.Now
	// ListPageSize is the number of identities ListIdentities returns when
	// the request has no MaxItems; zero means 100.
	ListPageSize int
	// SendStatistics answers GetSendStatistics (stats.Store.SendStatistics);
	// nil: it fails.
	SendStatistics func(ctx context.Context, accountID string) ([]stats.SendDataPoint, error)
	// Topics keeps the identities' notification topics (sns.Store); nil:
	// SetIdentityNotificationTopic and SetIdentityHeadersInNotificationsEnabled
	// fail with an internal error, GetIdentityNotificationAttributes
	// reports none.
	Topics Topics
	// EnforcementStatus returns the account's enforcement status
	// (reputation.Guard.Status): UpdateAccountSendingEnabled cannot
	// resume an account in SHUTDOWN. Nil: not checked.
	EnforcementStatus func(ctx context.Context, accountID string) (string, error)
	// CustomVerification is the custom verification email templates and
	// their sending; nil: those actions fail.
	CustomVerification *verifytemplate.Store
	// Templates is the email templates (shared with v2); nil: the
	// template actions fail.
	Templates *template.Store
}

// Topics is the SNS service's side of the identity notification actions
// (*sns.Store implements it).
type Topics interface {
	// SetIdentityTopic sets (topicARN "": clears) the topic of one
	// notification type; an error wrapping sns.ErrTopicNotFound when the
	// account has no such topic.
	SetIdentityTopic(ctx context.Context, accountID string, identityID int64, notificationType, topicARN string) error
	SetIdentityHeaders(ctx context.Context, identityID int64, notificationType string, enabled bool) error
	IdentityTopicsByID(ctx context.Context, identityID int64) (map[string]sns.IdentityTopic, error)
}

// New returns the sesv1 API handler. Requests reach it through sesapi.Server,
// which has authenticated them (sesapi.CallerFrom gives the account).
func New(opts Options) http.Handler {
	h := &handler{ids: opts.Identities, accounts: opts.Accounts, queue: opts.Queue, sender: opts.Sender, configSets: opts.ConfigSets, topics: opts.Topics, now: opts.Now, log: opts.Logger, pageSize: opts.ListPageSize}
	h.sendStatistics = opts.SendStatistics
	h.enforcement = opts.EnforcementStatus
	h.customVerification = opts.CustomVerification
	h.templates = opts.Templates
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.pageSize <= 0 {
		h.pageSize = 100
	}
	if h.pageSize > maxListItems {
		h.pageSize = maxListItems
	}
	return h
}

type handler struct {
	ids      *identity.Store
	accounts *account.Store
	queue    *queue.Queue
	sender   *send.Sender
	topics   Topics
	// configSets: see Options.ConfigSets.
	configSets *configset.Store
	// enforcement: see Options.EnforcementStatus.
	enforcement func(ctx context.Context, accountID string) (string, error)
	now         func() time.Time
	log         *slog.Logger
	pageSize    int
	// sendStatistics is Options.SendStatistics.
	sendStatistics func(ctx context.Context, accountID string) ([]stats.SendDataPoint, error)
	// customVerification is Options.CustomVerification.
	customVerification *verifytemplate.Store
	// templates: see Options.Templates.
	templates *template.Store
}

// call is one request being served.
type call struct {
	ctx      context.Context
	account  string
	keyID    string // the access key that signed the request
	sourceIP string
	region   string // the region of the request's credential scope
	form     *form
}

// action is one operation: fn returns the value encoded inside the
// {Action}Result element (nil: an empty element). Operations without an
// output shape (noResult) answer with ResponseMetadata only.
type action struct {
	fn       func(h *handler, c *call) (any, error)
	noResult bool
}

var actions = map[string]action{
	"VerifyDomainIdentity":                           {fn: (*handler).verifyDomainIdentity},
	"VerifyDomainDkim":                               {fn: (*handler).verifyDomainDkim},
	"VerifyEmailIdentity":                            {fn: (*handler).verifyEmailIdentity},
	"VerifyEmailAddress":                             {fn: (*handler).verifyEmailIdentity, noResult: true},
	"ListIdentities":                                 {fn: (*handler).listIdentities},
	"ListVerifiedEmailAddresses":                     {fn: (*handler).listVerifiedEmailAddresses},
	"DeleteIdentity":                                 {fn: (*handler).deleteIdentity},
	"DeleteVerifiedEmailAddress":                     {fn: (*handler).deleteVerifiedEmailAddress, noResult: true},
	"GetIdentityVerificationAttributes":              {fn: (*handler).getIdentityVerificationAttributes},
	"GetIdentityDkimAttributes":                      {fn: (*handler).getIdentityDkimAttributes},
	"SetIdentityDkimEnabled":                         {fn: (*handler).setIdentityDkimEnabled},
	"SetIdentityMailFromDomain":                      {fn: (*handler).setIdentityMailFromDomain},
	"GetIdentityMailFromDomainAttributes":            {fn: (*handler).getIdentityMailFromDomainAttributes},
	"SetIdentityFeedbackForwardingEnabled":           {fn: (*handler).setIdentityFeedbackForwardingEnabled},
	"GetIdentityNotificationAttributes":              {fn: (*handler).getIdentityNotificationAttributes},
	"SetIdentityNotificationTopic":                   {fn: (*handler).setIdentityNotificationTopic},
	"SetIdentityHeadersInNotificationsEnabled":       {fn: (*handler).setIdentityHeadersInNotificationsEnabled},
	"GetSendQuota":                                   {fn: (*handler).getSendQuota},
	"GetSendStatistics":                              {fn: (*handler).getSendStatistics},
	"GetAccountSendingEnabled":                       {fn: (*handler).getAccountSendingEnabled},
	"UpdateAccountSendingEnabled":                    {fn: (*handler).updateAccountSendingEnabled, noResult: true},
	"SendEmail":                                      {fn: (*handler).sendEmail},
	"SendRawEmail":                                   {fn: (*handler).sendRawEmail},
	"SendTemplatedEmail":                             {fn: (*handler).sendTemplatedEmail},
	"SendBulkTemplatedEmail":                         {fn: (*handler).sendBulkTemplatedEmail},
	"CreateConfigurationSet":                         {fn: (*handler).createConfigurationSet},
	"DescribeConfigurationSet":                       {fn: (*handler).describeConfigurationSet},
	"ListConfigurationSets":                          {fn: (*handler).listConfigurationSets},
	"DeleteConfigurationSet":                         {fn: (*handler).deleteConfigurationSet},
	"UpdateConfigurationSetSendingEnabled":           {fn: (*handler).updateConfigurationSetSendingEnabled, noResult: true},
	"UpdateConfigurationSetReputationMetricsEnabled": {fn: (*handler).updateConfigurationSetReputationMetricsEnabled, noResult: true},
	"PutConfigurationSetDeliveryOptions":             {fn: (*handler).putConfigurationSetDeliveryOptions},
	"CreateConfigurationSetEventDestination":         {fn: (*handler).createConfigurationSetEventDestination},
	"UpdateConfigurationSetEventDestination":         {fn: (*handler).updateConfigurationSetEventDestination},
	"DeleteConfigurationSetEventDestination":         {fn: (*handler).deleteConfigurationSetEventDestination},
	"CreateConfigurationSetTrackingOptions":          {fn: (*handler).createConfigurationSetTrackingOptions},
	"UpdateConfigurationSetTrackingOptions":          {fn: (*handler).updateConfigurationSetTrackingOptions},
	"DeleteConfigurationSetTrackingOptions":          {fn: (*handler).deleteConfigurationSetTrackingOptions},
	"CreateCustomVerificationEmailTemplate":          {fn: (*handler).createCustomVerificationEmailTemplate, noResult: true},
	"GetCustomVerificationEmailTemplate":             {fn: (*handler).getCustomVerificationEmailTemplate},
	"UpdateCustomVerificationEmailTemplate":          {fn: (*handler).updateCustomVerificationEmailTemplate, noResult: true},
	"DeleteCustomVerificationEmailTemplate":          {fn: (*handler).deleteCustomVerificationEmailTemplate, noResult: true},
	"ListCustomVerificationEmailTemplates":           {fn: (*handler).listCustomVerificationEmailTemplates},
	"SendCustomVerificationEmail":                    {fn: (*handler).sendCustomVerificationEmail},
	"CreateTemplate":                                 {fn: (*handler).createTemplate},
	"GetTemplate":                                    {fn: (*handler).getTemplate},
	"UpdateTemplate":                                 {fn: (*handler).updateTemplate},
	"DeleteTemplate":                                 {fn: (*handler).deleteTemplate},
	"ListTemplates":                                  {fn: (*handler).listTemplates},
	"TestRenderTemplate":                             {fn: (*handler).testRenderTemplate},
}

// internalFailure is what a caller sees of an unexpected error; the error
// itself is logged.
var internalFailure = &sesapi.Error{Code: "InternalFailure", Status: http.StatusInternalServerError,
	Message: "The request processing has failed because of an unknown error, exception or failure."}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	caller := sesapi.CallerFrom(r.Context())
	reqID := caller.RequestID
	if reqID == "" {
		reqID = sesapi.NewRequestID()
	}
	var raw string
	switch r.Method {
	case http.MethodGet:
		raw = r.URL.RawQuery
	case http.MethodPost:
		// sesapi.Server has read, bounded and signature-checked the body
		// already; this reads its in-memory copy.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			sesapi.WriteV1Error(w, reqID, sesapi.Errorf(http.StatusBadRequest, "InvalidParameterValue", "Could not read the request body."))
			return
		}
		// Parameters in the body come first, so they win over the same
		// names in the query string.
		raw = string(body)
		if r.URL.RawQuery != "" {
			raw += "&" + r.URL.RawQuery
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		sesapi.WriteV1Error(w, reqID, sesapi.Errorf(http.StatusMethodNotAllowed, "InvalidAction", "The SES Query API accepts only POST and GET requests, not %s.", r.Method))
		return
	}
	f, err := decode(raw)
	if err != nil {
		sesapi.WriteV1Error(w, reqID, sesapi.Errorf(http.StatusBadRequest, "MalformedQueryString", "The request parameters could not be decoded: %v", err))
		return
	}
	name, ok := f.get("Action")
	if !ok || name == "" {
		sesapi.WriteV1Error(w, reqID, sesapi.Errorf(http.StatusBadRequest, "MissingAction", "The request must contain the parameter Action."))
		return
	}
	a, ok := actions[name]
	if !ok {
		sesapi.WriteV1Error(w, reqID, sesapi.Errorf(http.StatusBadRequest, "InvalidAction", "Could not find operation %s for version %s", name, Version))
		return
	}
	if caller.AccountID == "" {
		h.log.Error("sesv1: request without an authenticated caller", "action", name, "request_id", reqID)
		sesapi.WriteV1Error(w, reqID, internalFailure)
		return
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	result, err := a.fn(h, &call{ctx: r.Context(), account: caller.AccountID, keyID: caller.AccessKeyID, sourceIP: ip, region: caller.Region, form: f})
	if err != nil {
		h.writeError(w, reqID, name, caller.AccountID, err)
		return
	}
	if result == nil {
		result = struct{}{}
	}
	body, err := encodeResponse(name, reqID, result, !a.noResult)
	if err != nil {
		h.writeError(w, reqID, name, caller.AccountID, fmt.Errorf("sesv1: encode %s response: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// writeError answers with err as SES reports it: *sesapi.Error as it is,
// a rejected parameter as InvalidParameterValue, anything else as an
// InternalFailure whose cause is logged, not shown.
func (h *handler) writeError(w http.ResponseWriter, reqID, act, account string, err error) {
	var se *sesapi.Error
	var ie *identity.InvalidError
	switch {
	case errors.As(err, &se):
	case errors.As(err, &ie):
		se = invalidParameter("%s", ie.Msg)
	case errors.Is(err, identity.ErrInvalid):
		se = invalidParameter("%s", strings.TrimPrefix(err.Error(), identity.ErrInvalid.Error()+": "))
	default:
		h.log.Error("sesv1: request failed", "action", act, "account", account, "request_id", reqID, "err", err)
		se = internalFailure
	}
	sesapi.WriteV1Error(w, reqID, se)
}

// invalidParameter is SES's InvalidParameterValue error.
func invalidParameter(format string, args ...any) *sesapi.Error {
	return sesapi.Errorf(http.StatusBadRequest, "InvalidParameterValue", format, args...)
}

// validationError is the model-constraint error, worded as AWS's
// Coral-based services word it.
func validationError(format string, args ...any) *sesapi.Error {
	return sesapi.Errorf(http.StatusBadRequest, "ValidationError", "1 validation error detected: "+format, args...)
}

// memberName is a parameter's name as constraint messages spell it:
// lowerCamelCase (BehaviorOnMXFailure → behaviorOnMXFailure).
func memberName(param string) string {
	if param == "" {
		return param
	}
	return strings.ToLower(param[:1]) + param[1:]
}

// notNull is the error for a missing required parameter.
func notNull(param string) *sesapi.Error {
	return validationError("Value null at '%s' failed to satisfy constraint: Member must not be null", memberName(param))
}

// enumError is the error for a value outside an enum; values are listed
// as AWS lists them (sorted).
func enumError(param, value string, values ...string) *sesapi.Error {
	return validationError("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
		value, memberName(param), strings.Join(values, ", "))
}

// responseMetadata is the ResponseMetadata element of every answer.
type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

// encodeResponse builds
// <{Action}Response xmlns="…"><{Action}Result>…</{Action}Result><ResponseMetadata>…</ResponseMetadata></{Action}Response>.
func encodeResponse(act, reqID string, result any, withResult bool) ([]byte, error) {
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	start := xml.StartElement{Name: xml.Name{Space: sesapi.V1Namespace, Local: act + "Response"}}
	if err := enc.EncodeToken(start); err != nil {
		return nil, err
	}
	if withResult {
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: act + "Result"}}); err != nil {
			return nil, err
		}
	}
	if err := enc.EncodeElement(responseMetadata{RequestID: reqID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}}); err != nil {
		return nil, err
	}
	if err := enc.EncodeToken(start.End()); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// param returns an optional parameter ("" when absent).
func (c *call) param(name string) string {
	v, _ := c.form.get(name)
	return v
}

// required returns a required parameter, or the ValidationError for its absence.
func (c *call) required(name string) (string, error) {
	v, ok := c.form.get(name)
	if !ok {
		return "", notNull(name)
	}
	return v, nil
}

// requiredBool returns a required boolean parameter (true or false).
func (c *call) requiredBool(name string) (bool, error) {
	v, err := c.required(name)
	if err != nil {
		return false, err
	}
	switch {
	case strings.EqualFold(v, "true"):
		return true, nil
	case strings.EqualFold(v, "false"):
		return false, nil
	}
	return false, validationError("Value '%s' at '%s' failed to satisfy constraint: Member must be a boolean (true or false)", v, memberName(name))
}

// list returns a list parameter.
func (c *call) list(name string, required bool) ([]string, error) {
	v, ok, err := c.form.stringList(name)
	var le *listError
	switch {
	case errors.As(err, &le):
		return nil, validationError("Value at '%s' failed to satisfy constraint: %s", memberName(name), le.msg)
	case err != nil:
		return nil, err
	case !ok && required:
		return nil, notNull(name)
	}
	return v, nil
}
