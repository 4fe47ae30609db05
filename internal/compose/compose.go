package compose

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/addr"
)

// Limits SES applies to Simple content (shared/ses-api.md §7 shapes, §12.2,
// §14.2) and RFC 5322 applies to every message.
const (
	// MaxHeaders is the number of custom headers a Simple message may
	// carry.
	MaxHeaders = 15
	// MaxHeaderNameLength and MaxHeaderValueLength bound a custom header
	// (MessageHeader: name 1-126, value 1-995 in the service model; the
	// current AWS reference says 870 for the value, which is what fits a
	// 126-character name on one 998-octet line).
	MaxHeaderNameLength  = 126
	MaxHeaderValueLength = 995
	// MaxTagLength bounds a message tag's name and its value ("Tag name
	// cannot exceed 255 characters.", observed on AWS; the model docs say
	// 256).
	MaxTagLength = 255
	// MaxTags is the number of message tags one message may carry, the
	// limit SES sets on tag lists (50). With MaxTagLength it bounds what
	// a message's tags add to each of its events: at most 50 × 510 bytes.
	MaxTags = 50
	// Attachment field limits (Attachment shape).
	MaxFileNameLength    = 255
	MaxContentTypeLength = 78
	MaxContentIDLength   = 78
	MaxDescriptionLength = 1000
	// MaxLineLength is the longest line, in octets without the CRLF, that
	// a message may contain (RFC 5322 §2.1.1, RFC 5321 §4.5.3.1.6: 1,000
	// with the CRLF).
	MaxLineLength = 998
)

// The values of Attachment.Disposition and Attachment.TransferEncoding, as
// SES spells them (AttachmentContentDisposition,
// AttachmentContentTransferEncoding).
const (
	DispositionAttachment   = "ATTACHMENT"
	DispositionInline       = "INLINE"
	EncodingBase64          = "BASE64"
	EncodingQuotedPrintable = "QUOTED_PRINTABLE"
	EncodingSevenBit        = "SEVEN_BIT"
)

// ErrInvalid is wrapped by every rejection of a message or of one of its
// fields.
var ErrInvalid = errors.New("compose: invalid message")

