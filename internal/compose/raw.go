package compose

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// rawField is one header field of raw mail.
type rawField struct {
	name  string // as written, without trailing white space
	value string // unfolded, trimmed
	raw   []byte // the field's lines, CRLFs included
}

// maxMIMEDepth bounds multipart nesting in raw mail.
const maxMIMEDepth = 32

// NormalizeRaw checks raw mail and puts it in the form SES sends
// (shared/ses-api.md §6 SendRawEmail, §7 SendEmail Content.Raw, §12.2):
//
//   - line endings become CRLF (lone LF and lone CR included) and the
//     message ends with CRLF;
//   - there must be a header and a body separated by a blank line;
//   - no line may exceed 998 octets (RFC 5321 §4.5.3.1.6);
//   - header fields must be well formed; From must be present exactly
//     once with exactly one address ("Missing required header 'From'.");
//     the fields SES allows once (SES header-fields list: From, Subject,
//     Date, Message-ID, Reply-To, Sender, Content-Type, ...) must not
//     repeat; address fields must parse (groups allowed);
//   - a multipart message must be well formed (boundary present, at least
//     one part, closing delimiter, nesting at most 32 deep);
//   - SES's Message-ID and Date replace the sender's (in place, or added at
//     the end of the header);
//   - X-SES-CONFIGURATION-SET, X-SES-MESSAGE-TAGS ("n1=v1, n2=v2", each
//     tag checked like API tags), X-SES-SOURCE-ARN, X-SES-FROM-ARN,
//     X-SES-RETURN-PATH-ARN and X-SES-LIST-MANAGEMENT-OPTIONS
//     ("list; topic=t") are read into the Message and removed; other
//     X-SES-* fields are left alone;
//   - Bcc is removed and its addresses reported; Return-Path is removed
//     and its address reported.
//
// Everything else, the body included (8-bit content too), is kept byte for
// byte, so a signature the sender made over other fields survives.
func NormalizeRaw(raw []byte, o Options) (*Message, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	data := toCRLF(raw)
	var head, body []byte
	if bytes.HasPrefix(data, []byte("\r\n")) {
		body = data[2:]
	} else if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		head, body = data[:i+2], data[i+4:]
	} else {
		return nil, invalid("Raw", "The message has to contain a header and a body, separated by a blank line.")
	}

	fields, err := splitFields(head)
	if err != nil {
		return nil, err
	}
	if n := longLine(body); n > 0 {
		return nil, invalid("Raw", "Line %d of the message body is longer than %d characters; lines must not exceed 1,000 characters including CRLF (RFC 5321 §4.5.3.1.6).", n, MaxLineLength)
	}

	m := &Message{}
	count := map[string]int{}
	var out bytes.Buffer
	out.Grow(len(data) + 200)
	wroteID, wroteDate := false, false
	var contentType string
	tagCount := 0 // in every X-SES-MESSAGE-TAGS field
	for _, f := range fields {
		lname := strings.ToLower(f.name)
		count[lname]++
		if count[lname] > 1 && onceOnly[lname] {
			return nil, invalid(f.name, "Header %s can't appear more than once in a message.", f.name)
		}
		if !strings.HasPrefix(lname, "x-ses-") {
			m.Headers = append(m.Headers, Header{Name: f.name, Value: f.value})
		}
		keep := true
		switch lname {
		case "from":
			l, err := parseAddressList("From", f.value)
			if err != nil {
				return nil, err
			}
			if len(l) != 1 {
				return nil, invalid("From", "The From header must contain exactly one address; it has %d.", len(l))
			}
			m.From = l[0]
		case "sender":
			l, err := parseAddressList("Sender", f.value)
			if err != nil {
				return nil, err
			}
			if len(l) != 1 {
				return nil, invalid("Sender", "The Sender header must contain exactly one address; it has %d.", len(l))
			}
			m.Sender = &l[0]
		case "reply-to":
			if m.ReplyTo, err = parseAddressList("Reply-To", f.value); err != nil {
				return nil, err
			}
		case "to", "cc", "bcc":
			l, err := parseAddressList(canonicalAddressField[lname], f.value)
			if err != nil {
				return nil, err
			}
			switch lname {
			case "to":
				m.To = append(m.To, l...)
			case "cc":
				m.Cc = append(m.Cc, l...)
			case "bcc":
				m.Bcc = append(m.Bcc, l...)
				keep = false
			}
		case "return-path":
			v := strings.TrimSpace(f.value)
			if v != "<>" && v != "" {
				l, err := parseAddressList("Return-Path", v)
				if err != nil {
					return nil, err
				}
				if len(l) != 1 {
					return nil, invalid("Return-Path", "The Return-Path header must contain exactly one address; it has %d.", len(l))
				}
				m.ReturnPath = &l[0]
			}
			keep = false
		case "subject":
			m.Subject = decodeText(f.value)
		case "content-type":
			contentType = f.value
		case "message-id":
			out.WriteString("Message-ID: " + o.messageIDField() + "\r\n")
			wroteID, keep = true, false
		case "date":
			out.WriteString("Date: " + o.dateField() + "\r\n")
			wroteDate, keep = true, false
		case "x-ses-configuration-set":
			if count[lname] > 1 {
				return nil, invalid("X-SES-CONFIGURATION-SET", "Header X-SES-CONFIGURATION-SET can't appear more than once in a message.")
			}
			if f.value == "" {
				return nil, invalid("X-SES-CONFIGURATION-SET", "Header X-SES-CONFIGURATION-SET must name a configuration set.")
			}
			m.ConfigurationSet = f.value
			keep = false
		case "x-ses-message-tags":
			var n int
			if m.Tags, n, err = parseTags(f.value, m.Tags); err != nil {
				return nil, err
			}
			tagCount += n
			keep = false
		case "x-ses-source-arn", "x-ses-from-arn", "x-ses-return-path-arn":
			name := strings.ToUpper(lname)
			if count[lname] > 1 {
				return nil, invalid(name, "Header %s can't appear more than once in a message.", name)
			}
			if f.value == "" {
				return nil, invalid(name, "Header %s must not be empty.", name)
			}
			switch lname {
			case "x-ses-source-arn":
				m.SourceArn = f.value
			case "x-ses-from-arn":
				m.FromArn = f.value
			default:
				m.ReturnPathArn = f.value
			}
			keep = false
		case "x-ses-list-management-options":
			if count[lname] > 1 {
				return nil, invalid("X-SES-LIST-MANAGEMENT-OPTIONS", "Header X-SES-LIST-MANAGEMENT-OPTIONS can't appear more than once in a message.")
			}
			lm, err := parseListManagement(f.value)
			if err != nil {
				return nil, err
			}
			m.ListManagement = lm
			keep = false
		}
		if keep {
			out.Write(f.raw)
		}
	}
	if err := validateHeaderTags(m.Tags, tagCount); err != nil {
		return nil, err
	}
	if count["from"] == 0 {
		return nil, invalid("From", "Missing required header 'From'.")
	}
	if !wroteID {
		out.WriteString("Message-ID: " + o.messageIDField() + "\r\n")
	}
	if !wroteDate {
		out.WriteString("Date: " + o.dateField() + "\r\n")
	}
	if err := checkMIME(contentType, bytes.NewReader(body), 0); err != nil {
		return nil, err
	}
	out.WriteString("\r\n")
	out.Write(body)
	if len(body) > 0 && !bytes.HasSuffix(body, []byte("\r\n")) {
		out.WriteString("\r\n")
	}
	m.Bytes = out.Bytes()
	return m, nil
}

