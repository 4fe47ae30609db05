package compose_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"github.com/sesame-email/sesame/internal/compose"
)

// checkBuilt parses a built message back with go-message and checks that it
// says what s said: the addresses, the subject, each body and attachment.
func checkBuilt(t *testing.T, s compose.Simple, m *compose.Message) {
	t.Helper()
	e, err := message.Read(bytes.NewReader(m.Bytes))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	h := mail.Header{Header: e.Header}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != m.From.Address.String() || from[0].Name != m.From.Name {
		t.Errorf("From parses back as %v, %v; want %v", from, err, m.From)
	}
	for _, l := range []struct {
		key  string
		want []compose.Mailbox
	}{{"To", m.To}, {"Cc", m.Cc}, {"Reply-To", m.ReplyTo}, {"Bcc", nil}} {
		got, err := h.AddressList(l.key)
		if err != nil || len(got) != len(l.want) {
			t.Errorf("%s parses back as %v, %v; want %v", l.key, got, err, l.want)
			continue
		}
		for i := range got {
			if got[i].Address != l.want[i].Address.String() || got[i].Name != l.want[i].Name {
				t.Errorf("%s[%d] parses back as %v; want %v", l.key, i, got[i], l.want[i])
			}
		}
	}
	if subj, err := h.Subject(); err != nil || subj != s.Subject {
		t.Errorf("Subject decodes to %q, %v; want %q", subj, err, s.Subject)
	}
	if id, err := h.MessageID(); err != nil || id != fixedOptions().MessageID+"@"+fixedOptions().Domain {
		t.Errorf("Message-ID = %q, %v", id, err)
	}
	if d, err := h.Date(); err != nil || !d.Equal(fixedOptions().Now()) {
		t.Errorf("Date = %v, %v", d, err)
	}
	if v := h.Get("Mime-Version"); v != "1.0" {
		t.Errorf("MIME-Version = %q", v)
	}
	seen := map[string]bool{}
	for _, c := range s.Headers {
		if seen[strings.ToLower(c.Name)] {
			continue // Get returns the first
		}
		seen[strings.ToLower(c.Name)] = true
		if got := h.Get(c.Name); got != c.Value {
			t.Errorf("header %s = %q; want %q", c.Name, got, c.Value)
		}
	}

	// Leaves in document order: text, HTML, then attachments (inline ones
	// first, as they sit in multipart/related next to the body).
	type leaf struct {
		mt, disp, filename string
		body               []byte
	}
	var leaves []leaf
	err = e.Walk(func(path []int, ent *message.Entity, err error) error {
		if err != nil {
			return err
		}
		if ent.MultipartReader() != nil {
			return nil
		}
		mt, _, _ := ent.Header.ContentType()
		d, dp, _ := ent.Header.ContentDisposition()
		b, err := io.ReadAll(ent.Body)
		if err != nil {
			return err
		}
		leaves = append(leaves, leaf{mt, d, dp["filename"], b})
		return nil
	})
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	crlf := func(s string) string {
		return strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n"), "\n", "\r\n")
	}
	var want []leaf
	if s.Text != "" || s.HTML == "" && len(s.Attachments) == 0 {
		want = append(want, leaf{mt: "text/plain", body: []byte(crlf(s.Text))})
	}
	if s.HTML != "" {
		want = append(want, leaf{mt: "text/html", body: []byte(crlf(s.HTML))})
	}
	var inline, attached []leaf
	for _, a := range s.Attachments {
		l := leaf{disp: "attachment", filename: a.FileName, body: a.Content}
		if a.TransferEncoding != "" && a.TransferEncoding != compose.EncodingBase64 {
			l.body = []byte(crlf(string(a.Content)))
			if a.TransferEncoding == compose.EncodingSevenBit && len(l.body) > 0 && !bytes.HasSuffix(l.body, []byte("\r\n")) {
				l.body = append(l.body, '\r', '\n')
			}
		}
		if a.Disposition == compose.DispositionInline {
			l.disp = "inline"
		}
		if l.disp == "inline" && a.ContentID != "" {
			inline = append(inline, l)
		} else {
			attached = append(attached, l)
		}
	}
	want = append(append(want, inline...), attached...)
	if len(leaves) != len(want) {
		t.Fatalf("%d leaf parts; want %d", len(leaves), len(want))
	}
	for i, w := range want {
		g := leaves[i]
		if w.mt != "" && g.mt != w.mt || g.disp != w.disp || g.filename != w.filename || !bytes.Equal(g.body, w.body) {
			t.Errorf("part %d = %s %s %q %q; want %s %s %q %q", i, g.mt, g.disp, g.filename, g.body, w.mt, w.disp, w.filename, w.body)
		}
	}
}

