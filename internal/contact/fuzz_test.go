package contact

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzRowReader: any bytes, in either format and for either destination,
// read to the end without a panic or an endless loop; every record is a
// row or a *RowError with a line from 1 that never goes backwards, and the
// same bytes read twice give the same answers (the worker's resume relies
// on it).
func FuzzRowReader(f *testing.F) {
	f.Add([]byte("emailAddress,unsubscribeAll,attributesData,topic:news\na@example.test,true,\"{\"\"x\"\":1}\",OPT_IN\n"), true, true)
	f.Add([]byte("emailAddress,reason\nb@example.test,BOUNCE\n\"unterminated\n"), true, false)
	f.Add([]byte(`{"emailAddress":"a@example.test","topicPreferences":[{"topicName":"news","subscriptionStatus":"OPT_OUT"}],"attributesData":{"a":1}}`+"\n\n{bad\n"), false, true)
	f.Add([]byte(`{"emailAddress":"a@example.test","reason":"COMPLAINT"}`), false, false)
	f.Add([]byte("\ufeffEmailAddress\r\nx@example.test\r\n"), true, true)
	f.Fuzz(func(t *testing.T, data []byte, csvFormat, toList bool) {
		format, dest := FormatJSON, DestSuppressionList
		if csvFormat {
			format = FormatCSV
		}
		if toList {
			dest = DestContactList
		}
		read := func() []string {
			rr, err := NewRowReader(bytes.NewReader(data), format, dest)
			if err != nil {
				return []string{"header: " + err.Error()}
			}
			var out []string
			last := 0
			for n := 0; ; n++ {
				if n > len(data)+1 {
					t.Fatalf("more records (%d) than bytes (%d)", n, len(data))
				}
				row, err := rr.Next()
				if errors.Is(err, io.EOF) {
					return out
				}
				line := row.Line
				var re *RowError
				switch {
				case errors.As(err, &re):
					line = re.Line
					out = append(out, re.Error())
				case err != nil:
					t.Fatalf("Next: %v", err)
				default:
					out = append(out, row.Contact.Address+"|"+row.Reason)
				}
				if line < 1 || line < last {
					t.Fatalf("line %d after %d", line, last)
				}
				last = line
			}
		}
		a, b := read(), read()
		if len(a) != len(b) {
			t.Fatalf("two reads differ: %d and %d records", len(a), len(b))
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("two reads differ at %d: %q, %q", i, a[i], b[i])
			}
		}
	})
}