var canonicalAddressField = map[string]string{"to": "To", "cc": "Cc", "bcc": "Bcc"}

// splitFields splits a header block (CRLF line endings, ending with CRLF)
// into fields, checking each line's length and each field's name.
func splitFields(head []byte) ([]rawField, error) {
	var fs []rawField
	for len(head) > 0 {
		i := bytes.Index(head, []byte("\r\n"))
		line := head[:i+2]
		head = head[i+2:]
		if len(line)-2 > MaxLineLength {
			name := "Raw"
			if len(fs) > 0 && isWSP(line[0]) {
				name = fs[len(fs)-1].name
			} else if c := bytes.IndexByte(line, ':'); c > 0 && isFieldName(string(bytes.TrimRight(line[:c], " \t"))) {
				name = string(bytes.TrimRight(line[:c], " \t"))
			}
			return nil, invalid(name, "A line of header %s is longer than %d characters; lines must not exceed 1,000 characters including CRLF (RFC 5322 §2.1.1).", name, MaxLineLength)
		}
		if isWSP(line[0]) {
			if len(fs) == 0 {
				return nil, invalid("Raw", "The message header starts with a continuation line (a line beginning with white space).")
			}
			f := &fs[len(fs)-1]
			f.raw = append(f.raw, line...)
			continue
		}
		c := bytes.IndexByte(line, ':')
		if c < 0 {
			return nil, invalid("Raw", "Header line %q is not a field (it has no colon).", truncate(string(line[:len(line)-2])))
		}
		name := string(bytes.TrimRight(line[:c], " \t"))
		if !isFieldName(name) {
			return nil, invalid("Raw", "Header field name %q may contain only printable ASCII characters other than ':'.", truncate(name))
		}
		fs = append(fs, rawField{name: name, raw: append([]byte(nil), line...)})
	}
	for i := range fs {
		f := &fs[i]
		v := f.raw[bytes.IndexByte(f.raw, ':')+1:]
		f.value = strings.TrimSpace(strings.ReplaceAll(string(v), "\r\n", ""))
	}
	return fs, nil
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// longLine returns the 1-based number of the first line of b (CRLF line
// endings) longer than MaxLineLength, or 0.
func longLine(b []byte) int {
	n := 1
	for len(b) > 0 {
		i := bytes.Index(b, []byte("\r\n"))
		if i < 0 {
			i = len(b)
		}
		if i > MaxLineLength {
			return n
		}
		if i+2 > len(b) {
			break
		}
		b = b[i+2:]
		n++
	}
	return 0
}

const tagsHeader = "X-SES-MESSAGE-TAGS"

// parseTags reads one X-SES-MESSAGE-TAGS field, "name1=value1,
// name2=value2", appending its tags to tags (those of the fields before
// it), and returns the number of tags the field has. Beyond MaxTags+1 tags
// it only counts: they are refused anyway, and a large message of tiny
// tags must not turn into a larger slice.
func parseTags(v string, tags []Tag) ([]Tag, int, error) {
	n := 0
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, val, ok := strings.Cut(item, "=")
		if !ok {
			return nil, 0, invalid(tagsHeader, "Header %s must be a list of name=value pairs separated by commas; %q has no '='.", tagsHeader, item)
		}
		n++
		if len(tags) <= MaxTags {
			tags = append(tags, Tag{Name: strings.TrimSpace(k), Value: strings.TrimSpace(val)})
		}
	}
	return tags, n, nil
}

