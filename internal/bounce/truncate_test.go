package bounce

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/testkit"
)

// prefixLimit stands for how much of a report the feedback MX keeps
// (feedback.DefaultMaxPrefixBytes is 1 MiB; the rest of the stream is
// discarded). A smaller cut keeps the test quick: every corpus message is
// under 80 KiB, so it still falls well inside the grown last part, and
// Parse reads no part beyond its limits (maxDecoded, maxTextScan) either
// way. The feedback MX's own tests send a DSN larger than 1 MiB.
const prefixLimit = 256 << 10

// TestCorpusTruncated: a report whose enclosed original is large reaches
// Parse cut at the feedback MX's prefix limit, mid-part with no closing
// boundary. Each multipart corpus message, its last part (the returned
// message or header, as reporting MTAs order them) grown past the limit
// and then cut there, gives the same verdict as the whole message.
// (Mbox files holding several messages and single-part messages have no
// enclosed part to grow: the feedback MX gets one message per
// transaction, and a single-part report is cut only when its text is
// itself over the limit.)
func TestCorpusTruncated(t *testing.T) {
	dir := testkit.SharedDir(t, "testdata/bounces")
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		whole, err := Parse(b)
		if err != nil || bytes.HasPrefix(b, []byte("From ")) {
			continue // TestCorpus reports errors; an mbox file
		}
		big, ok := grow(b, prefixLimit+64<<10)
		if !ok {
			continue
		}
		checked++
		cut, err := Parse(big[:prefixLimit])
		if err != nil {
			t.Errorf("%s cut at %d bytes: %v", filepath.Base(f), prefixLimit, err)
			continue
		}
		if w, c := verdict(whole), verdict(cut); w != c {
			t.Errorf("%s: whole: %s\ncut at %d bytes: %s", filepath.Base(f), w, prefixLimit, c)
		}
	}
	t.Logf("%d of %d corpus messages grown and cut", checked, len(files))
	if checked < 190 {
		t.Errorf("only %d messages grown and cut; the corpus has more multipart reports than that", checked)
	}
}

var boundaryRe = regexp.MustCompile(`(?is)boundary\s*=\s*"?([^";\r\n]+)"?`)

// grow returns msg, a multipart message, with filler lines added at the
// end of its last part (before the top-level closing boundary) so that it
// is at least n bytes long; false when msg is not multipart with a
// closing boundary.
func grow(msg []byte, n int) ([]byte, bool) {
	hdr, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	if bytes.Equal(hdr, msg) {
		hdr, _, _ = bytes.Cut(msg, []byte("\n\n"))
	}
	m := boundaryRe.FindSubmatch(hdr)
	if m == nil {
		return nil, false
	}
	at := bytes.LastIndex(msg, append(append([]byte("\n--"), m[1]...), "--"...)) + 1
	if at == 0 {
		return nil, false
	}
	var fill bytes.Buffer
	fill.WriteString("\r\n")
	for fill.Len() < n-len(msg) {
		fill.WriteString(strings.Repeat("x", 76) + "\r\n")
	}
	out := make([]byte, 0, len(msg)+fill.Len())
	out = append(out, msg[:at]...)
	out = append(out, fill.Bytes()...)
	return append(out, msg[at:]...), true
}

// verdict is what the feedback MX uses of a report, in one line.
func verdict(r *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s", r.Kind, r.Format)
	if r.Complaint != nil {
		fmt.Fprintf(&b, " %s", r.Complaint.FeedbackType)
	}
	for _, rc := range r.Recipients {
		fmt.Fprintf(&b, " [%s %s %s %s/%s %v %v]", rc.Address, rc.Action, rc.Status, rc.BounceType, rc.BounceSubType, rc.Suppress, rc.Source)
	}
	return b.String()
}
