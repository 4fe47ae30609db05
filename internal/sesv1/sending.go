package sesv1

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/sesame-email/sesame/internal/compose"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/sesapi"
)

type sendResult struct {
	MessageId string
}

// tags reads Tags.member.N.Name / .Value.
func (c *call) tags(name string) ([]compose.Tag, error) {
	items, _, err := c.form.items(name)
	if err != nil {
		return nil, validationError("Value at '%s' failed to satisfy constraint: %v", memberName(name), err)
	}
	var out []compose.Tag
	for k, it := range items {
		n, _ := it.get("Name")
		v, _ := it.get("Value")
		if n == "" {
			return nil, invalidParameter("Tags[%d]: the tag name must not be empty.", k)
		}
		out = append(out, compose.Tag{Name: n, Value: v})
	}
	return out, nil
}

// SendEmail: Simple content built from Message.Subject and Message.Body.
func (h *handler) sendEmail(c *call) (any, error) {
	if _, ok := c.form.get("Message.Subject.Data"); !ok {
		if _, err := c.required("Source"); err != nil {
			return nil, err
		}
		return nil, notNull("Message.Subject.Data")
	}
	r, err := c.simpleRequest()
	if err != nil {
		return nil, err
	}
	s := r.Simple
	s.Subject, s.SubjectCharset = c.param("Message.Subject.Data"), c.param("Message.Subject.Charset")
	s.Text, s.TextCharset = c.param("Message.Body.Text.Data"), c.param("Message.Body.Text.Charset")
	s.HTML, s.HTMLCharset = c.param("Message.Body.Html.Data"), c.param("Message.Body.Html.Charset")
	return h.submit(c, "SendEmail", r)
}

// simpleRequest reads what SendEmail and SendTemplatedEmail share: Source,
// Destination, ReplyToAddresses, Tags, ConfigurationSetName and
// ReturnPath, into a Request with Simple content (no subject or body yet).
func (c *call) simpleRequest() (send.Request, error) {
	source, err := c.required("Source")
	if err != nil {
		return send.Request{}, err
	}
	simple := &compose.Simple{From: source}
	if err := c.destination("Destination.", simple); err != nil {
		return send.Request{}, err
	}
	if simple.ReplyTo, err = c.list("ReplyToAddresses", false); err != nil {
		return send.Request{}, err
	}
	tags, err := c.tags("Tags")
	if err != nil {
		return send.Request{}, err
	}
	return send.Request{Simple: simple, From: source, Tags: tags,
		ConfigurationSet: c.param("ConfigurationSetName"), FeedbackForwardingAddress: c.param("ReturnPath")}, nil
}

// SendRawEmail: RawMessage.Data as given (base64 on the wire).
func (h *handler) sendRawEmail(c *call) (any, error) {
	data, err := c.required("RawMessage.Data")
	if err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, invalidParameter("RawMessage.Data must be base64-encoded: %v", err)
	}
	dests, err := c.list("Destinations", false)
	if err != nil {
		return nil, err
	}
	tags, err := c.tags("Tags")
	if err != nil {
		return nil, err
	}
	return h.submit(c, "SendRawEmail", send.Request{Raw: raw, From: c.param("Source"), Destinations: dests, Tags: tags,
		ConfigurationSet: c.param("ConfigurationSetName")})
}

func (h *handler) submit(c *call, op string, r send.Request) (any, error) {
	if h.sender == nil {
		return nil, errors.New("sesv1: sending is not configured")
	}
	res, err := h.sender.Submit(c.ctx, c.request(op, r))
	if err != nil {
		return nil, sendError(err)
	}
	return sendResult{MessageId: res.MessageID}, nil
}

// request completes r with what every v1 send has: the caller, the v1
// size limit and the operation's name.
func (c *call) request(op string, r send.Request) send.Request {
	r.AccountID, r.MaxSize, r.Operation = c.account, send.MaxSizeV1, op
	r.SourceIP, r.CallerIdentity = c.sourceIP, c.keyID
	return r
}

// sendError maps an admission rejection to SES v1's code (send's package doc).
func sendError(err error) error {
	var se *send.Error
	if !errors.As(err, &se) {
		return err
	}
	code := map[send.Kind]string{
		send.KindInvalid:                       "InvalidParameterValue",
		send.KindMessageRejected:               "MessageRejected",
		send.KindMailFromNotVerified:           "MailFromDomainNotVerifiedException",
		send.KindSendingPaused:                 "AccountSendingPausedException",
		send.KindRateExceeded:                  "Throttling",
		send.KindDailyQuotaExceeded:            "Throttling",
		send.KindConfigurationSetDoesNotExist:  "ConfigurationSetDoesNotExist",
		send.KindConfigurationSetSendingPaused: "ConfigurationSetSendingPausedException",
		send.KindContactListDoesNotExist:       "InvalidParameterValue", // v1 has no contact lists: only the raw header names one
	}[se.Kind]
	if code == "" {
		return fmt.Errorf("sesv1: unmapped send error: %w", err)
	}
	return &sesapi.Error{Code: code, Status: http.StatusBadRequest, Message: strings.TrimSpace(se.Msg)}
}