func TestBuildRoundTrip(t *testing.T) {
	long := strings.Repeat("word ", 400)
	cases := []struct {
		name string
		s    compose.Simple
	}{
		{"minimal", compose.Simple{From: "a@example.com", To: []string{"b@example.org"}, Subject: "Hi", Text: "Hello"}},
		{"empty body", compose.Simple{From: "a@example.com", Subject: "Hi"}},
		{"no subject", compose.Simple{From: "a@example.com", Text: "x"}},
		{"html only", compose.Simple{From: "a@example.com", HTML: "<b>hi</b>\n"}},
		{"alternative", compose.Simple{From: "a@example.com", Text: "hi\r\nthere", HTML: "<p>hi</p>"}},
		{"bare CR and LF", compose.Simple{From: "a@example.com", Text: "a\rb\nc\r\nd\n"}},
		{"long lines", compose.Simple{From: "a@example.com", Text: strings.Repeat("x", 5000), HTML: long}},
		{"trailing spaces", compose.Simple{From: "a@example.com", Text: "line with space \nand tab\t\n"}},
		{"equals and dots", compose.Simple{From: "a@example.com", Text: "a=b\n.\n..\nFrom me\n"}},
		{"utf8 everywhere", compose.Simple{
			From: "Zoë Ünal <zoe@bücher.example>", To: []string{"Jürgen <j@example.org>"}, Cc: []string{"=?UTF-8?Q?Fran=C3=A7ois?= <f@example.net>"},
			ReplyTo: []string{"Désirée <d@example.com>"}, Subject: "Grüße, 世界! " + strings.Repeat("ä", 100), Text: "Grüße\n世界", HTML: "<p>Grüße</p>",
		}},
		{"cjk base64", compose.Simple{From: "a@example.com", Subject: "日本語", Text: strings.Repeat("日本語のテキスト", 20)}},
		{"latin1", compose.Simple{From: "a@example.com", Subject: "Café", SubjectCharset: "ISO-8859-1", Text: "Café crème", TextCharset: "iso-8859-1", HTML: "<p>Café</p>", HTMLCharset: "windows-1252"}},
		{"iso-2022-jp", compose.Simple{From: "a@example.com", Subject: "こんにちは世界、長い件名をここに書きます。" + strings.Repeat("あ", 30), SubjectCharset: "ISO-2022-JP", Text: "こんにちは", TextCharset: "ISO-2022-JP"}},
		{"shift_jis and euc-kr and gbk", compose.Simple{From: "a@example.com", Subject: "한국어", SubjectCharset: "EUC-KR", Text: "日本", TextCharset: "Shift_JIS", HTML: "中文", HTMLCharset: "GB2312"}},
		{"long ascii subject", compose.Simple{From: "a@example.com", Subject: long}},
		{"unbreakable ascii subject", compose.Simple{From: "a@example.com", Subject: strings.Repeat("x", 2000)}},
		{"encoded-word lookalike subject", compose.Simple{From: "a@example.com", Subject: "=?utf-8?q?not_encoded?="}},
		{"control chars in subject", compose.Simple{From: "a@example.com", Subject: "tab\there\x00\x07\x7f"}},
		{"many recipients", compose.Simple{From: "a@example.com", To: manyAddrs("to", 30), Cc: manyAddrs("cc", 10), Bcc: manyAddrs("bcc", 10)}},
		{"quoted display names", compose.Simple{From: `"Doe, Jane (Sales)" <jane@example.com>`, To: []string{`"a\"b" <ab@example.com>`}}},
		{"custom headers", compose.Simple{From: "a@example.com", Text: "x", Headers: []compose.Header{
			{"X-Campaign", "spring-2025"}, {"List-Unsubscribe", "<https://example.com/u?id=1>, <mailto:u@example.com>"},
			{"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"}, {"Sender", "Bulk <bulk@example.com>"}, {"X-Long", long[:994]},
			{"X-Dup", "1"}, {"X-Dup", "2"},
		}}},
		{"attachments", compose.Simple{From: "a@example.com", Text: "see attached", HTML: `<img src="cid:logo">`, Attachments: []compose.Attachment{
			{FileName: "logo.png", Content: []byte{0x89, 'P', 'N', 'G', 0, 1, 2}, Disposition: compose.DispositionInline, ContentID: "<logo>"},
			{FileName: "notes.txt", Content: []byte("line one\nline two=x\n"), TransferEncoding: compose.EncodingQuotedPrintable},
			{FileName: "readme.txt", Content: []byte("plain\nascii"), TransferEncoding: compose.EncodingSevenBit},
			{FileName: strings.Repeat("é", 100) + ".bin", Content: bytes.Repeat([]byte{0xff}, 1000), ContentType: "application/x-thing; version=2", Description: "Ünïcode description"},
			{FileName: "inline-no-id.gif", Content: []byte("GIF89a"), Disposition: compose.DispositionInline},
			{FileName: `we"ird\name.pdf`, Content: nil},
		}}},
		{"attachments only", compose.Simple{From: "a@example.com", Attachments: []compose.Attachment{{FileName: "a.pdf", Content: []byte("%PDF")}}}},
		{"inline only", compose.Simple{From: "a@example.com", Attachments: []compose.Attachment{{FileName: "a.png", Content: []byte("x"), Disposition: compose.DispositionInline, ContentID: "a"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := compose.Build(c.s, fixedOptions())
			if err != nil {
				t.Fatal(err)
			}
			checkWire(t, m.Bytes)
			checkBuilt(t, c.s, m)
			checkNormalForm(t, m.Bytes)
			if len(c.s.Bcc) > 0 && len(m.Bcc) != len(c.s.Bcc) {
				t.Errorf("Bcc = %v", m.Bcc)
			}
			if n := len(m.Recipients()); n != len(c.s.To)+len(c.s.Cc)+len(c.s.Bcc) {
				t.Errorf("%d recipients", n)
			}
		})
	}
}

func manyAddrs(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("Person Number %d <%s%d@example.com>", i, prefix, i))
	}
	return out
}

