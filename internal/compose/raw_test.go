package compose_test

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/compose"
)

// crlf turns a readable test message into one with CRLF line endings.
func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

const sesID = "Message-ID: <010001978a5b3c4d-5e6f7a8b-1c2d-4e5f-9a0b-1c2d3e4f5a6b-000000@us-east-1.sesame.test>\r\n"
const sesDate = "Date: Sun, 01 Jun 2025 10:30:45 +0000\r\n"

func TestNormalizeRaw(t *testing.T) {
	cases := []struct {
		name  string
		in    []byte
		want  string // expected Bytes
		check func(t *testing.T, m *compose.Message)
	}{
		{
			name: "LF becomes CRLF, Message-ID and Date added at the end of the header",
			in:   []byte("From: a@example.com\nTo: b@example.org\nSubject: hi\n\nline 1\nline 2\n"),
			want: "From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n" + sesID + sesDate + "\r\nline 1\r\nline 2\r\n",
		},
		{
			name: "CRLF kept, lone CR becomes CRLF, final CRLF added",
			in:   []byte("From: a@example.com\r\n\r\none\rtwo\r\nthree"),
			want: "From: a@example.com\r\n" + sesID + sesDate + "\r\none\r\ntwo\r\nthree\r\n",
		},
		{
			name: "sender's Message-ID and Date replaced in place, kept in Headers",
			in:   crlf("Date: Mon, 1 Jan 2001 00:00:00 -0500\nMessage-Id: <mine@client.example>\nFrom: a@example.com\n\nbody\n"),
			want: sesDate + sesID + "From: a@example.com\r\n\r\nbody\r\n",
			check: func(t *testing.T, m *compose.Message) {
				want := []compose.Header{{"Date", "Mon, 1 Jan 2001 00:00:00 -0500"}, {"Message-Id", "<mine@client.example>"}, {"From", "a@example.com"}}
				if !slices.Equal(m.Headers, want) {
					t.Errorf("Headers = %v", m.Headers)
				}
			},
		},
		{
			name: "folded Message-ID replaced whole",
			in:   crlf("From: a@example.com\nMessage-ID:\n <folded@client.example>\nX-After: 1\n\nb\n"),
			want: "From: a@example.com\r\n" + sesID + "X-After: 1\r\n" + sesDate + "\r\nb\r\n",
		},
		{
			name: "Bcc removed, its addresses reported; Return-Path removed and reported",
			in: crlf("Return-Path: <bounces@example.com>\nFrom: Ann <a@example.com>\nTo: b@example.org\nBcc: hidden@example.net,\n Other <other@example.net>\n" +
				"Cc: c@example.org\nSubject: s\n\nx\n"),
			want: "From: Ann <a@example.com>\r\nTo: b@example.org\r\nCc: c@example.org\r\nSubject: s\r\n" + sesID + sesDate + "\r\nx\r\n",
			check: func(t *testing.T, m *compose.Message) {
				if got := mbViews(m.Bcc); !slices.Equal(got, []string{"hidden@example.net", "Other <other@example.net>"}) {
					t.Errorf("Bcc = %v", got)
				}
				if m.ReturnPath == nil || m.ReturnPath.Address.String() != "bounces@example.com" {
					t.Errorf("ReturnPath = %v", m.ReturnPath)
				}
				var rs []string
				for _, r := range m.Recipients() {
					rs = append(rs, r.String())
				}
				if !slices.Equal(rs, []string{"b@example.org", "c@example.org", "hidden@example.net", "other@example.net"}) {
					t.Errorf("Recipients = %v", rs)
				}
			},
		},
		{
			name: "null Return-Path",
			in:   crlf("From: a@example.com\nReturn-Path: <>\n\nx\n"),
			want: "From: a@example.com\r\n" + sesID + sesDate + "\r\nx\r\n",
			check: func(t *testing.T, m *compose.Message) {
				if m.ReturnPath != nil {
					t.Errorf("ReturnPath = %v", m.ReturnPath)
				}
			},
		},
		{
			name: "X-SES control headers extracted and removed",
			in: crlf("X-SES-CONFIGURATION-SET: marketing\nFrom: a@example.com\nx-ses-message-tags: campaign=spring, user=u@example.com ,\n tier=gold\n" +
				"X-SES-SOURCE-ARN: arn:aws:ses:us-east-1:123456789012:identity/example.com\nX-SES-FROM-ARN: arn:aws:ses:us-east-1:123456789012:identity/a@example.com\n" +
				"X-SES-RETURN-PATH-ARN: arn:aws:ses:us-east-1:123456789012:identity/b.example.com\nX-SES-LIST-MANAGEMENT-OPTIONS: newsletter; topic=weekly\n" +
				"X-SES-Other: kept\n\nx\n"),
			want: "From: a@example.com\r\nX-SES-Other: kept\r\n" + sesID + sesDate + "\r\nx\r\n",
			check: func(t *testing.T, m *compose.Message) {
				if m.ConfigurationSet != "marketing" {
					t.Errorf("ConfigurationSet = %q", m.ConfigurationSet)
				}
				if !slices.Equal(m.Tags, []compose.Tag{{"campaign", "spring"}, {"user", "u@example.com"}, {"tier", "gold"}}) {
					t.Errorf("Tags = %v", m.Tags)
				}
				if m.SourceArn != "arn:aws:ses:us-east-1:123456789012:identity/example.com" || !strings.HasSuffix(m.FromArn, "/a@example.com") || !strings.HasSuffix(m.ReturnPathArn, "/b.example.com") {
					t.Errorf("ARNs = %q %q %q", m.SourceArn, m.FromArn, m.ReturnPathArn)
				}
				if m.ListManagement == nil || *m.ListManagement != (compose.ListManagement{ContactList: "newsletter", Topic: "weekly"}) {
					t.Errorf("ListManagement = %v", m.ListManagement)
				}
				for _, h := range m.Headers {
					if strings.HasPrefix(strings.ToLower(h.Name), "x-ses-") && h.Name != "X-SES-Other" {
						t.Errorf("control header %s reported in Headers", h.Name)
					}
				}
			},
		},
		{
			name: "list management without topic; tags header repeated",
			in:   crlf("From: a@example.com\nX-SES-LIST-MANAGEMENT-OPTIONS: news\nX-SES-MESSAGE-TAGS: a=1\nX-SES-MESSAGE-TAGS: b=2\n\nx\n"),
			want: "From: a@example.com\r\n" + sesID + sesDate + "\r\nx\r\n",
			check: func(t *testing.T, m *compose.Message) {
				if *m.ListManagement != (compose.ListManagement{ContactList: "news"}) || len(m.Tags) != 2 {
					t.Errorf("ListManagement = %v, Tags = %v", m.ListManagement, m.Tags)
				}
			},
		},
		{
			name: "50 tags over two fields",
			in:   crlf("From: a@example.com\nX-SES-MESSAGE-TAGS: " + tagList(0, 25) + "\nX-SES-MESSAGE-TAGS: " + tagList(25, 25) + "\n\nx\n"),
			want: "From: a@example.com\r\n" + sesID + sesDate + "\r\nx\r\n",
			check: func(t *testing.T, m *compose.Message) {
				if len(m.Tags) != compose.MaxTags || m.Tags[49] != (compose.Tag{Name: "t49", Value: "v"}) {
					t.Errorf("Tags = %v", m.Tags)
				}
			},
		},
		{
			name: "8-bit body kept byte for byte",
			in:   []byte("From: a@example.com\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr\xc3\xbc\xc3\x9fe \xff\x00\n"),
			want: "From: a@example.com\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n" + sesID + sesDate + "\r\nGr\xc3\xbc\xc3\x9fe \xff\x00\r\n",
		},
		{
			name: "empty body",
			in:   []byte("From: a@example.com\n\n"),
			want: "From: a@example.com\r\n" + sesID + sesDate + "\r\n",
		},
		{
			name: "groups, encoded names and comments in address headers",
			in: crlf("From: =?ISO-8859-1?Q?J=F6rg?= <j@b\xc3\xbccher.example>\nTo: undisclosed-recipients:;\nCc: Team: x@example.com, \"Y, Z\" <y@example.com>;, w@example.com (comment)\n" +
				"Sender: s@example.com\nReply-To: r1@example.com, r2@example.com\nSubject: =?UTF-8?B?R3LDvMOfZQ==?=\n\nx\n"),
			check: func(t *testing.T, m *compose.Message) {
				if mbView(m.From) != "Jörg <j@xn--bcher-kva.example>" || m.Subject != "Grüße" || len(m.To) != 0 {
					t.Errorf("From = %q, Subject = %q, To = %v", mbView(m.From), m.Subject, m.To)
				}
				if got := mbViews(m.Cc); !slices.Equal(got, []string{"x@example.com", "Y, Z <y@example.com>", "comment <w@example.com>"}) {
					t.Errorf("Cc = %v", got)
				}
				if m.Sender == nil || len(m.ReplyTo) != 2 {
					t.Errorf("Sender = %v, ReplyTo = %v", m.Sender, m.ReplyTo)
				}
			},
		},
		{
			name: "repeated To headers are allowed and merged",
			in:   crlf("From: a@example.com\nTo: b@example.com\nTo: c@example.com, b@example.com\n\nx\n"),
			check: func(t *testing.T, m *compose.Message) {
				if len(m.To) != 3 || len(m.Recipients()) != 2 {
					t.Errorf("To = %v, Recipients = %v", m.To, m.Recipients())
				}
			},
		},
		{
			name: "multipart kept as is",
			in: crlf("From: a@example.com\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\npreamble\n--b1\n" +
				"Content-Type: multipart/alternative; boundary=b2\n\n--b2\nContent-Type: text/plain\n\nhi\n--b2\nContent-Type: text/html\n\n<b>hi</b>\n--b2--\n" +
				"--b1\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAEC\n--b1--\nepilogue\n"),
			check: func(t *testing.T, m *compose.Message) {
				if !bytes.Contains(m.Bytes, []byte("\r\n\r\npreamble\r\n--b1\r\n")) || !bytes.HasSuffix(m.Bytes, []byte("--b1--\r\nepilogue\r\n")) {
					t.Errorf("body changed:\n%s", m.Bytes)
				}
			},
		},
		{
			name: "header field name with trailing space before the colon",
			in:   crlf("From : a@example.com\nSubject\t: s\n\nx\n"),
			want: "From : a@example.com\r\nSubject\t: s\r\n" + sesID + sesDate + "\r\nx\r\n",
		},
		{
			name: "a line of exactly 998 octets is fine",
			in:   crlf("From: a@example.com\nX-Long: " + strings.Repeat("a", 998-len("X-Long: ")) + "\n\n" + strings.Repeat("b", 998) + "\n"),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := compose.NormalizeRaw(c.in, fixedOptions())
			if err != nil {
				t.Fatal(err)
			}
			if c.want != "" && string(m.Bytes) != c.want {
				t.Errorf("Bytes =\n%q\nwant\n%q", m.Bytes, c.want)
			}
			checkWire(t, m.Bytes)
			checkNormalForm(t, m.Bytes)
			if c.check != nil {
				c.check(t, m)
			}
		})
	}
}

