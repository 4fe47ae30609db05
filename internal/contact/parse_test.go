package contact

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestCSVRecordTooLong: a CSV record longer than maxLine (here a quoted
// field of 16 MiB, as a file of one endless field would be) stops the
// file with ErrRecordTooLong after reading little more than maxLine, so
// the worker never holds such a record in memory; the records before it
// are read as usual.
func TestCSVRecordTooLong(t *testing.T) {
	for _, tc := range []struct{ name, head, field string }{
		{"record", "emailAddress\na@example.test\n\"", strings.Repeat("a", 16<<20) + "\"\n"},
		{"header", "", strings.Repeat("h", 16<<20) + "\n"},
	} {
		src := &countingReader{r: io.MultiReader(strings.NewReader(tc.head), strings.NewReader(tc.field))}
		rr, err := NewRowReader(src, FormatCSV, DestContactList)
		if tc.head == "" {
			if !errors.Is(err, ErrRecordTooLong) {
				t.Errorf("%s: NewRowReader = %.100v, want ErrRecordTooLong", tc.name, err)
			}
		} else {
			if err != nil {
				t.Fatal(err)
			}
			if r, err := rr.Next(); err != nil || r.Contact.Address != "a@example.test" {
				t.Fatalf("%s: first record = %+v, %v", tc.name, r, err)
			}
			r, err := rr.Next()
			var re *RowError
			if !errors.Is(err, ErrRecordTooLong) || errors.As(err, &re) {
				t.Errorf("%s: Next = %d-byte address, %.100v; want ErrRecordTooLong", tc.name, len(r.Contact.Address), err)
			}
		}
		if src.n > 2*maxLine {
			t.Errorf("%s: %d bytes read for a record over %d", tc.name, src.n, maxLine)
		}
	}
	// A record of just under the limit is read.
	long := `{"k":"` + strings.Repeat("x", maxLine-100) + `"}`
	rr, err := NewRowReader(strings.NewReader("emailAddress,attributesData\nb@example.test,\""+strings.ReplaceAll(long, `"`, `""`)+"\"\n"), FormatCSV, DestContactList)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := rr.Next(); err != nil || r.Contact.AttributesData != long {
		t.Errorf("record under the limit: %d bytes of attributes, %v", len(r.Contact.AttributesData), err)
	}
	if _, err := rr.Next(); err != io.EOF {
		t.Errorf("after the last record: %v", err)
	}
}