func TestBuildDefaults(t *testing.T) {
	// No Now and no Boundary: the real clock and random boundaries.
	o := compose.Options{MessageID: "abc-123", Domain: "eu-west-1.sesame.test"}
	m, err := compose.Build(compose.Simple{From: "a@example.com", Text: "t", HTML: "h"}, o)
	if err != nil {
		t.Fatal(err)
	}
	checkWire(t, m.Bytes)
	if !bytes.Contains(m.Bytes, []byte("Message-ID: <abc-123@eu-west-1.sesame.test>\r\n")) || !bytes.Contains(m.Bytes, []byte(`boundary="=_`)) {
		t.Errorf("unexpected message:\n%s", m.Bytes)
	}
	for _, bad := range []compose.Options{
		{Domain: "x.example"},
		{MessageID: "a b", Domain: "x.example"},
		{MessageID: "a>b", Domain: "x.example"},
		{MessageID: "abc"},
		{MessageID: "abc", Domain: "X.Example"},
		{MessageID: "abc", Domain: "x\r\n.example"},
	} {
		if _, err := compose.Build(compose.Simple{From: "a@example.com"}, bad); err == nil || errors.Is(err, compose.ErrInvalid) {
			t.Errorf("Options %+v: error %v; want a programming error", bad, err)
		}
		if _, err := compose.NormalizeRaw([]byte("From: a@example.com\r\n\r\n"), bad); err == nil || errors.Is(err, compose.ErrInvalid) {
			t.Errorf("NormalizeRaw with Options %+v: error %v; want a programming error", bad, err)
		}
	}
	bad := fixedOptions()
	bad.Boundary = func() string { return "bad boundary with spaces and more than seventy characters in all, so too long" }
	if _, err := compose.Build(compose.Simple{From: "a@example.com", Text: "t", HTML: "h"}, bad); err == nil || errors.Is(err, compose.ErrInvalid) {
		t.Errorf("bad boundary: %v", err)
	}
}

