package bounce

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/smtpcode"
	"github.com/sesame-email/sesame/internal/testkit"
)

// corpusRow is one line of the corpus's expected.tsv (see its README).
type corpusRow struct {
	file, recipient, status, reason, hardBounce, actionOrFeedback, replyCode, dsnStatus, dsnAction string
}

func readCorpus(t *testing.T) (dir string, rows []corpusRow) {
	t.Helper()
	dir = testkit.SharedDir(t, "testdata/bounces")
	b, err := os.ReadFile(filepath.Join(dir, "expected.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "file\trecipient\tstatus\t") {
		t.Fatalf("expected.tsv: unexpected header %q", lines[0])
	}
	for n, l := range lines[1:] {
		c := strings.Split(l, "\t")
		if len(c) < 9 {
			t.Fatalf("expected.tsv line %d: %d columns", n+2, len(c))
		}
		rows = append(rows, corpusRow{c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]})
	}
	return dir, rows
}

// family is the file name without "-NN.eml".
func family(file string) string {
	f := strings.TrimSuffix(file, ".eml")
	if i := strings.LastIndexByte(f, '-'); i > 0 {
		return f[:i]
	}
	return f
}

func findRecipient(r *Report, addr string) *Recipient {
	for i := range r.Recipients {
		if strings.EqualFold(r.Recipients[i].Address, addr) {
			return &r.Recipients[i]
		}
	}
	return nil
}

func class(status string) string {
	if status == "" {
		return ""
	}
	return status[:1]
}

