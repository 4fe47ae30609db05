package sesv2

import (
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/sesame-email/sesame/internal/compose"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/sesapi"
)

type content struct {
	Data    *string
	Charset string
}

type messageTag struct{ Name, Value string }

type sendEmailInput struct {
	FromEmailAddress string
	Destination      *struct {
		ToAddresses, CcAddresses, BccAddresses []string
	}
	ReplyToAddresses               []string
	FeedbackForwardingEmailAddress string
	Content                        *struct {
		Simple *struct {
			Subject *content
			Body    *struct{ Text, Html *content }
			Headers []struct{ Name, Value string }
			// Attachments are base64 blobs on the wire ([]byte decodes them).
			Attachments []struct {
				RawContent                                                    []byte
				FileName, ContentType, ContentDisposition, ContentDescription string
				ContentId, ContentTransferEncoding                            string
			}
		}
		Raw      *struct{ Data []byte }
		Template *struct{ TemplateName, TemplateArn, TemplateData string }
	}
	EmailTags            []messageTag
	ConfigurationSetName string
	EndpointId           string
}

type sendEmailOutput struct {
	MessageId string
}

func text(c *content) (string, string) {
	if c == nil || c.Data == nil {
		return "", ""
	}
	return *c.Data, c.Charset
}

// sendEmail: POST /v2/email/outbound-emails — Simple or Raw content.
func (h *handler) sendEmail(r *http.Request, c sesapi.Caller) (any, error) {
	if h.sender == nil {
		return nil, errors.New("sesv2: sending is not configured")
	}
	var in sendEmailInput
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	switch {
	case in.EndpointId != "":
		return nil, badRequest("EndpointId (multi-region endpoints, signed with SigV4a) is not supported by Sesame.")
	case in.Content == nil:
		return nil, badRequest("Content is required.")
	case in.Content.Template != nil:
		return nil, badRequest("Template content is not supported yet.")
	case (in.Content.Simple == nil) == (in.Content.Raw == nil):
		return nil, badRequest("Content must have exactly one of Simple, Raw and Template.")
	}
	req := send.Request{AccountID: c.AccountID, From: in.FromEmailAddress, ConfigurationSet: in.ConfigurationSetName,
		FeedbackForwardingAddress: in.FeedbackForwardingEmailAddress, MaxSize: send.MaxSizeV2, Operation: "SendEmail",
		CallerIdentity: c.AccessKeyID, TagsParam: "EmailTags"}
	req.SourceIP, _, _ = net.SplitHostPort(r.RemoteAddr)
	for _, t := range in.EmailTags {
		req.Tags = append(req.Tags, compose.Tag{Name: t.Name, Value: t.Value})
	}
	var dest struct{ to, cc, bcc []string }
	if d := in.Destination; d != nil {
		dest.to, dest.cc, dest.bcc = d.ToAddresses, d.CcAddresses, d.BccAddresses
	}
	if s := in.Content.Simple; s != nil {
		if in.FromEmailAddress == "" {
			return nil, badRequest("FromEmailAddress is required with Simple content.")
		}
		if s.Subject == nil || s.Subject.Data == nil || s.Body == nil {
			return nil, badRequest("Simple content needs a Subject and a Body.")
		}
		m := &compose.Simple{From: in.FromEmailAddress, To: dest.to, Cc: dest.cc, Bcc: dest.bcc, ReplyTo: in.ReplyToAddresses}
		m.Subject, m.SubjectCharset = text(s.Subject)
		m.Text, m.TextCharset = text(s.Body.Text)
		m.HTML, m.HTMLCharset = text(s.Body.Html)
		for _, hd := range s.Headers {
			m.Headers = append(m.Headers, compose.Header{Name: hd.Name, Value: hd.Value})
		}
		for _, a := range s.Attachments {
			m.Attachments = append(m.Attachments, compose.Attachment{FileName: a.FileName, Content: a.RawContent, ContentType: a.ContentType,
				Disposition: a.ContentDisposition, ContentID: a.ContentId, Description: a.ContentDescription, TransferEncoding: a.ContentTransferEncoding})
		}
		req.Simple = m
	} else {
		if len(in.Content.Raw.Data) == 0 {
			return nil, badRequest("Raw content needs Data.")
		}
		req.Raw = in.Content.Raw.Data
		req.Destinations = append(append(append([]string(nil), dest.to...), dest.cc...), dest.bcc...)
	}
	res, err := h.sender.Submit(r.Context(), req)
	if err != nil {
		return nil, sendError(err)
	}
	return sendEmailOutput{MessageId: res.MessageID}, nil
}

// sendError maps an admission rejection to SES v2's code and status (send's
// package doc). One exception: a malformed sender address is answered with
// MessageRejected, as SES does, so that nodemailer's verify() probe
// (From invalid@invalid) reads it as "credentials work".
func sendError(err error) error {
	var se *send.Error
	if !errors.As(err, &se) {
		return err
	}
	e := &sesapi.Error{Message: se.Msg, Status: http.StatusBadRequest}
	switch se.Kind {
	case send.KindInvalid:
		e.Code = "BadRequestException"
		// Only the sender address parameter itself (no underlying compose
		// error): a raw message's missing or repeated From header stays a
		// BadRequestException (ses-api.md §12.2).
		if se.Field == "From" && se.Err == nil {
			e.Code = "MessageRejected"
		}
	case send.KindMessageRejected:
		e.Code = "MessageRejected"
	case send.KindMailFromNotVerified:
		e.Code = "MailFromDomainNotVerifiedException"
	case send.KindSendingPaused, send.KindConfigurationSetSendingPaused:
		e.Code = "SendingPausedException"
	case send.KindRateExceeded, send.KindDailyQuotaExceeded:
		e.Code, e.Status = "TooManyRequestsException", http.StatusTooManyRequests
	case send.KindConfigurationSetDoesNotExist:
		e.Code, e.Status = "NotFoundException", http.StatusNotFound
	default:
		return fmt.Errorf("sesv2: unmapped send error: %w", err)
	}
	return e
}