// wantInvalid checks that err is a *compose.Error for field whose message
// contains rule.
func wantInvalid(t *testing.T, err error, field, rule string) {
	t.Helper()
	var e *compose.Error
	if !errors.As(err, &e) || !errors.Is(err, compose.ErrInvalid) {
		t.Fatalf("error = %v (%T); want a *compose.Error", err, err)
	}
	if e.Field != field || !strings.Contains(e.Msg, rule) {
		t.Fatalf("error = %s: %s; want %s: ...%s...", e.Field, e.Msg, field, rule)
	}
}

func TestBuildInjection(t *testing.T) {
	base := func() compose.Simple {
		return compose.Simple{From: "a@example.com", To: []string{"b@example.com"}, Subject: "s", Text: "t"}
	}
	const inj = "x\r\nBcc: victim@example.net"
	cases := []struct {
		name  string
		edit  func(*compose.Simple)
		field string
	}{
		{"subject", func(s *compose.Simple) { s.Subject = inj }, "Subject"},
		{"subject LF only", func(s *compose.Simple) { s.Subject = "a\nb" }, "Subject"},
		{"subject CR only", func(s *compose.Simple) { s.Subject = "a\rb" }, "Subject"},
		{"subject charset", func(s *compose.Simple) { s.SubjectCharset = "utf-8\r\nX: y" }, "SubjectCharset"},
		{"text charset", func(s *compose.Simple) { s.TextCharset = "utf-8\nX: y" }, "TextCharset"},
		{"html charset", func(s *compose.Simple) { s.HTML, s.HTMLCharset = "h", "utf-8\rX: y" }, "HTMLCharset"},
		{"html charset without html", func(s *compose.Simple) { s.HTMLCharset = "utf-8\rX: y" }, "HTMLCharset"},
		{"from address", func(s *compose.Simple) { s.From = "a@example.com\r\nBcc: v@example.net" }, "From"},
		{"from display name", func(s *compose.Simple) { s.From = "Eve\r\nBcc: v@example.net <a@example.com>" }, "From"},
		{"from encoded display name", func(s *compose.Simple) { s.From = "=?UTF-8?Q?Eve=0D=0ABcc=3A_v=40example.net?= <a@example.com>" }, "From"},
		{"to", func(s *compose.Simple) { s.To = []string{"b@example.com", "c@example.com\nBcc: v@example.net"} }, "To[1]"},
		{"to encoded name", func(s *compose.Simple) {
			s.To = []string{"=?UTF-8?B?" + "RXZlDQpCY2M6IHZAZXhhbXBsZS5uZXQ=" + "?= <b@example.com>"}
		}, "To[0]"},
		{"cc", func(s *compose.Simple) { s.Cc = []string{inj} }, "Cc[0]"},
		{"bcc", func(s *compose.Simple) { s.Bcc = []string{inj} }, "Bcc[0]"},
		{"reply-to", func(s *compose.Simple) { s.ReplyTo = []string{"r@example.com\r\n"} }, "ReplyTo[0]"},
		{"header name", func(s *compose.Simple) { s.Headers = []compose.Header{{"X-A\r\nBcc", "v"}} }, "Headers[0].Name"},
		{"header value", func(s *compose.Simple) { s.Headers = []compose.Header{{"X-A", "ok"}, {"X-B", inj}} }, "Headers[1].Value"},
		{"sender header value", func(s *compose.Simple) { s.Headers = []compose.Header{{"Sender", inj}} }, "Headers[0].Value"},
		{"attachment file name", func(s *compose.Simple) { s.Attachments = []compose.Attachment{{FileName: "a\r\nb.pdf"}} }, "Attachments[0].FileName"},
		{"attachment content type", func(s *compose.Simple) {
			s.Attachments = []compose.Attachment{{FileName: "a.pdf", ContentType: "text/plain\r\nBcc: v@example.net"}}
		}, "Attachments[0].ContentType"},
		{"attachment content id", func(s *compose.Simple) { s.Attachments = []compose.Attachment{{FileName: "a.pdf", ContentID: "a\nb"}} }, "Attachments[0].ContentID"},
		{"attachment description", func(s *compose.Simple) {
			s.Attachments = []compose.Attachment{{FileName: "a.pdf", Description: "d\r\nBcc: v@example.net"}}
		}, "Attachments[0].Description"},
		{"attachment disposition", func(s *compose.Simple) {
			s.Attachments = []compose.Attachment{{FileName: "a.pdf", Disposition: "INLINE\r\n"}}
		}, "Attachments[0].Disposition"},
		{"attachment encoding", func(s *compose.Simple) {
			s.Attachments = []compose.Attachment{{FileName: "a.pdf", TransferEncoding: "BASE64\r\n"}}
		}, "Attachments[0].TransferEncoding"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := base()
			c.edit(&s)
			m, err := compose.Build(s, fixedOptions())
			if err == nil {
				t.Fatalf("accepted:\n%s", m.Bytes)
			}
			wantInvalid(t, err, c.field, "CR or LF")
		})
	}
	t.Run("tags", func(t *testing.T) {
		wantInvalid(t, compose.ValidateTags("EmailTags", []compose.Tag{{"ok", "ok"}, {"a\r\nb", "v"}}), "EmailTags[1].Name", "CR or LF")
		wantInvalid(t, compose.ValidateTags("Tags", []compose.Tag{{"n", "v\n"}}), "Tags[0].Value", "CR or LF")
	})
}

