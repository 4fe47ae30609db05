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

type messageHeader struct{ Name, Value string }

// attachment is the v2 Attachment; RawContent is a base64 blob on the wire
// ([]byte decodes it).
type attachment struct {
	RawContent                                                    []byte
	FileName, ContentType, ContentDisposition, ContentDescription string
	ContentId, ContentTransferEncoding                            string
}

type destinationInput struct {
	ToAddresses, CcAddresses, BccAddresses []string
}

type sendEmailInput struct {
	FromEmailAddress               string
	Destination                    *destinationInput
	ReplyToAddresses               []string
	FeedbackForwardingEmailAddress string
	Content                        *struct {
		Simple *struct {
			Subject     *content
			Body        *struct{ Text, Html *content }
			Headers     []messageHeader
			Attachments []attachment
		}
		Raw      *struct{ Data []byte }
		Template *sendTemplateInput
	}
	EmailTags             []messageTag
	ConfigurationSetName  string
	EndpointId            string
	ListManagementOptions *listManagementOptions
}

// listManagementOptions is ListManagementOptions.
type listManagementOptions struct {
	ContactListName string
	TopicName       string
}

// listManagement checks ListManagementOptions' shape and returns it for
// send.Request; nil stays nil.
func listManagement(field string, o *listManagementOptions) (*compose.ListManagement, error) {
	if o == nil {
		return nil, nil
	}
	if o.ContactListName == "" {
		return nil, badRequest("%s.ContactListName is required.", field)
	}
	return &compose.ListManagement{ContactList: o.ContactListName, Topic: o.TopicName}, nil
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

// headers converts v2 MessageHeaders.
func headers(hs []messageHeader) []compose.Header {
	var out []compose.Header
	for _, h := range hs {
		out = append(out, compose.Header{Name: h.Name, Value: h.Value})
	}
	return out
}

// attachments converts v2 Attachments.
func attachments(as []attachment) []compose.Attachment {
	var out []compose.Attachment
	for _, a := range as {
		out = append(out, compose.Attachment{FileName: a.FileName, Content: a.RawContent, ContentType: a.ContentType,
			Disposition: a.ContentDisposition, ContentID: a.ContentId, Description: a.ContentDescription, TransferEncoding: a.ContentTransferEncoding})
	}
	return out
}

// sendEmail: POST /v2/email/outbound-emails — Simple, Raw or Template
// content (templated sends: see bulk.go).
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
	case btoi(in.Content.Simple != nil)+btoi(in.Content.Raw != nil)+btoi(in.Content.Template != nil) != 1:
		return nil, badRequest("Content must have exactly one of Simple, Raw and Template.")
	}
	req := send.Request{AccountID: c.AccountID, From: in.FromEmailAddress, ConfigurationSet: in.ConfigurationSetName,
		FeedbackForwardingAddress: in.FeedbackForwardingEmailAddress, MaxSize: send.MaxSizeV2, Operation: "SendEmail",
		CallerIdentity: c.AccessKeyID, TagsParam: "EmailTags"}
	req.SourceIP, _, _ = net.SplitHostPort(r.RemoteAddr)
	req.Tags = tags(in.EmailTags)
	var err error
	if req.ListManagement, err = listManagement("ListManagementOptions", in.ListManagementOptions); err != nil {
		return nil, err
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
		m.Headers, m.Attachments = headers(s.Headers), attachments(s.Attachments)
		req.Simple = m
	} else if t := in.Content.Template; t != nil {
		if in.FromEmailAddress == "" {
			return nil, badRequest("Source cannot be empty") // SES's text (ses-api.md §12.2)
		}
		data, err := renderingData("Content.Template.TemplateData", t.TemplateData)
		if err != nil {
			return nil, err
		}
		req.Simple = &compose.Simple{From: in.FromEmailAddress, To: dest.to, Cc: dest.cc, Bcc: dest.bcc, ReplyTo: in.ReplyToAddresses,
			Headers: headers(t.Headers), Attachments: attachments(t.Attachments)}
		if req.Template, err = h.sendingTemplate(r, c, "Content.Template", t, in.ConfigurationSetName); err != nil {
			return nil, err
		}
		req.Template.Data = data
	} else {
		if len(in.Content.Raw.Data) == 0 {
			return nil, badRequest("Raw content needs Data.")
		}
		req.Raw = in.Content.Raw.Data
		req.Destinations = append(append(append([]string(nil), dest.to...), dest.cc...), dest.bcc...)
	}
	res, err := h.sender.Submit(r.Context(), req)
	if err != nil && !errors.Is(err, send.ErrRenderingFailure) { // a rendering failure is its event; the call succeeds
		return nil, sendError(err)
	}
	return sendEmailOutput{MessageId: res.MessageID}, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
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
	case send.KindConfigurationSetDoesNotExist, send.KindContactListDoesNotExist:
		e.Code, e.Status = "NotFoundException", http.StatusNotFound
	default:
		return fmt.Errorf("sesv2: unmapped send error: %w", err)
	}
	return e
}
