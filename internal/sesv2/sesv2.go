// Package sesv2 implements Amazon SES's v2 REST-JSON API (the operations
// under /v2/email/) over Sesame's records, so that code written for the
// AWS SDKs' sesv2 clients, the AWS CLI's "sesv2" commands and Terraform's
// aws_sesv2_* resources works unchanged against Sesame.
//
// Requests reach the handler through sesapi.Server, which has already
// checked the SigV4 signature, set the Date and x-amzn-RequestId headers
// and put the calling account in the request's context. Every operation
// decodes and validates its whole input before it changes anything; the
// stores make each change in one transaction. Errors are written in the
// v2 wire format (x-amzn-ErrorType header plus {"message": ...}) with the
// error codes SES's model defines (ses-api.md §4.3, §9.2).
package sesv2

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/contact"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/sesapi"
	"github.com/sesame-email/sesame/internal/stats"
	"github.com/sesame-email/sesame/internal/suppression"
	"github.com/sesame-email/sesame/internal/template"
	"github.com/sesame-email/sesame/internal/verifytemplate"
)

// Options configures the handler.
type Options struct {
	Identities *identity.Store // required
	Accounts   *account.Store  // the account operations (GetAccount...); nil: they fail
	Queue      *queue.Queue    // sending statistics; nil: GetAccount fails
	Sender     *send.Sender    // SendEmail; nil: it fails
	// Suppression is the account-level suppression list: its operations
	// and GetAccount's SuppressionAttributes. Nil: the operations fail
	// and GetAccount omits the member.
	Suppression *suppression.Store
	// EnforcementStatus returns the account's enforcement status for
	// GetAccount: HEALTHY, PROBATION or SHUTDOWN
	// (reputation.Guard.Status). Nil: always HEALTHY.
	EnforcementStatus func(ctx context.Context, accountID string) (string, error)
	// ConfigSets is the configuration sets: their operations, event
	// destinations, tags and identities' default sets. Nil: those
	// operations fail, and a default set cannot be named.
	ConfigSets *configset.Store
	// CustomVerification is the custom verification email templates and
	// their sending; nil: those operations fail.
	CustomVerification *verifytemplate.Store
	// MetricData answers BatchGetMetricData's queries
	// (stats.Store.MetricData); nil: it fails.
	MetricData func(ctx context.Context, accountID string, q stats.MetricQuery) (stats.MetricData, error)
	Logger     *slog.Logger     // nil: discard
	Now        func() time.Time // nil: time.Now
	// Templates is the email templates (shared with v1); nil: the
	// template operations fail.
	Templates *template.Store
	// Contacts is the contact lists and contacts; nil: their operations
	// fail.
	Contacts *contact.Store
	// Imports is the import jobs; nil: their operations fail.
	Imports *contact.Imports
}

// handler serves the v2 operations.
type handler struct {
	ids         *identity.Store
	accounts    *account.Store
	queue       *queue.Queue
	sender      *send.Sender
	suppression *suppression.Store
	enforcement func(ctx context.Context, accountID string) (string, error)
	configSets  *configset.Store
	log         *slog.Logger
	now         func() time.Time
	// metricData is Options.MetricData.
	metricData func(ctx context.Context, accountID string, q stats.MetricQuery) (stats.MetricData, error)
	// customVerification is Options.CustomVerification.
	customVerification *verifytemplate.Store
	// templates is Options.Templates.
	templates *template.Store
	// contacts and imports are Options.Contacts and Options.Imports.
	contacts *contact.Store
	imports  *contact.Imports
}