func TestBuildInvalid(t *testing.T) {
	base := func() compose.Simple { return compose.Simple{From: "a@example.com", Text: "t"} }
	sixteen := make([]compose.Header, 16)
	for i := range sixteen {
		sixteen[i] = compose.Header{Name: fmt.Sprintf("X-H%d", i), Value: "v"}
	}
	cases := []struct {
		name        string
		edit        func(*compose.Simple)
		field, rule string
	}{
		{"no from", func(s *compose.Simple) { s.From = "" }, "From", "must be specified"},
		{"blank from", func(s *compose.Simple) { s.From = "  " }, "From", "must not be empty"},
		{"from without domain", func(s *compose.Simple) { s.From = "nobody" }, "From", "not a valid address"},
		{"from two addresses", func(s *compose.Simple) { s.From = "a@example.com, b@example.com" }, "From", "not a valid address"},
		{"from bad domain", func(s *compose.Simple) { s.From = "a@example" }, "From", "two labels"},
		{"from non-ascii local part", func(s *compose.Simple) { s.From = "jürgen@example.com" }, "From", "local part"},
		{"to empty string", func(s *compose.Simple) { s.To = []string{""} }, "To[0]", "must not be empty"},
		{"cc bad", func(s *compose.Simple) { s.Cc = []string{"a@@example.com"} }, "Cc[0]", "not a valid address"},
		{"bad utf-8 subject", func(s *compose.Simple) { s.Subject = "\xff\xfe" }, "Subject", "UTF-8"},
		{"bad utf-8 text", func(s *compose.Simple) { s.Text = "\xff" }, "Text", "UTF-8"},
		{"unknown charset", func(s *compose.Simple) { s.TextCharset = "klingon-1" }, "TextCharset", "not supported"},
		{"charset not a token", func(s *compose.Simple) { s.SubjectCharset = "utf 8" }, "SubjectCharset", "not a valid charset"},
		{"utf-16", func(s *compose.Simple) { s.TextCharset = "UTF-16" }, "TextCharset", "ASCII"},
		{"ebcdic", func(s *compose.Simple) { s.HTML, s.HTMLCharset = "x", "IBM037" }, "HTMLCharset", "ASCII"},
		{"unrepresentable subject", func(s *compose.Simple) { s.Subject, s.SubjectCharset = "日本", "ISO-8859-1" }, "Subject", "cannot represent"},
		{"unrepresentable text", func(s *compose.Simple) { s.Text, s.TextCharset = "€", "US-ASCII" }, "Text", "cannot represent"},
		{"too many headers", func(s *compose.Simple) { s.Headers = sixteen }, "Headers", "at most 15"},
		{"empty header name", func(s *compose.Simple) { s.Headers = []compose.Header{{"", "v"}} }, "Headers[0].Name", "empty"},
		{"header name with colon", func(s *compose.Simple) { s.Headers = []compose.Header{{"X-A:B", "v"}} }, "Headers[0].Name", "other than ':'"},
		{"header name with space", func(s *compose.Simple) { s.Headers = []compose.Header{{"X A", "v"}} }, "Headers[0].Name", "printable ASCII"},
		{"header name non-ascii", func(s *compose.Simple) { s.Headers = []compose.Header{{"X-Ä", "v"}} }, "Headers[0].Name", "printable ASCII"},
		{"header name too long", func(s *compose.Simple) { s.Headers = []compose.Header{{"X-" + strings.Repeat("a", 125), "v"}} }, "Headers[0].Name", "126"},
		{"empty header value", func(s *compose.Simple) { s.Headers = []compose.Header{{"X-A", ""}} }, "Headers[0].Value", "empty"},
		{"header value too long", func(s *compose.Simple) { s.Headers = []compose.Header{{"X-A", strings.Repeat("a", 996)}} }, "Headers[0].Value", "995"},
		{"header value non-ascii", func(s *compose.Simple) { s.Headers = []compose.Header{{"X-A", "café"}} }, "Headers[0].Value", "printable ASCII"},
		{"header value with tab", func(s *compose.Simple) { s.Headers = []compose.Header{{"X-A", "a\tb"}} }, "Headers[0].Value", "printable ASCII"},
		{"unfoldable header", func(s *compose.Simple) {
			s.Headers = []compose.Header{{"X-" + strings.Repeat("a", 120), strings.Repeat("b", 990)}}
		}, "Headers[0].Value", "folded"},
		{"duplicate once-only header", func(s *compose.Simple) {
			s.Headers = []compose.Header{{"List-Unsubscribe", "<mailto:a@example.com>"}, {"list-unsubscribe", "<mailto:b@example.com>"}}
		}, "Headers[1].Name", "more than once"},
		{"bad sender header", func(s *compose.Simple) { s.Headers = []compose.Header{{"Sender", "not an address"}} }, "Headers[0].Value", "Sender address"},
		{"no attachment name", func(s *compose.Simple) { s.Attachments = []compose.Attachment{{Content: []byte("x")}} }, "Attachments[0].FileName", "must be specified"},
		{"attachment name too long", func(s *compose.Simple) { s.Attachments = []compose.Attachment{{FileName: strings.Repeat("a", 256)}} }, "Attachments[0].FileName", "255"},
		{"attachment name control char", func(s *compose.Simple) { s.Attachments = []compose.Attachment{{FileName: "a\x00b"}} }, "Attachments[0].FileName", "control"},
		{"attachment bad type", func(s *compose.Simple) {
			s.Attachments = []compose.Attachment{{FileName: "a", ContentType: "nonsense"}}
		}, "Attachments[0].ContentType", "not a valid media type"},
		{"attachment multipart type", func(s *compose.Simple) {
			s.Attachments = []compose.Attachment{{FileName: "a", ContentType: "multipart/mixed; boundary=x"}}
		}, "Attachments[0].ContentType", "multipart"},
		{"attachment type too long", func(s *compose.Simple) {
			s.Attachments = []compose.Attachment{{FileName: "a", ContentType: "application/" + strings.Repeat("x", 70)}}
		}, "Attachments[0].ContentType", "78"},
		{"attachment bad disposition", func(s *compose.Simple) { s.Attachments = []compose.Attachment{{FileName: "a", Disposition: "inline"}} }, "Attachments[0].Disposition", "ATTACHMENT, INLINE"},
		{"attachment bad content id", func(s *compose.Simple) { s.Attachments = []compose.Attachment{{FileName: "a", ContentID: "a b"}} }, "Attachments[0].ContentID", "printable ASCII"},
		{"attachment empty content id", func(s *compose.Simple) { s.Attachments = []compose.Attachment{{FileName: "a", ContentID: "<>"}} }, "Attachments[0].ContentID", "printable ASCII"},
		{"attachment content id too long", func(s *compose.Simple) {
			s.Attachments = []compose.Attachment{{FileName: "a", ContentID: strings.Repeat("a", 79)}}
		}, "Attachments[0].ContentID", "78"},
		{"attachment description too long", func(s *compose.Simple) {
			s.Attachments = []compose.Attachment{{FileName: "a", Description: strings.Repeat("d", 1001)}}
		}, "Attachments[0].Description", "1000"},
		{"attachment bad encoding", func(s *compose.Simple) {
			s.Attachments = []compose.Attachment{{FileName: "a", TransferEncoding: "8BIT"}}
		}, "Attachments[0].TransferEncoding", "BASE64"},
		{"seven bit with 8-bit data", func(s *compose.Simple) {
			s.Attachments = []compose.Attachment{{FileName: "a", Content: []byte{0xc3, 0xa9}, TransferEncoding: compose.EncodingSevenBit}}
		}, "Attachments[0].TransferEncoding", "SEVEN_BIT"},
		{"seven bit with long line", func(s *compose.Simple) {
			s.Attachments = []compose.Attachment{{FileName: "a", Content: bytes.Repeat([]byte("a"), 999), TransferEncoding: compose.EncodingSevenBit}}
		}, "Attachments[0].TransferEncoding", "998"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := base()
			c.edit(&s)
			m, err := compose.Build(s, fixedOptions())
			if err == nil {
				t.Fatalf("accepted:\n%s", m.Bytes)
			}
			wantInvalid(t, err, c.field, c.rule)
		})
	}
}

