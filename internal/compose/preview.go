package compose

import "strings"

// Preview writes a rendered template as SES's TestRenderTemplate and
// TestRenderEmailTemplate return it: the complete MIME message without
// addresses (a template has none): Date, Message-ID, Subject and
// MIME-Version, then the body as Build writes it (text/plain, text/html,
// or multipart/alternative for both). CR and LF in the subject, which
// rendering data can bring, become spaces.
func Preview(subject, text, html string, o Options) ([]byte, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	subject = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(subject)
	cs, err := lookupCharset("SubjectCharset", "")
	if err != nil {
		return nil, err
	}
	encoded, err := encodeText("Subject", "Subject", subject, cs)
	if err != nil {
		return nil, err
	}
	root, err := bodyTree(Simple{Text: text, HTML: html})
	if err != nil {
		return nil, err
	}
	fs := []field{{"Date", o.dateField()}, {"Message-ID", o.messageIDField()}}
	if subject != "" {
		fs = append(fs, field{"Subject", encoded})
	}
	fs = append(fs, field{"MIME-Version", "1.0"})
	_, msg, err := write(o, fs, root, func(name string) string { return name })
	return msg, err
}
