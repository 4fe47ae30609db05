package compose_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/google/go-cmp/cmp"

	"github.com/sesame-email/sesame/internal/compose"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// fixedOptions are the Options of every golden case: a fixed clock, a fixed
// MessageId and boundaries numbered in document order.
func fixedOptions() compose.Options {
	n := 0
	return compose.Options{
		Now:       func() time.Time { return time.Date(2025, 6, 1, 12, 30, 45, 0, time.FixedZone("CEST", 2*3600)) },
		MessageID: "010001978a5b3c4d-5e6f7a8b-1c2d-4e5f-9a0b-1c2d3e4f5a6b-000000",
		Domain:    "us-east-1.sesame.test",
		Boundary: func() string {
			n++
			return fmt.Sprintf("=_sesame_%d", n)
		},
	}
}

// A golden file holds one case: sections introduced by "-- name --" lines,
// the input first, then the expected outputs. Messages are stored with LF
// line endings; the tests check that the real output uses CRLF throughout
// before comparing.
type section struct{ name, body string }

func parseSections(t *testing.T, data string) []section {
	t.Helper()
	var out []section
	for _, line := range strings.SplitAfter(data, "\n") {
		if strings.HasPrefix(line, "-- ") && strings.HasSuffix(line, " --\n") {
			out = append(out, section{name: strings.TrimSuffix(strings.TrimPrefix(line, "-- "), " --\n")})
			continue
		}
		if len(out) == 0 {
			if strings.TrimSpace(line) != "" {
				t.Fatalf("text before the first section: %q", line)
			}
			continue
		}
		out[len(out)-1].body += line
	}
	return out
}

func formatSections(ss []section) string {
	var b strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&b, "-- %s --\n%s", s.name, s.body)
		if !strings.HasSuffix(s.body, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// runGolden runs fn on the input section of every file in dir and compares
// the sections it returns with the rest of the file.
func runGolden(t *testing.T, dir string, fn func(t *testing.T, input string) []section) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", dir, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files in %s: %v", dir, err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			ss := parseSections(t, string(data))
			if len(ss) == 0 || ss[0].name != "input" {
				t.Fatalf("%s: the first section must be \"input\"", file)
			}
			got := append([]section{ss[0]}, fn(t, ss[0].body)...)
			if *update {
				if err := os.WriteFile(file, []byte(formatSections(got)), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if diff := cmp.Diff(formatSections(ss), formatSections(got)); diff != "" {
				t.Errorf("%s differs (-want +got; run go test -update to rewrite):\n%s", file, diff)
			}
		})
	}
}

func TestBuildGolden(t *testing.T) {
	runGolden(t, "build", func(t *testing.T, input string) []section {
		var s compose.Simple
		dec := json.NewDecoder(strings.NewReader(input))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("input: %v", err)
		}
		m, err := compose.Build(s, fixedOptions())
		if err != nil {
			return []section{errorSection(t, err)}
		}
		checkWire(t, m.Bytes)
		checkBuilt(t, s, m)
		checkNormalForm(t, m.Bytes)
		return messageSections(t, m)
	})
}

func TestNormalizeRawGolden(t *testing.T) {
	runGolden(t, "raw", func(t *testing.T, input string) []section {
		m, err := compose.NormalizeRaw([]byte(input), fixedOptions())
		// The same message with CRLF line endings gives the same result.
		m2, err2 := compose.NormalizeRaw([]byte(strings.ReplaceAll(input, "\n", "\r\n")), fixedOptions())
		if (err == nil) != (err2 == nil) || err == nil && !bytes.Equal(m.Bytes, m2.Bytes) {
			t.Errorf("LF and CRLF input differ: %v / %v", err, err2)
		}
		if err != nil {
			return []section{errorSection(t, err)}
		}
		checkWire(t, m.Bytes)
		checkNormalForm(t, m.Bytes)
		return messageSections(t, m)
	})
}

func errorSection(t *testing.T, err error) section {
	t.Helper()
	e, ok := err.(*compose.Error)
	if !ok {
		t.Fatalf("error %v is a %T, not a *compose.Error", err, err)
	}
	return section{"error", e.Field + ": " + e.Msg + "\n"}
}

func messageSections(t *testing.T, m *compose.Message) []section {
	t.Helper()
	var v bytes.Buffer
	enc := json.NewEncoder(&v)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(viewOf(m)); err != nil {
		t.Fatal(err)
	}
	return []section{
		{"message.eml", strings.ReplaceAll(string(m.Bytes), "\r\n", "\n")},
		{"structure", structure(t, m.Bytes)},
		{"message.json", v.String()},
	}
}