func TestBuildReservedHeaders(t *testing.T) {
	for _, name := range []string{"From", "to", "CC", "Bcc", "Reply-To", "Subject", "Message-ID", "Date", "MIME-Version",
		"Content-Type", "content-transfer-encoding", "Content-Disposition", "Return-Path", "DKIM-Signature",
		"X-SES-CONFIGURATION-SET", "x-ses-message-tags"} {
		t.Run(name, func(t *testing.T) {
			_, err := compose.Build(compose.Simple{From: "a@example.com", Headers: []compose.Header{{name, "v"}}}, fixedOptions())
			wantInvalid(t, err, "Headers[0].Name", "cannot be set through Headers")
		})
	}
}

func TestValidateTags(t *testing.T) {
	ok := []compose.Tag{{"campaign", "spring_2025"}, {"a-b_C9", "user@example.com"}, {strings.Repeat("n", 255), strings.Repeat("v", 255)}, {"v", "1.2.3"}}
	if err := compose.ValidateTags("Tags", ok); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		tag         compose.Tag
		field, rule string
	}{
		{compose.Tag{"", "v"}, "Tags[0].Name", "The tag name must be specified."},
		{compose.Tag{"n", ""}, "Tags[0].Value", "The tag value must be specified."},
		{compose.Tag{strings.Repeat("n", 256), "v"}, "Tags[0].Name", "Tag name cannot exceed 255 characters."},
		{compose.Tag{"n", strings.Repeat("v", 256)}, "Tags[0].Value", "Tag value cannot exceed 255 characters."},
		{compose.Tag{"a.b", "v"}, "Tags[0].Name", "Invalid tag name a.b: only alphanumeric ASCII characters, '_',  '-' are allowed."},
		{compose.Tag{"ses:x", "v"}, "Tags[0].Name", "Invalid tag name ses:x"},
		{compose.Tag{"n", "a b"}, "Tags[0].Value", "Invalid tag value a b: only alphanumeric ASCII characters, '_',  '-' , '.', '@' are allowed."},
		{compose.Tag{"n", "é"}, "Tags[0].Value", "Invalid tag value"},
	}
	for _, c := range cases {
		t.Run(c.tag.Name+"="+c.tag.Value, func(t *testing.T) {
			wantInvalid(t, compose.ValidateTags("Tags", []compose.Tag{c.tag}), c.field, c.rule)
		})
	}
}