// Error is a rejected message: Field names what is at fault and Msg states
// the rule, in a sentence fit for the API's error message. It wraps
// ErrInvalid.
//
// For Build, Field is the Simple field, with a 0-based index for list
// elements: "From", "To[2]", "Subject", "SubjectCharset", "Text",
// "HTMLCharset", "Headers[0].Name", "Attachments[1].ContentID". For
// NormalizeRaw it is the header field at fault as SES spells it ("From",
// "X-SES-MESSAGE-TAGS") or "Raw" for the message as a whole. For
// ValidateTags it is the caller's field with an index: "Tags[0].Name".
type Error struct {
	Field string
	Msg   string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *Error) Unwrap() error { return ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Header is one header field: a custom header of a Simple message, or one
// field of a composed message in Message.Headers.
type Header struct {
	Name  string
	Value string
}

// Tag is a message tag (SES MessageTag).
type Tag struct {
	Name  string
	Value string
}

// Attachment is one attachment of a Simple message (SES v2 Attachment).
type Attachment struct {
	// FileName is required, at most 255 characters; non-ASCII names are
	// written with RFC 2231 parameter encoding.
	FileName string
	// Content is the attachment's bytes (RawContent, already decoded from
	// the API's base64).
	Content []byte
	// ContentType is the media type, with optional parameters; empty means
	// one derived from the file name's extension, else
	// application/octet-stream.
	ContentType string
	// Disposition is DispositionAttachment (the default when empty) or
	// DispositionInline. Inline attachments with a ContentID go into a
	// multipart/related part next to the body so HTML can refer to them
	// as cid:ContentID.
	Disposition string
	// ContentID is the Content-ID without angle brackets (they are
	// accepted and removed).
	ContentID string
	// Description becomes Content-Description.
	Description string
	// TransferEncoding is EncodingBase64 (the default when empty),
	// EncodingQuotedPrintable or EncodingSevenBit (the content must then be
	// 7-bit text with lines of at most 998 characters).
	TransferEncoding string
}

// Simple is SES Simple content with its addressing: v1 SendEmail's Source,
// Destination, ReplyToAddresses and Message, or v2 SendEmail's
// FromEmailAddress, Destination, ReplyToAddresses and Content.Simple.
//
// Addresses may carry a display name ("Jane Doe <jane@example.com>"), plain
// or as RFC 2047 encoded-words; domains may be Unicode or punycode.
// Charsets default to UTF-8 and may name any charset that keeps ASCII as
// ASCII (ISO-8859-*, windows-125x, Shift_JIS, ISO-2022-JP, EUC-KR, GBK,
// Big5, ...); the text is converted to it.
type Simple struct {
	From              string
	To, Cc, Bcc       []string
	ReplyTo           []string
	Subject           string
	SubjectCharset    string
	Text, TextCharset string
	HTML, HTMLCharset string
	Headers           []Header
	Attachments       []Attachment
}

// Options are the values SES assigns to every message.
type Options struct {
	// Now gives the Date header's time (written in UTC); nil means
	// time.Now.
	Now func() time.Time
	// MessageID is the SES MessageId returned to the caller; required.
	// It must be a dot-atom (letters, digits, '-', '.', ...).
	MessageID string
	// Domain is the right-hand side of the Message-ID header:
	// Message-ID: <MessageID@Domain>. SES uses email.amazonses.com in
	// us-east-1 and <region>.amazonses.com elsewhere; Sesame uses
	// "<region>.<service domain>". Required.
	Domain string
	// Boundary returns the boundary of the next multipart part, called in
	// document order; nil means a random one. Tests set it to get stable
	// output. It must return a valid RFC 2046 boundary that does not occur
	// in the content.
	Boundary func() string
}

func (o Options) check() error {
	if o.MessageID == "" {
		return errors.New("compose: Options.MessageID is required")
	}
	if !isDotAtom(o.MessageID) {
		return fmt.Errorf("compose: Options.MessageID %q is not a dot-atom", o.MessageID)
	}
	if _, err := addr.Domain(o.Domain); err != nil || o.Domain != strings.ToLower(o.Domain) {
		return fmt.Errorf("compose: Options.Domain %q is not a lower-case domain name", o.Domain)
	}
	return nil
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o Options) messageIDField() string {
	return "<" + o.MessageID + "@" + o.Domain + ">"
}

func (o Options) dateField() string {
	return o.now().UTC().Format(time.RFC1123Z)
}

func (o Options) boundary() string {
	if o.Boundary != nil {
		return o.Boundary()
	}
	// "=_" cannot occur in quoted-printable or base64 text, so the
	// boundary cannot collide with an encoded body.
	var b [16]byte
	rand.Read(b[:])
	return "=_" + hex.EncodeToString(b[:])
}

// Mailbox is a parsed address with its display name.
type Mailbox struct {
	// Name is the display name, decoded (RFC 2047 encoded-words become
	// Unicode); empty when there is none.
	Name string
	// Address is the address; its domain is normalised (lower case,
	// A-labels).
	Address addr.Address
}

// String returns the mailbox in header form, the display name quoted or
// encoded as needed: "Jane Doe <jane@example.com>" or "jane@example.com".
func (m Mailbox) String() string {
	if m.Name == "" {
		return m.Address.String()
	}
	return (&mail.Address{Name: m.Name, Address: m.Address.String()}).String()
}

// ListManagement is what X-SES-LIST-MANAGEMENT-OPTIONS says (the SMTP form
// of v2 ListManagementOptions).
type ListManagement struct {
	ContactList string
	Topic       string // empty: all topics of the list
}

// Message is a composed or normalised message.
type Message struct {
	// Bytes is the message as it will be signed and delivered: CRLF line
	// endings, SES's Message-ID and Date, no Bcc, Return-Path or X-SES-*
	// control headers.
	Bytes []byte

	// From is the author (the From header; exactly one mailbox).
	From Mailbox
	// Sender is the Sender header's mailbox, if there is one.
	Sender *Mailbox
	// ReplyTo are the Reply-To addresses.
	ReplyTo []Mailbox
	// To, Cc and Bcc are the header recipients, groups flattened. Bcc is
	// not in Bytes.
	To, Cc, Bcc []Mailbox
	// ReturnPath is the Return-Path header of raw mail (SES uses it as
	// the feedback address when the API gives no Source); nil for Build.
	// The header itself is removed from Bytes (RFC 5321 §4.4: the
	// delivering MTA adds it).
	ReturnPath *Mailbox
	// Subject is the decoded subject.
	Subject string

	// The SES control headers of raw mail, removed from Bytes. SES uses
	// the API's ConfigurationSetName, Tags/EmailTags (no merging) and
	// *Arn parameters instead when they are given.
	ConfigurationSet string          // X-SES-CONFIGURATION-SET
	Tags             []Tag           // X-SES-MESSAGE-TAGS
	SourceArn        string          // X-SES-SOURCE-ARN
	FromArn          string          // X-SES-FROM-ARN
	ReturnPathArn    string          // X-SES-RETURN-PATH-ARN
	ListManagement   *ListManagement // X-SES-LIST-MANAGEMENT-OPTIONS

	// Headers are the message's header fields as the sender submitted
	// them, in order, unfolded, as events report them in mail.headers
	// (shared/ses-api.md §13.2): for raw mail the sender's own Message-ID
	// and Date rather than SES's, without the X-SES-* control headers; for
	// Build the fields written.
	Headers []Header
}

// Recipients returns the header recipients, To then Cc then Bcc, each
// address once: the destinations SES uses when the API call gives none.
func (m *Message) Recipients() []addr.Address {
	var out []addr.Address
	seen := map[addr.Address]bool{}
	for _, l := range [][]Mailbox{m.To, m.Cc, m.Bcc} {
		for _, mb := range l {
			if !seen[mb.Address] {
				seen[mb.Address] = true
				out = append(out, mb.Address)
			}
		}
	}
	return out
}

// ValidateTags checks message tags as SES does (shared/ses-api.md §12.1):
// at most MaxTags of them, each name given once; names of ASCII letters,
// digits, '_' and '-'; values may also contain '.' and '@'; both required
// and at most 255 characters. field names the list in errors ("Tags",
// "EmailTags", "X-SES-MESSAGE-TAGS"); the messages of the list-wide rules
// (count, repeated names) name it too.
func ValidateTags(field string, tags []Tag) error {
	if len(tags) > MaxTags {
		return tooManyTags(field, len(tags))
	}
	for i, t := range tags {
		// The fields' names are made only for an error: this runs on every
		// send.
		if part, msg := tagProblem(t); msg != "" {
			return invalid(fmt.Sprintf("%s[%d].%s", field, i, part), "%s", msg)
		}
		// At most MaxTags: comparing with those before costs less than a
		// map on every send.
		for j := range tags[:i] {
			if tags[j].Name == t.Name {
				return invalid(fmt.Sprintf("%s[%d].Name", field, i), "%s gives the tag name %s more than once (%s[%d] and %s[%d]); each name may be given once.", field, t.Name, field, j, field, i)
			}
		}
	}
	return nil
}

// tagProblem returns the rule tag t breaks, if any, and the part at fault
// ("Name" or "Value"); msg is "" when t is valid.
func tagProblem(t Tag) (part, msg string) {
	switch {
	case hasCRLF(t.Name):
		return "Name", "Tag name must not contain CR or LF."
	case t.Name == "":
		return "Name", "The tag name must be specified."
	case len(t.Name) > MaxTagLength:
		return "Name", fmt.Sprintf("Tag name cannot exceed %d characters.", MaxTagLength)
	case !onlyTagChars(t.Name, ""):
		return "Name", fmt.Sprintf("Invalid tag name %s: only alphanumeric ASCII characters, '_',  '-' are allowed.", t.Name)
	case hasCRLF(t.Value):
		return "Value", "Tag value must not contain CR or LF."
	case t.Value == "":
		return "Value", "The tag value must be specified."
	case len(t.Value) > MaxTagLength:
		return "Value", fmt.Sprintf("Tag value cannot exceed %d characters.", MaxTagLength)
	case !onlyTagChars(t.Value, ".@"):
		return "Value", fmt.Sprintf("Invalid tag value %s: only alphanumeric ASCII characters, '_',  '-' , '.', '@' are allowed.", t.Value)
	}
	return "", ""
}

func tooManyTags(field string, n int) error {
	return invalid(field, "%s has %d tags; a message may have at most %d.", field, n, MaxTags)
}

func onlyTagChars(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

func hasCRLF(s string) bool { return strings.ContainsAny(s, "\r\n") }

// isDotAtom reports whether s is an RFC 5322 dot-atom-text.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0) {
			return false
		}
	}
	return true
}