func TestNormalizeRawInvalid(t *testing.T) {
	cases := []struct {
		name        string
		in          string
		field, rule string
	}{
		{"missing From", "To: b@example.com\n\nx\n", "From", "Missing required header 'From'."},
		{"empty message", "", "Raw", "separated by a blank line"},
		{"empty header", "\nbody\n", "From", "Missing required header 'From'."},
		{"no header/body separator", "From: a@example.com\nSubject: s\n", "Raw", "separated by a blank line"},
		{"no separator, body-like text", "From: a@example.com\nhello world\n", "Raw", "separated by a blank line"},
		{"duplicate From", "From: a@example.com\nFrom: b@example.com\n\nx\n", "From", "can't appear more than once"},
		{"duplicate From, different case", "From: a@example.com\nfrom: a@example.com\n\nx\n", "from", "can't appear more than once"},
		{"duplicate Subject", "From: a@example.com\nSubject: a\nSubject: b\n\nx\n", "Subject", "can't appear more than once"},
		{"duplicate Content-Type", "From: a@example.com\nContent-Type: text/plain\nContent-Type: text/html\n\nx\n", "Content-Type", "can't appear more than once"},
		{"duplicate Message-ID", "From: a@example.com\nMessage-ID: <a@x>\nMessage-ID: <b@x>\n\nx\n", "Message-ID", "can't appear more than once"},
		{"two From addresses", "From: a@example.com, b@example.com\n\nx\n", "From", "exactly one address"},
		{"empty From", "From:\n\nx\n", "From", "exactly one address"},
		{"bad From", "From: not an address\n\nx\n", "From", "not a valid address list"},
		{"From with bad domain", "From: a@-bad.example\n\nx\n", "From", "hyphen"},
		{"bad To", "From: a@example.com\nTo: b@\n\nx\n", "To", "not a valid address list"},
		{"bad Bcc", "From: a@example.com\nBcc: <<>>\n\nx\n", "Bcc", "not a valid address list"},
		{"two Sender addresses", "From: a@example.com\nSender: a@example.com, b@example.com\n\nx\n", "Sender", "exactly one"},
		{"bad Return-Path", "From: a@example.com\nReturn-Path: <nope>\n\nx\n", "Return-Path", "not a valid"},
		{"long header line", "From: a@example.com\nX-Long: " + strings.Repeat("a", 991) + "\n\nx\n", "X-Long", "longer than 998"},
		{"long continuation line", "From: a@example.com\nX-Long: a\n " + strings.Repeat("a", 998) + "\n\nx\n", "X-Long", "longer than 998"},
		{"long body line", "From: a@example.com\n\nok\n" + strings.Repeat("b", 999) + "\n", "Raw", "Line 2 of the message body"},
		{"continuation first", " From: a@example.com\n\nx\n", "Raw", "continuation"},
		{"no colon", "From: a@example.com\nnot a header\n\nx\n", "Raw", "no colon"},
		{"empty field name", "From: a@example.com\n: value\n\nx\n", "Raw", "field name"},
		{"bad field name", "From: a@example.com\nX\x01Y: v\n\nx\n", "Raw", "field name"},
		{"8-bit field name", "From: a@example.com\nX-\xc3\xa4: v\n\nx\n", "Raw", "field name"},
		{"duplicate configuration set", "From: a@example.com\nX-SES-CONFIGURATION-SET: a\nX-SES-CONFIGURATION-SET: b\n\nx\n", "X-SES-CONFIGURATION-SET", "more than once"},
		{"empty configuration set", "From: a@example.com\nX-SES-CONFIGURATION-SET:\n\nx\n", "X-SES-CONFIGURATION-SET", "must name"},
		{"tag without =", "From: a@example.com\nX-SES-MESSAGE-TAGS: a=1, b\n\nx\n", "X-SES-MESSAGE-TAGS", "no '='"},
		{"bad tag name", "From: a@example.com\nX-SES-MESSAGE-TAGS: a.b=1\n\nx\n", "X-SES-MESSAGE-TAGS[0].Name", "Invalid tag name a.b"},
		{"bad tag value", "From: a@example.com\nX-SES-MESSAGE-TAGS: a=1, b=x y\n\nx\n", "X-SES-MESSAGE-TAGS[1].Value", "Invalid tag value x y"},
		{"empty tag value", "From: a@example.com\nX-SES-MESSAGE-TAGS: a=\n\nx\n", "X-SES-MESSAGE-TAGS[0].Value", "must be specified"},
		{"51 tags over two fields", "From: a@example.com\nX-SES-MESSAGE-TAGS: " + tagList(0, 30) + "\nX-SES-MESSAGE-TAGS: " + tagList(30, 21) + "\n\nx\n",
			"X-SES-MESSAGE-TAGS", "X-SES-MESSAGE-TAGS has 51 tags; a message may have at most 50."},
		{"20,000 tags", "From: a@example.com\nX-SES-MESSAGE-TAGS: " + strings.Repeat("a=1,\n ", 20000) + "\n\nx\n", "X-SES-MESSAGE-TAGS", "has 20000 tags"},
		{"tag name repeated in another field", "From: a@example.com\nX-SES-MESSAGE-TAGS: a=1, b=2\nX-SES-MESSAGE-TAGS: c=3, a=4\n\nx\n",
			"X-SES-MESSAGE-TAGS[3].Name", "X-SES-MESSAGE-TAGS gives the tag name a more than once (X-SES-MESSAGE-TAGS[0] and X-SES-MESSAGE-TAGS[3])"},
		{"tag value too long", "From: a@example.com\nX-SES-MESSAGE-TAGS: a=" + strings.Repeat("v", 256) + "\n\nx\n", "X-SES-MESSAGE-TAGS[0].Value",
			"Header X-SES-MESSAGE-TAGS: Tag value cannot exceed 255 characters."},
		{"duplicate source arn", "From: a@example.com\nX-SES-SOURCE-ARN: a\nx-ses-source-arn: b\n\nx\n", "X-SES-SOURCE-ARN", "more than once"},
		{"empty from arn", "From: a@example.com\nX-SES-FROM-ARN: \n\nx\n", "X-SES-FROM-ARN", "must not be empty"},
		{"list management without list", "From: a@example.com\nX-SES-LIST-MANAGEMENT-OPTIONS: ; topic=t\n\nx\n", "X-SES-LIST-MANAGEMENT-OPTIONS", "contact list"},
		{"list management bad param", "From: a@example.com\nX-SES-LIST-MANAGEMENT-OPTIONS: l; color=red\n\nx\n", "X-SES-LIST-MANAGEMENT-OPTIONS", "topic="},
		{"multipart without boundary", "From: a@example.com\nContent-Type: multipart/mixed\n\nx\n", "Raw", "boundary parameter"},
		{"multipart without parts", "From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\nno parts here\n", "Raw", "no parts"},
		{"multipart without closing boundary", "From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n", "Raw", "malformed"},
		{"multipart with bad part header", "From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n--b\nbad header\n\nx\n--b--\n", "Raw", "malformed"},
		{"nested multipart without closing boundary", "From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/alternative; boundary=c\n\n--c\n\nx\n--b--\n", "Raw", "malformed"},
		{"multipart nested too deep", nested(40), "Raw", "nested more than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := compose.NormalizeRaw([]byte(c.in), fixedOptions())
			if err == nil {
				t.Fatalf("accepted:\n%s", m.Bytes)
			}
			wantInvalid(t, err, c.field, c.rule)
		})
	}
}

