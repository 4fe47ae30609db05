package contact

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The import file formats (DataFormat).
const (
	FormatCSV  = "CSV"
	FormatJSON = "JSON"
)

// The import destinations.
const (
	DestContactList     = "CONTACT_LIST"
	DestSuppressionList = "SUPPRESSION_LIST"
)

// Row is one record of an import file.
type Row struct {
	Line    int // the line it starts on, from 1
	Contact ContactInput
	Reason  string // a suppression list row's reason (BOUNCE or COMPLAINT)
}

// RowError is a record that cannot be read; the file reads on after it.
type RowError struct {
	Line   int
	Reason string
}

func (e *RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// maxLine bounds one record: a longer line of a JSON file is a RowError;
// a longer record of a CSV file (which cannot be resynchronised: a quote
// may run over lines) stops the file with ErrRecordTooLong.
const maxLine = 1 << 20

// ErrRecordTooLong is a CSV record longer than maxLine: encoding/csv
// keeps a whole record in memory, so a file of one endless quoted field
// would take the server's memory without this bound.
var ErrRecordTooLong = fmt.Errorf("a record is longer than %d bytes", maxLine)

// recordLimit is the CSV reader's source: it refuses to read on once the
// bytes read past the end of the last whole record (csv.Reader's
// InputOffset) exceed maxLine and the read-ahead of csv's buffer.
type recordLimit struct {
	r    io.Reader
	csv  *csv.Reader
	read int64
}

// csvReadAhead is more than csv.Reader's buffer (bufio's default, 4 KiB).
const csvReadAhead = 64 << 10

func (l *recordLimit) Read(p []byte) (int, error) {
	if l.read-l.csv.InputOffset() > maxLine+csvReadAhead {
		return 0, ErrRecordTooLong
	}
	if len(p) > csvReadAhead {
		p = p[:csvReadAhead]
	}
	n, err := l.r.Read(p)
	l.read += int64(n)
	return n, err
}

// RowReader reads the records of an import file. The file rules:
//
// CSV: a header line naming the columns, in any order and case:
// emailAddress (required), then for a contact list unsubscribeAll (true
// or false), attributesData (a JSON document) and one column
// "topic:<TopicName>" per topic (OPT_IN, OPT_OUT or empty for no
// preference); for the suppression list reason (BOUNCE or COMPLAINT).
//
// JSON: one JSON object per line (JSON Lines), with the members
// emailAddress, unsubscribeAll, attributesData (a string, or a JSON value
// taken as its text), topicPreferences ([{"topicName", "subscriptionStatus"}])
// for a contact list, and reason for the suppression list. Blank lines
// are skipped.
type RowReader struct {
	format string
	dest   string
	// CSV
	csv     *csv.Reader
	columns []string // header, lower-cased fixed names; topic:<Name> as given
	// JSON
	br   *bufio.Reader
	line int
}

// NewRowReader returns a reader of r in the format (FormatCSV or
// FormatJSON) for the destination (DestContactList or
// DestSuppressionList). A CSV header that is missing or names an unknown
// column is an error here.
func NewRowReader(r io.Reader, format, dest string) (*RowReader, error) {
	rr := &RowReader{format: format, dest: dest}
	switch format {
	case FormatJSON:
		rr.br = bufio.NewReaderSize(r, 64<<10)
		return rr, nil
	case FormatCSV:
	default:
		return nil, fmt.Errorf("unknown data format %q", format)
	}
	lim := &recordLimit{r: r}
	rr.csv = csv.NewReader(lim)
	lim.csv = rr.csv
	rr.csv.FieldsPerRecord = -1
	head, err := rr.csv.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the CSV file is empty: it needs a header line naming its columns")
	}
	if err != nil {
		return nil, fmt.Errorf("CSV header: %w", err)
	}
	seen := map[string]bool{}
	for i, h := range head {
		h = strings.TrimSpace(h)
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff") // a spreadsheet's byte order mark
		}
		name := strings.ToLower(h)
		switch {
		case name == "emailaddress":
		case dest == DestContactList && (name == "unsubscribeall" || name == "attributesdata"):
		case dest == DestContactList && strings.HasPrefix(name, "topic:") && len(h) > len("topic:"):
			name = "topic:" + h[len("topic:"):]
		case dest == DestSuppressionList && name == "reason":
		default:
			return nil, fmt.Errorf("CSV header: unknown column %q (column %d)", h, i+1)
		}
		if seen[name] {
			return nil, fmt.Errorf("CSV header: column %q appears twice", h)
		}
		seen[name] = true
		rr.columns = append(rr.columns, name)
	}
	if !seen["emailaddress"] {
		return nil, errors.New("CSV header: the emailAddress column is required")
	}
	return rr, nil
}

