package compose_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/compose"
)

func FuzzNormalizeRaw(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "raw", "*.txt"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		in, _, _ := strings.Cut(strings.TrimPrefix(string(data), "-- input --\n"), "\n-- ")
		f.Add([]byte(in))
	}
	for _, s := range []string{
		"From: a@example.com\n\nx",
		"From: a@example.com\r\nBcc: b@example.com\r\nX-SES-MESSAGE-TAGS: a=b\r\n\r\n",
		"From: a@example.com\rTo: b@example.com\r\r",
		"From: a@example.com\nX-SES-MESSAGE-TAGS: a=1, b=2\nX-SES-MESSAGE-TAGS: c=3\n\nx\n",
		"From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--\n",
		" x\n\n",
		"\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := compose.NormalizeRaw(raw, fixedOptions())
		if err != nil {
			var e *compose.Error
			if !errors.As(err, &e) || e.Field == "" || e.Msg == "" {
				t.Fatalf("error %v (%T) is not a *compose.Error with field and message", err, err)
			}
			return
		}
		checkWire(t, m.Bytes)
		if err := compose.ValidateTags("X-SES-MESSAGE-TAGS", m.Tags); err != nil {
			t.Fatalf("accepted tags break the rules: %v", err)
		}
		m2, err := compose.NormalizeRaw(m.Bytes, fixedOptions())
		if err != nil {
			t.Fatalf("output rejected: %v\n%q", err, m.Bytes)
		}
		if !bytes.Equal(m.Bytes, m2.Bytes) {
			t.Fatalf("not idempotent:\n%q\n%q", m.Bytes, m2.Bytes)
		}
		if m2.From != m.From || !slices.Equal(m2.To, m.To) || !slices.Equal(m2.Cc, m.Cc) || m2.Subject != m.Subject {
			t.Fatalf("normalising again changed what the message says: %+v / %+v", m, m2)
		}
	})
}

func FuzzBuild(f *testing.F) {
	f.Add("Jörg <a@example.com>", "b@example.org", "Grüße", "", "text\nline", "", "<p>x</p>", "", "X-Tag", "v", "a.pdf", []byte("%PDF"), "", "", "")
	f.Add("a@example.com", "\"Doe, J\" <b@bücher.example>", "=?utf-8?q?x?=", "ISO-8859-1", "é", "Shift_JIS", "日本", "ISO-2022-JP", "List-Id", "<l.example.com>", "ü.png", []byte{0, 1}, "image/png", "INLINE", "id@x")
	f.Add("a@example.com", "", strings.Repeat("long subject ", 40), "", strings.Repeat("x", 2000), "", "", "", "", "", "", []byte(nil), "", "", "")
	f.Add("a@example.com", "b@example.org", "x\r\nBcc: c@example.net", "", "", "", "", "", "X\r\nY", "v\nw", "a\rb", []byte(nil), "text/plain\r\n", "", "<a\nb>")
	f.Fuzz(func(t *testing.T, from, to, subject, subjectCS, text, textCS, html, htmlCS, hName, hValue, fileName string, content []byte, contentType, disposition, contentID string) {
		s := compose.Simple{From: from, Subject: subject, SubjectCharset: subjectCS, Text: text, TextCharset: textCS, HTML: html, HTMLCharset: htmlCS}
		if to != "" {
			s.To = []string{to}
			s.Bcc = []string{to}
		}
		if hName != "" || hValue != "" {
			s.Headers = []compose.Header{{hName, hValue}}
		}
		if fileName != "" {
			s.Attachments = []compose.Attachment{{FileName: fileName, Content: content, ContentType: contentType, Disposition: disposition, ContentID: contentID}}
		}
		m, err := compose.Build(s, fixedOptions())
		if err != nil {
			var e *compose.Error
			if !errors.As(err, &e) || e.Field == "" || e.Msg == "" {
				t.Fatalf("error %v (%T) is not a *compose.Error with field and message", err, err)
			}
			return
		}
		checkWire(t, m.Bytes)
		checkBuilt(t, s, m)
		checkNormalForm(t, m.Bytes)
		// No header can have been injected: the fields written are
		// exactly the expected ones.
		raw, err := compose.NormalizeRaw(m.Bytes, fixedOptions())
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, h := range raw.Headers {
			names = append(names, strings.ToLower(h.Name))
		}
		want := []string{"from"}
		if to != "" {
			want = append(want, "to")
		}
		if subject != "" {
			want = append(want, "subject")
		}
		want = append(want, "message-id", "date")
		for _, h := range s.Headers {
			want = append(want, strings.ToLower(h.Name))
		}
		want = append(want, "mime-version", "content-type")
		if !slices.Equal(names[:len(names)-1], want) && !slices.Equal(names, want) {
			t.Fatalf("header fields %v; want %v (+ content-transfer-encoding)", names, want)
		}
		if len(raw.Bcc) != 0 {
			t.Fatalf("Bcc written: %v", raw.Bcc)
		}
	})
}