// tagList returns n X-SES-MESSAGE-TAGS items, "t<from>=v, ...", folded.
func tagList(from, n int) string {
	l := make([]string, n)
	for i := range l {
		l[i] = "t" + strconv.Itoa(from+i) + "=v"
	}
	return strings.Join(l, ",\n ")
}

// nested returns a message whose multiparts nest depth deep.
func nested(depth int) string {
	var b strings.Builder
	b.WriteString("From: a@example.com\nContent-Type: multipart/mixed; boundary=b0\n\n")
	for i := 1; i < depth; i++ {
		b.WriteString("--b" + strconv.Itoa(i-1) + "\nContent-Type: multipart/mixed; boundary=b" + strconv.Itoa(i) + "\n\n")
	}
	b.WriteString("--b" + strconv.Itoa(depth-1) + "\n\nx\n")
	for i := depth - 1; i >= 0; i-- {
		b.WriteString("--b" + strconv.Itoa(i) + "--\n")
	}
	return b.String()
}

func TestNormalizeRawNesting(t *testing.T) {
	// 32 levels are accepted, and the structure parses.
	m, err := compose.NormalizeRaw([]byte(nested(32)), fixedOptions())
	if err != nil {
		t.Fatal(err)
	}
	checkNormalForm(t, m.Bytes)
}