// Next returns the next record: io.EOF after the last, a *RowError for a
// record that cannot be read (call Next again for the one after), or
// another error when the file cannot be read further.
func (rr *RowReader) Next() (Row, error) {
	if rr.csv != nil {
		return rr.nextCSV()
	}
	return rr.nextJSON()
}

func (rr *RowReader) nextCSV() (Row, error) {
	rec, err := rr.csv.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return Row{}, &RowError{Line: pe.StartLine, Reason: pe.Err.Error()}
		}
		return Row{}, err
	}
	line, _ := rr.csv.FieldPos(0)
	row := Row{Line: line}
	if len(rec) != len(rr.columns) {
		return Row{}, &RowError{Line: line, Reason: fmt.Sprintf("%d fields, but the header names %d columns", len(rec), len(rr.columns))}
	}
	for i, v := range rec {
		switch col := rr.columns[i]; {
		case col == "emailaddress":
			row.Contact.Address = v
		case col == "unsubscribeall":
			b, err := parseBool(v)
			if err != nil {
				return Row{}, &RowError{Line: line, Reason: err.Error()}
			}
			row.Contact.UnsubscribeAll = b
		case col == "attributesdata":
			row.Contact.AttributesData = v
		case col == "reason":
			row.Reason = strings.TrimSpace(v)
		default: // topic:<Name>
			v = strings.TrimSpace(v)
			if v == "" {
				continue
			}
			row.Contact.Preferences = append(row.Contact.Preferences, Preference{TopicName: col[len("topic:"):], SubscriptionStatus: Status(strings.ToUpper(v))})
		}
	}
	return row, nil
}

func parseBool(v string) (bool, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("unsubscribeAll %q is not true or false", v)
	}
	return b, nil
}

// jsonRow is a JSON record; member names match in any case.
type jsonRow struct {
	EmailAddress     *string         `json:"emailAddress"`
	UnsubscribeAll   *bool           `json:"unsubscribeAll"`
	AttributesData   json.RawMessage `json:"attributesData"`
	TopicPreferences []struct {
		TopicName          string `json:"topicName"`
		SubscriptionStatus string `json:"subscriptionStatus"`
	} `json:"topicPreferences"`
	Reason *string `json:"reason"`
}

func (rr *RowReader) nextJSON() (Row, error) {
	for {
		line, tooLong, err := rr.readLine()
		if err != nil {
			return Row{}, err
		}
		rr.line++
		if tooLong {
			return Row{}, &RowError{Line: rr.line, Reason: fmt.Sprintf("the line is longer than %d bytes", maxLine)}
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var jr jsonRow
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&jr); err != nil {
			return Row{}, &RowError{Line: rr.line, Reason: "not a JSON object of a contact: " + err.Error()}
		}
		if dec.More() {
			return Row{}, &RowError{Line: rr.line, Reason: "more than one JSON value on the line"}
		}
		row := Row{Line: rr.line}
		if jr.EmailAddress == nil {
			return Row{}, &RowError{Line: rr.line, Reason: "emailAddress is required"}
		}
		row.Contact.Address = *jr.EmailAddress
		if rr.dest == DestSuppressionList {
			if jr.UnsubscribeAll != nil || jr.AttributesData != nil || jr.TopicPreferences != nil {
				return Row{}, &RowError{Line: rr.line, Reason: "a suppression list record has only emailAddress and reason"}
			}
			if jr.Reason != nil {
				row.Reason = *jr.Reason
			}
			return row, nil
		}
		if jr.Reason != nil {
			return Row{}, &RowError{Line: rr.line, Reason: "reason belongs to suppression list records"}
		}
		if jr.UnsubscribeAll != nil {
			row.Contact.UnsubscribeAll = *jr.UnsubscribeAll
		}
		if a := bytes.TrimSpace(jr.AttributesData); len(a) > 0 && !bytes.Equal(a, []byte("null")) {
			var s string
			if a[0] == '"' && json.Unmarshal(a, &s) == nil {
				row.Contact.AttributesData = s
			} else {
				row.Contact.AttributesData = string(a)
			}
		}
		for _, p := range jr.TopicPreferences {
			row.Contact.Preferences = append(row.Contact.Preferences, Preference{TopicName: p.TopicName, SubscriptionStatus: Status(p.SubscriptionStatus)})
		}
		return row, nil
	}
}

// readLine returns the next line without its end; tooLong when it was
// longer than maxLine (its rest is skipped). io.EOF after the last line.
func (rr *RowReader) readLine() (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		part, err := rr.br.ReadSlice('\n')
		if len(buf)+len(part) > maxLine {
			tooLong = true
			buf = buf[:0]
		} else if !tooLong {
			buf = append(buf, part...)
		}
		switch {
		case err == nil:
			return buf, tooLong, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(buf) == 0 && !tooLong {
				return nil, false, io.EOF
			}
			return buf, tooLong, nil
		default:
			return nil, false, err
		}
	}
}
