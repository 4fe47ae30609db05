package sesapi

import (
	"errors"

	"github.com/sesame-email/sesame/internal/send"
)

// An entry of a bulk send (v1 SendBulkTemplatedEmail, v2 SendBulkEmail) is
// submitted on its own; its outcome is a status in the response, not an
// error of the call (ses-api.md §8, §12.2). These are the statuses, in
// each API's spelling.
const (
	BulkSuccessV1          = "Success"
	BulkSuccessV2          = "SUCCESS"
	BulkTransientFailureV1 = "TransientFailure"
	BulkTransientFailureV2 = "TRANSIENT_FAILURE"
	// MsgBulkInternalFailure is the Error of an entry that failed for a
	// reason of Sesame's own (logged, not shown).
	MsgBulkInternalFailure = "The message could not be accepted because of an internal failure; try again."
)

// bulkStatuses maps each rejection to its v1 and v2 status (send's
// package doc lists them).
var bulkStatuses = map[send.Kind][2]string{
	send.KindInvalid:                       {"InvalidParameterValue", "INVALID_PARAMETER"},
	send.KindMessageRejected:               {"MessageRejected", "MESSAGE_REJECTED"},
	send.KindMailFromNotVerified:           {"MailFromDomainNotVerified", "MAIL_FROM_DOMAIN_NOT_VERIFIED"},
	send.KindSendingPaused:                 {"AccountSendingPaused", "ACCOUNT_SENDING_PAUSED"},
	send.KindRateExceeded:                  {"AccountThrottled", "ACCOUNT_THROTTLED"},
	send.KindDailyQuotaExceeded:            {"AccountDailyQuotaExceeded", "ACCOUNT_DAILY_QUOTA_EXCEEDED"},
	send.KindConfigurationSetDoesNotExist:  {"ConfigurationSetDoesNotExist", "CONFIGURATION_SET_NOT_FOUND"},
	send.KindConfigurationSetSendingPaused: {"ConfigurationSetSendingPaused", "CONFIGURATION_SET_SENDING_PAUSED"},
	send.KindRenderingFailure:              {"Failed", "FAILED"},
	send.KindContactListDoesNotExist:       {"InvalidParameterValue", "INVALID_PARAMETER"},
}

// BulkStatus returns the v1 and v2 status of an entry that send.Submit
// refused with err, and the Error to report: the rejection's sentence. An
// error that is not a *send.Error is an internal failure: ok is false,
// and the caller logs it and reports TransientFailure with
// MsgBulkInternalFailure.
func BulkStatus(err error) (v1, v2, msg string, ok bool) {
	se, ok := errors.AsType[*send.Error](err)
	if !ok {
		return BulkTransientFailureV1, BulkTransientFailureV2, MsgBulkInternalFailure, false
	}
	st, known := bulkStatuses[se.Kind]
	if !known {
		st = [2]string{"Failed", "FAILED"}
	}
	return st[0], st[1], se.Msg, true
}