// New returns the sesv2 API handler. Requests reach it through sesapi.Server,
// which has authenticated them (sesapi.CallerFrom gives the account).
func New(opts Options) http.Handler {
	h := &handler{ids: opts.Identities, accounts: opts.Accounts, queue: opts.Queue, sender: opts.Sender, suppression: opts.Suppression, enforcement: opts.EnforcementStatus, configSets: opts.ConfigSets, log: opts.Logger, now: opts.Now}
	h.metricData = opts.MetricData
	h.customVerification = opts.CustomVerification
	h.templates = opts.Templates
	h.contacts, h.imports = opts.Contacts, opts.Imports
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	route := func(pattern, op string, f opFunc) { mux.Handle(pattern, h.op(op, f)) }

	route("POST /v2/email/identities", "CreateEmailIdentity", h.createEmailIdentity)
	route("GET /v2/email/identities", "ListEmailIdentities", h.listIdentitiesGet)
	route("POST /v2/email/list-identities", "ListEmailIdentities", h.listIdentitiesPost)
	route("GET /v2/email/identities/{EmailIdentity}", "GetEmailIdentity", h.getEmailIdentity)
	route("DELETE /v2/email/identities/{EmailIdentity}", "DeleteEmailIdentity", h.deleteEmailIdentity)
	route("PUT /v2/email/identities/{EmailIdentity}/mail-from", "PutEmailIdentityMailFromAttributes", h.putMailFromAttributes)
	route("PUT /v2/email/identities/{EmailIdentity}/dkim", "PutEmailIdentityDkimAttributes", h.putDkimAttributes)
	route("PUT /v2/email/identities/{EmailIdentity}/dkim/signing", "PutEmailIdentityDkimSigningAttributes", h.putDkimSigningAttributes)
	route("PUT /v2/email/identities/{EmailIdentity}/feedback", "PutEmailIdentityFeedbackAttributes", h.putFeedbackAttributes)
	route("POST /v2/email/tags", "TagResource", h.tagResource)
	route("DELETE /v2/email/tags", "UntagResource", h.untagResource)
	route("GET /v2/email/tags", "ListTagsForResource", h.listTagsForResource)
	route("GET /v2/email/account", "GetAccount", h.getAccount)
	route("POST /v2/email/outbound-emails", "SendEmail", h.sendEmail)
	route("POST /v2/email/outbound-bulk-emails", "SendBulkEmail", h.sendBulkEmail)
	route("PUT /v2/email/account/sending", "PutAccountSendingAttributes", h.putAccountSendingAttributes)
	route("POST /v2/email/account/details", "PutAccountDetails", h.putAccountDetails)
	route("PUT /v2/email/account/suppression", "PutAccountSuppressionAttributes", h.putAccountSuppressionAttributes)
	route("PUT /v2/email/suppression/addresses", "PutSuppressedDestination", h.putSuppressedDestination)
	route("GET /v2/email/suppression/addresses", "ListSuppressedDestinations", h.listSuppressedDestinations)
	route("GET /v2/email/suppression/addresses/{EmailAddress}", "GetSuppressedDestination", h.getSuppressedDestination)
	route("DELETE /v2/email/suppression/addresses/{EmailAddress}", "DeleteSuppressedDestination", h.deleteSuppressedDestination)
	route("PUT /v2/email/identities/{EmailIdentity}/configuration-set", "PutEmailIdentityConfigurationSetAttributes", h.putIdentityConfigurationSet)
	route("POST /v2/email/configuration-sets", "CreateConfigurationSet", h.createConfigurationSet)
	route("GET /v2/email/configuration-sets", "ListConfigurationSets", h.listConfigurationSetsGet)
	route("POST /v2/email/list-configuration-sets", "ListConfigurationSets", h.listConfigurationSetsPost)
	route("GET /v2/email/configuration-sets/{ConfigurationSetName}", "GetConfigurationSet", h.getConfigurationSet)
	route("DELETE /v2/email/configuration-sets/{ConfigurationSetName}", "DeleteConfigurationSet", h.deleteConfigurationSet)
	route("PUT /v2/email/configuration-sets/{ConfigurationSetName}/sending", "PutConfigurationSetSendingOptions", h.putSendingOptions)
	route("PUT /v2/email/configuration-sets/{ConfigurationSetName}/reputation-options", "PutConfigurationSetReputationOptions", h.putReputationOptions)
	route("PUT /v2/email/configuration-sets/{ConfigurationSetName}/suppression-options", "PutConfigurationSetSuppressionOptions", h.putSuppressionOptions)
	route("PUT /v2/email/configuration-sets/{ConfigurationSetName}/delivery-options", "PutConfigurationSetDeliveryOptions", h.putDeliveryOptions)
	route("PUT /v2/email/configuration-sets/{ConfigurationSetName}/tracking-options", "PutConfigurationSetTrackingOptions", h.putTrackingOptions)
	route("PUT /v2/email/configuration-sets/{ConfigurationSetName}/vdm-options", "PutConfigurationSetVdmOptions", h.putVdmOptions)
	route("PUT /v2/email/configuration-sets/{ConfigurationSetName}/archiving-options", "PutConfigurationSetArchivingOptions", h.putArchivingOptions)
	route("POST /v2/email/configuration-sets/{ConfigurationSetName}/event-destinations", "CreateConfigurationSetEventDestination", h.createEventDestination)
	route("GET /v2/email/configuration-sets/{ConfigurationSetName}/event-destinations", "GetConfigurationSetEventDestinations", h.getEventDestinations)
	route("PUT /v2/email/configuration-sets/{ConfigurationSetName}/event-destinations/{EventDestinationName}", "UpdateConfigurationSetEventDestination", h.updateEventDestination)
	route("DELETE /v2/email/configuration-sets/{ConfigurationSetName}/event-destinations/{EventDestinationName}", "DeleteConfigurationSetEventDestination", h.deleteEventDestination)
	route("POST /v2/email/metrics/batch", "BatchGetMetricData", h.batchGetMetricData)
	route("POST /v2/email/custom-verification-email-templates", "CreateCustomVerificationEmailTemplate", h.createCustomVerificationEmailTemplate)
	route("GET /v2/email/custom-verification-email-templates", "ListCustomVerificationEmailTemplates", h.listCustomVerificationEmailTemplates)
	route("GET /v2/email/custom-verification-email-templates/{TemplateName}", "GetCustomVerificationEmailTemplate", h.getCustomVerificationEmailTemplate)
	route("PUT /v2/email/custom-verification-email-templates/{TemplateName}", "UpdateCustomVerificationEmailTemplate", h.updateCustomVerificationEmailTemplate)
	route("DELETE /v2/email/custom-verification-email-templates/{TemplateName}", "DeleteCustomVerificationEmailTemplate", h.deleteCustomVerificationEmailTemplate)
	route("POST /v2/email/outbound-custom-verification-emails", "SendCustomVerificationEmail", h.sendCustomVerificationEmail)
	route("POST /v2/email/templates", "CreateEmailTemplate", h.createEmailTemplate)
	route("GET /v2/email/templates", "ListEmailTemplates", h.listEmailTemplates)
	route("GET /v2/email/templates/{TemplateName}", "GetEmailTemplate", h.getEmailTemplate)
	route("PUT /v2/email/templates/{TemplateName}", "UpdateEmailTemplate", h.updateEmailTemplate)
	route("DELETE /v2/email/templates/{TemplateName}", "DeleteEmailTemplate", h.deleteEmailTemplate)
	route("POST /v2/email/templates/{TemplateName}/render", "TestRenderEmailTemplate", h.testRenderEmailTemplate)
	route("POST /v2/email/contact-lists", "CreateContactList", h.createContactList)
	route("GET /v2/email/contact-lists", "ListContactLists", h.listContactLists)
	route("GET /v2/email/contact-lists/{ContactListName}", "GetContactList", h.getContactList)
	route("PUT /v2/email/contact-lists/{ContactListName}", "UpdateContactList", h.updateContactList)
	route("DELETE /v2/email/contact-lists/{ContactListName}", "DeleteContactList", h.deleteContactList)
	route("POST /v2/email/contact-lists/{ContactListName}/contacts", "CreateContact", h.createContact)
	route("POST /v2/email/contact-lists/{ContactListName}/contacts/list", "ListContacts", h.listContacts)
	route("GET /v2/email/contact-lists/{ContactListName}/contacts/{EmailAddress}", "GetContact", h.getContact)
	route("PUT /v2/email/contact-lists/{ContactListName}/contacts/{EmailAddress}", "UpdateContact", h.updateContact)
	route("DELETE /v2/email/contact-lists/{ContactListName}/contacts/{EmailAddress}", "DeleteContact", h.deleteContact)
	route("POST /v2/email/import-jobs", "CreateImportJob", h.createImportJob)
	route("POST /v2/email/import-jobs/list", "ListImportJobs", h.listImportJobs)
	route("GET /v2/email/import-jobs/{JobId}", "GetImportJob", h.getImportJob)
	route("/", "Unknown", h.unknownOperation)
	return mux
}