// validateHeaderTags checks the tags of every X-SES-MESSAGE-TAGS field
// together, as one list of count tags, so that the limits of ValidateTags
// hold for the message however its tags are spread over fields.
func validateHeaderTags(tags []Tag, count int) error {
	if count > MaxTags {
		return tooManyTags(tagsHeader, count)
	}
	err := ValidateTags(tagsHeader, tags)
	var e *Error
	if errors.As(err, &e) && !strings.Contains(e.Msg, tagsHeader) {
		e.Msg = "Header " + tagsHeader + ": " + e.Msg
	}
	return err
}

// parseListManagement reads X-SES-LIST-MANAGEMENT-OPTIONS:
// "contactListName; topic=topicName" (shared/ses-api.md §12.2).
func parseListManagement(v string) (*ListManagement, error) {
	const name = "X-SES-LIST-MANAGEMENT-OPTIONS"
	list, rest, _ := strings.Cut(v, ";")
	lm := &ListManagement{ContactList: strings.TrimSpace(list)}
	if lm.ContactList == "" {
		return nil, invalid(name, "Header %s must start with a contact list name.", name)
	}
	for p := range strings.SplitSeq(rest, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k, val, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "topic") || strings.TrimSpace(val) == "" {
			return nil, invalid(name, "Header %s: %q is not topic=<topic name>.", name, p)
		}
		lm.Topic = strings.TrimSpace(val)
	}
	return lm, nil
}

// checkMIME checks the multipart structure of an entity: a multipart type
// needs a boundary, at least one part and its closing delimiter, and each
// part is checked in turn. Other entities are not looked into.
func checkMIME(contentType string, body io.Reader, depth int) error {
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), "multipart/") {
		_, err := io.Copy(io.Discard, body)
		return err
	}
	if depth >= maxMIMEDepth {
		return invalid("Raw", "The message's multipart parts are nested more than %d deep.", maxMIMEDepth)
	}
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil || params["boundary"] == "" {
		return invalid("Raw", "A multipart Content-Type must have a boundary parameter: %q.", truncate(contentType))
	}
	mr := textproto.NewMultipartReader(body, params["boundary"])
	n := 0
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			if n == 0 {
				return invalid("Raw", "A multipart part of the message has no parts (boundary %q not found or malformed): %v.", truncate(params["boundary"]), err)
			}
			return invalid("Raw", "A multipart part of the message is malformed (each part must be formatted properly, with a closing boundary): %v.", err)
		}
		n++
		if err := checkMIME(p.Header.Get("Content-Type"), p, depth+1); err != nil {
			if errors.Is(err, ErrInvalid) {
				return err
			}
			return invalid("Raw", "A multipart part of the message is malformed: %v.", err)
		}
	}
	if n == 0 {
		return invalid("Raw", "A multipart part of the message has no parts.")
	}
	return nil
}
