package testkit

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-smtp"
)

// SMTPSend sends msg from from to the recipients on c (MAIL, RCPT, DATA)
// and returns the MessageId of SES's "250 Ok <MessageId>" reply.
func SMTPSend(c *smtp.Client, from string, to []string, msg string) (string, error) {
	if err := c.Mail(from, nil); err != nil {
		return "", err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return "", err
		}
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return "", err
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	id, ok := strings.CutPrefix(resp.StatusText, "Ok ")
	if !ok {
		return "", fmt.Errorf("250 reply %q is not SES's Ok <MessageId>", resp.StatusText)
	}
	return id, nil
}

// SMTPReply is the reply of a failed SMTP command, as "554 text" with the
// enhanced code when there is one ("530 5.7.0 text"), for comparing with
// what SES answers.
func SMTPReply(err error) string {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return fmt.Sprintf("not an SMTP reply: %v", err)
	}
	if se.EnhancedCode == (smtp.EnhancedCode{}) || se.EnhancedCode == smtp.NoEnhancedCode {
		return fmt.Sprintf("%d %s", se.Code, se.Message)
	}
	return fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
}