// opFunc is one operation: it returns the output to encode as JSON (nil
// for an empty output) or an error (an *sesapi.Error, or a store error that
// apiError maps).
type opFunc func(r *http.Request, c sesapi.Caller) (any, error)

// op adapts an operation to http.Handler: it writes the JSON output with
// status 200, or the error in the v2 format.
func (h *handler) op(name string, f opFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := sesapi.CallerFrom(r.Context())
		out, err := f(r, c)
		if err != nil {
			e := h.apiError(name, c, err)
			sesapi.WriteV2Error(w, e)
			return
		}
		if out == nil {
			out = struct{}{}
		}
		body, err := json.Marshal(out)
		if err != nil {
			sesapi.WriteV2Error(w, h.apiError(name, c, fmt.Errorf("sesv2: encode %s output: %w", name, err)))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	})
}

// Error constructors for the v2 codes this package sends.
func badRequest(format string, args ...any) *sesapi.Error {
	return sesapi.Errorf(http.StatusBadRequest, "BadRequestException", format, args...)
}

func notFound(format string, args ...any) *sesapi.Error {
	return sesapi.Errorf(http.StatusNotFound, "NotFoundException", format, args...)
}

func alreadyExists(format string, args ...any) *sesapi.Error {
	return sesapi.Errorf(http.StatusBadRequest, "AlreadyExistsException", format, args...)
}

