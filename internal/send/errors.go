package send

import (
	"errors"
	"fmt"
)

// Kind classifies a rejection; see the package doc for the SES error code
// each maps to.
type Kind int

// The kinds of rejection.
const (
	// KindInvalid: the request or the message breaks a rule of shape,
	// syntax, count or size (v1 InvalidParameterValue, v2
	// BadRequestException).
	KindInvalid Kind = iota + 1
	// KindMessageRejected: a sender address, or in the sandbox a recipient,
	// is not covered by a verified identity (MessageRejected).
	KindMessageRejected
	// KindMailFromNotVerified: the custom MAIL FROM domain is not in
	// Success and its behaviour on MX failure is RejectMessage
	// (MailFromDomainNotVerifiedException, v1 and v2).
	KindMailFromNotVerified
	// KindSendingPaused: the account's sending is disabled (v1
	// AccountSendingPausedException, v2 SendingPausedException).
	KindSendingPaused
	// KindRateExceeded: over MaxSendRate (v1 Throttling, v2
	// TooManyRequestsException).
	KindRateExceeded
	// KindDailyQuotaExceeded: over Max24HourSend (v1 Throttling, v2
	// TooManyRequestsException).
	KindDailyQuotaExceeded
	// KindConfigurationSetDoesNotExist: the named configuration set does
	// not exist (v1 ConfigurationSetDoesNotExist, v2 NotFoundException).
	KindConfigurationSetDoesNotExist
	// KindConfigurationSetSendingPaused: the configuration set's sending
	// is disabled (v1 ConfigurationSetSendingPausedException, v2
	// SendingPausedException).
	KindConfigurationSetSendingPaused
	// KindRenderingFailure: a templated message passed every check but its
	// template did not render with the data (or rendered into something
	// that is not a message). Nothing is queued; a Rendering Failure
	// event is recorded and Submit returns the MessageId with the error.
	// SES's APIs answer such a send with success: the failure is the
	// event (v1 SendTemplatedEmail and v2 SendEmail); in a bulk send it is
	// the entry's status Failed / FAILED.
	KindRenderingFailure
	// KindContactListDoesNotExist: ListManagementOptions (or the
	// X-SES-LIST-MANAGEMENT-OPTIONS header) names a contact list, or a
	// topic of it, that the account does not have (v2
	// NotFoundException; v1, which has no contact lists, and the bulk
	// statuses InvalidParameterValue / INVALID_PARAMETER).
	KindContactListDoesNotExist
)

func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "Invalid"
	case KindMessageRejected:
		return "MessageRejected"
	case KindMailFromNotVerified:
		return "MailFromNotVerified"
	case KindSendingPaused:
		return "SendingPaused"
	case KindRateExceeded:
		return "RateExceeded"
	case KindDailyQuotaExceeded:
		return "DailyQuotaExceeded"
	case KindConfigurationSetDoesNotExist:
		return "ConfigurationSetDoesNotExist"
	case KindConfigurationSetSendingPaused:
		return "ConfigurationSetSendingPaused"
	case KindRenderingFailure:
		return "RenderingFailure"
	case KindContactListDoesNotExist:
		return "ContactListDoesNotExist"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// The sentinels each Kind matches with errors.Is. ErrThrottled matches both
// KindRateExceeded and KindDailyQuotaExceeded.
var (
	ErrInvalid                      = errors.New("send: invalid request")
	ErrMessageRejected              = errors.New("send: message rejected")
	ErrMailFromNotVerified          = errors.New("send: MAIL FROM domain not verified")
	ErrSendingPaused                = errors.New("send: account sending paused")
	ErrThrottled                    = errors.New("send: throttled")
	ErrConfigurationSetDoesNotExist = errors.New("send: configuration set does not exist")
	ErrConfigurationSetPaused       = errors.New("send: configuration set sending paused")
	ErrRenderingFailure             = errors.New("send: template rendering failed")
	ErrContactListDoesNotExist      = errors.New("send: contact list does not exist")
)

// The messages SES gives when it throttles (ses-api.md §12.1, 9).
const (
	MsgRateExceeded       = "Maximum sending rate exceeded."
	MsgDailyQuotaExceeded = "Daily message quota exceeded."
)

// MsgSendingPaused is the refusal of a send while the account's sending is
// paused.
const MsgSendingPaused = "Sending is paused for this account."

// Error is a rejection: Kind says which rule (and so which SES error code),
// Msg is the sentence for the client, Field the parameter at fault when
// there is one ("Destinations[3]", "Tags[0].Name", "From", ...). Err, when
// set, is the underlying error (a *compose.Error).
type Error struct {
	Kind  Kind
	Msg   string
	Field string
	Err   error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrX) true for the sentinel of e's Kind.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrInvalid:
		return e.Kind == KindInvalid
	case ErrMessageRejected:
		return e.Kind == KindMessageRejected
	case ErrMailFromNotVerified:
		return e.Kind == KindMailFromNotVerified
	case ErrSendingPaused:
		return e.Kind == KindSendingPaused
	case ErrThrottled:
		return e.Kind == KindRateExceeded || e.Kind == KindDailyQuotaExceeded
	case ErrConfigurationSetDoesNotExist:
		return e.Kind == KindConfigurationSetDoesNotExist
	case ErrConfigurationSetPaused:
		return e.Kind == KindConfigurationSetSendingPaused
	case ErrRenderingFailure:
		return e.Kind == KindRenderingFailure
	case ErrContactListDoesNotExist:
		return e.Kind == KindContactListDoesNotExist
	}
	return false
}

func reject(k Kind, field, format string, args ...any) *Error {
	return &Error{Kind: k, Field: field, Msg: fmt.Sprintf(format, args...)}
}