// TestCorpus parses every message of the shared corpus and compares the
// result with expected.tsv: the RFC-defined values must match exactly;
// the agreement over all rows (recipient and status class) is measured
// and must stay above a floor.
func TestCorpus(t *testing.T) {
	dir, rows := readCorpus(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	reports := map[string]*Report{}
	raw := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Parse(b)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		reports[filepath.Base(f)] = r
		raw[filepath.Base(f)] = b
	}

	// Precision: recipients reported that expected.tsv does not list.
	expected := map[string]map[string]bool{}
	for _, row := range rows {
		if expected[row.file] == nil {
			expected[row.file] = map[string]bool{}
		}
		expected[row.file][strings.ToLower(row.recipient)] = true
	}
	extra := 0
	for file, r := range reports {
		for _, rc := range r.Recipients {
			if exp, ok := expected[file]; ok && !exp[strings.ToLower(rc.Address)] && !exp[""] {
				extra++
				if testing.Verbose() {
					t.Logf("extra [%s] %s: %s %s (%s)", family(file), file, rc.Address, rc.Status, rc.Reason)
				}
			}
		}
	}

	type tally struct{ agree, total int }
	var all, dsn, nondsn tally
	misses := map[string][]string{}
	kept5 := 0
	for _, row := range rows {
		r := reports[row.file]
		if r == nil {
			t.Errorf("%s: no report", row.file)
			continue
		}
		rc := findRecipient(r, row.recipient)
		hasARF := bytes.Contains(bytes.ToLower(raw[row.file]), []byte("message/feedback-report"))

		// Must hold exactly.
		switch {
		case row.dsnStatus != "":
			switch {
			case rc == nil:
				t.Errorf("%s: recipient %s not found; got %s", row.file, row.recipient, summary(r))
			default:
				if rc.Status != row.dsnStatus {
					t.Errorf("%s: %s: status %q, want %q", row.file, row.recipient, rc.Status, row.dsnStatus)
				}
				if row.dsnAction != "" && rc.Action != row.dsnAction {
					t.Errorf("%s: %s: action %q, want %q", row.file, row.recipient, rc.Action, row.dsnAction)
				}
				switch class(row.dsnStatus) {
				case "2":
					if r.Kind != KindDelivered {
						t.Errorf("%s: kind %s, want delivered", row.file, r.Kind)
					}
				case "4":
					if r.Kind != KindBounce || rc.BounceType != smtpcode.BounceTransient {
						t.Errorf("%s: %s: kind %s, bounce type %s; want bounce, Transient", row.file, row.recipient, r.Kind, rc.BounceType)
					}
				case "5":
					// Permanent: the class decides. Whether the address
					// is suppressed is a separate verdict; count the
					// permanent refusals that are not.
					if r.Kind != KindBounce || rc.BounceType != smtpcode.BouncePermanent {
						t.Errorf("%s: %s: kind %s, bounce type %s; want bounce, Permanent", row.file, row.recipient, r.Kind, rc.BounceType)
					}
					if !rc.Suppress {
						kept5++
						if testing.Verbose() {
							t.Logf("5.x.x, not suppressed: %s %s %s: %s", row.file, rc.Address, rc.Status, rc.Reason)
						}
					}
				}
			}
		case row.reason == "feedback" && hasARF:
			if r.Kind != KindComplaint || r.Complaint == nil || r.Complaint.FeedbackType != row.actionOrFeedback {
				t.Errorf("%s: got %s, want a complaint of type %s", row.file, summary(r), row.actionOrFeedback)
			}
			if row.recipient != "" && rc == nil {
				t.Errorf("%s: complained recipient %s not found; got %s", row.file, row.recipient, summary(r))
			}
		case row.reason == "vacation":
			if r.Kind != KindAutoReply {
				t.Errorf("%s: kind %s, want auto-reply", row.file, r.Kind)
			}
		}
		if row.reason == "delivered" && r.Kind == KindBounce {
			t.Errorf("%s: a success DSN parsed as a bounce", row.file)
		}

		// Measured.
		ok := false
		switch row.reason {
		case "feedback":
			ok = r.Kind == KindComplaint && (row.recipient == "" || rc != nil)
		case "vacation":
			ok = r.Kind == KindAutoReply && rc != nil
		case "delivered":
			ok = r.Kind == KindDelivered && rc != nil
		default:
			ok = r.Kind == KindBounce && rc != nil && class(rc.Status) == class(row.status)
		}
		tl := &nondsn
		if row.dsnStatus != "" {
			tl = &dsn
		}
		for _, x := range []*tally{&all, tl} {
			x.total++
			if ok {
				x.agree++
			}
		}
		if !ok {
			got := summary(r)
			if rc != nil {
				got = fmt.Sprintf("%s %s (%s)", rc.Address, rc.Status, rc.Reason)
			}
			misses[family(row.file)] = append(misses[family(row.file)], fmt.Sprintf("%s want %s %s, got %s", row.file, row.recipient, row.status, got))
		}
	}
	pct := func(x tally) float64 { return 100 * float64(x.agree) / float64(max(x.total, 1)) }
	t.Logf("corpus agreement (recipient and status class): all %d/%d = %.1f%%; DSN rows %d/%d = %.1f%%; other rows %d/%d = %.1f%%; recipients not in expected.tsv: %d; 5.x.x DSN recipients not suppressed (the refusal blames the sender, a policy, the message or a full mailbox): %d",
		all.agree, all.total, pct(all), dsn.agree, dsn.total, pct(dsn), nondsn.agree, nondsn.total, pct(nondsn), extra, kept5)
	if testing.Verbose() {
		fams := make([]string, 0, len(misses))
		for f := range misses {
			fams = append(fams, f)
		}
		sort.Strings(fams)
		for _, f := range fams {
			for _, m := range misses[f] {
				t.Logf("miss [%s] %s", f, m)
			}
		}
	}
	if pct(all) < 90 {
		t.Errorf("corpus agreement %.1f%% is below the floor of 90%%", pct(all))
	}
}

// summary describes a report in one line for test messages.
func summary(r *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s [", r.Kind, r.Format)
	for i, rc := range r.Recipients {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s %s", rc.Address, rc.Status, rc.Action)
		if i >= 4 {
			b.WriteString(", ...")
			break
		}
	}
	b.WriteString("]")
	return b.String()
}

// BenchmarkParseCorpus parses every message of the shared corpus once per
// iteration; it reports messages/s and bytes/s.
//
//	go test -run '^$' -bench ParseCorpus ./internal/bounce/
func BenchmarkParseCorpus(b *testing.B) {
	dir := testkit.SharedDir(b, "testdata/bounces")
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no corpus files: %v", err)
	}
	var msgs [][]byte
	size := 0
	for _, f := range files {
		m, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, m)
		size += len(m)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, m := range msgs {
			if _, err := Parse(m); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(msgs))/b.Elapsed().Seconds(), "msgs/s")
}