// view is Message without its bytes, for golden files.
type view struct {
	From             string
	Sender           string   `json:",omitempty"`
	ReplyTo          []string `json:",omitempty"`
	To               []string `json:",omitempty"`
	Cc               []string `json:",omitempty"`
	Bcc              []string `json:",omitempty"`
	ReturnPath       string   `json:",omitempty"`
	Subject          string
	ConfigurationSet string                  `json:",omitempty"`
	Tags             []compose.Tag           `json:",omitempty"`
	SourceArn        string                  `json:",omitempty"`
	FromArn          string                  `json:",omitempty"`
	ReturnPathArn    string                  `json:",omitempty"`
	ListManagement   *compose.ListManagement `json:",omitempty"`
	Recipients       []string                `json:",omitempty"`
	Headers          []compose.Header
}

func mbView(m compose.Mailbox) string {
	if m.Name == "" {
		return m.Address.String()
	}
	return m.Name + " <" + m.Address.String() + ">"
}

func mbViews(ms []compose.Mailbox) []string {
	var out []string
	for _, m := range ms {
		out = append(out, mbView(m))
	}
	return out
}

func viewOf(m *compose.Message) view {
	v := view{
		From: mbView(m.From), ReplyTo: mbViews(m.ReplyTo), To: mbViews(m.To), Cc: mbViews(m.Cc), Bcc: mbViews(m.Bcc),
		Subject: m.Subject, ConfigurationSet: m.ConfigurationSet, Tags: m.Tags, SourceArn: m.SourceArn,
		FromArn: m.FromArn, ReturnPathArn: m.ReturnPathArn, ListManagement: m.ListManagement, Headers: m.Headers,
	}
	if m.Sender != nil {
		v.Sender = mbView(*m.Sender)
	}
	if m.ReturnPath != nil {
		v.ReturnPath = mbView(*m.ReturnPath)
	}
	for _, a := range m.Recipients() {
		v.Recipients = append(v.Recipients, a.String())
	}
	return v
}

// structure parses b with go-message and describes its MIME tree, with each
// leaf's decoded content (text converted to UTF-8).
func structure(t *testing.T, b []byte) string {
	t.Helper()
	e, err := message.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("go-message cannot read the message: %v", err)
	}
	var out strings.Builder
	err = e.Walk(func(path []int, ent *message.Entity, err error) error {
		if err != nil {
			return err
		}
		mt, params, _ := ent.Header.ContentType()
		fmt.Fprintf(&out, "%s%s", strings.Repeat("  ", len(path)), mt)
		if cs := params["charset"]; cs != "" {
			fmt.Fprintf(&out, " charset=%s", cs)
		}
		if d, dp, err := ent.Header.ContentDisposition(); err == nil && d != "" {
			fmt.Fprintf(&out, " %s filename=%q", d, dp["filename"])
		}
		if id := ent.Header.Get("Content-Id"); id != "" {
			fmt.Fprintf(&out, " id=%s", id)
		}
		if ent.MultipartReader() == nil {
			body, err := io.ReadAll(ent.Body)
			if err != nil {
				return fmt.Errorf("part %v: %w", path, err)
			}
			if strings.HasPrefix(mt, "text/") || mt == "" {
				fmt.Fprintf(&out, " %q", body)
			} else {
				fmt.Fprintf(&out, " %d bytes sha256:%x", len(body), sha256.Sum256(body))
			}
		}
		out.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	return out.String()
}

// checkWire checks what every output must satisfy: CRLF line endings only,
// lines of at most 998 octets, a final CRLF, a header/body separator, no
// Bcc, Return-Path or SES control header.
func checkWire(t *testing.T, b []byte) {
	t.Helper()
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			t.Fatalf("bare LF at offset %d", i)
		}
		if c == '\r' && (i+1 >= len(b) || b[i+1] != '\n') {
			t.Fatalf("bare CR at offset %d", i)
		}
	}
	if !bytes.HasSuffix(b, []byte("\r\n")) {
		t.Fatalf("message does not end with CRLF")
	}
	for n, line := range bytes.Split(b, []byte("\r\n")) {
		if len(line) > compose.MaxLineLength {
			t.Fatalf("line %d is %d octets long", n+1, len(line))
		}
	}
	head, _, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok && !bytes.HasPrefix(b, []byte("\r\n")) {
		t.Fatalf("no header/body separator")
	}
	for _, line := range bytes.Split(head, []byte("\r\n")) {
		l := strings.ToLower(string(line))
		name, _, _ := strings.Cut(l, ":")
		switch strings.TrimSpace(name) {
		case "bcc", "return-path", "x-ses-configuration-set", "x-ses-message-tags", "x-ses-source-arn",
			"x-ses-from-arn", "x-ses-return-path-arn", "x-ses-list-management-options":
			t.Fatalf("header %q must not be in the output", line)
		}
	}
}

// checkNormalForm checks that normalising an output again changes nothing.
func checkNormalForm(t *testing.T, b []byte) {
	t.Helper()
	m, err := compose.NormalizeRaw(b, fixedOptions())
	if err != nil {
		t.Fatalf("NormalizeRaw of the output: %v", err)
	}
	if !bytes.Equal(m.Bytes, b) {
		t.Fatalf("NormalizeRaw changed the output:\n%s", cmp.Diff(string(b), string(m.Bytes)))
	}
}