// apiError maps an operation's error to the SES error sent to the client.
// Errors that are not the client's fault are logged and reported as
// InternalServiceErrorException without details.
func (h *handler) apiError(op string, c sesapi.Caller, err error) *sesapi.Error {
	var ae *sesapi.Error
	if errors.As(err, &ae) {
		return ae
	}
	var ie *identity.InvalidError
	switch {
	case errors.As(err, &ie):
		return badRequest("%s", ie.Msg)
	case errors.Is(err, identity.ErrInvalid):
		return badRequest("%s", err.Error())
	case errors.Is(err, identity.ErrNotFound):
		return notFound("The requested resource does not exist.")
	case errors.Is(err, identity.ErrAlreadyExists):
		return alreadyExists("The resource already exists.")
	case errors.Is(err, identity.ErrNotVerified):
		return badRequest("The identity is not verified.")
	}
	h.log.Error("sesv2 operation failed", "operation", op, "account", c.AccountID, "request_id", c.RequestID, "err", err)
	return sesapi.Errorf(http.StatusInternalServerError, "InternalServiceErrorException", "The request processing has failed because of an unknown error, exception or failure.")
}

func (h *handler) unknownOperation(r *http.Request, _ sesapi.Caller) (any, error) {
	return nil, notFound("Unknown operation: %s %s", r.Method, r.URL.EscapedPath())
}

// decodeBody reads a JSON request body into v. An empty body is the same
// as {}; unknown members are ignored. Malformed JSON or a member of the
// wrong type is a BadRequestException naming the problem.
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return badRequest("Could not read request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if !json.Valid(body) {
		// Decode for the position and reason of the syntax error.
		var x any
		err := json.Unmarshal(body, &x)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return badRequest("Could not parse request body: %v", err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field == "" {
				return badRequest("Could not parse request body: expected a JSON object, got JSON %s.", te.Value)
			}
			return badRequest("Invalid value for %s: expected %s, got JSON %s.", te.Field, jsonType(te.Type.String()), te.Value)
		}
		return badRequest("Could not parse request body: %v", err)
	}
	return nil
}

// jsonType names a Go type the way a JSON API user thinks of it.
func jsonType(goType string) string {
	switch goType {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int32", "int64", "float64":
		return "a number"
	}
	if len(goType) > 2 && goType[:2] == "[]" {
		return "a list"
	}
	return "an object"
}

// epoch is a timestamp in a JSON body: seconds since the Unix epoch, as a
// number with up to millisecond fractions (the REST-JSON default).
type epoch time.Time

// MarshalJSON writes e as epoch seconds.
func (e epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(e).UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', -1, 64), nil
}

// timestamp returns t as an epoch, or nil (member omitted) for the zero time.
func timestamp(t time.Time) *epoch {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}
