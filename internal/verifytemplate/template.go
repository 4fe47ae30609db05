// Package verifytemplate keeps accounts' custom verification email
// templates (SES CreateCustomVerificationEmailTemplate and its Get, Update,
// Delete and List siblings, shared by v1 and v2 as in SES) and sends their
// mails (SendCustomVerificationEmail).
//
// Who calls it: the API layers sesv1 and sesv2. What it calls: its own
// tables (migration 0014), identity (whether FromEmailAddress is verified;
// the verification link, identity.Store.IssueCustomLink) and the admission
// door send.Sender.Submit, through which every custom verification mail
// goes like any other: DKIM-signed as the sender's domain, counted against
// the account's quota and rate, through the named configuration set, with
// the ses:operation tag SendCustomVerificationEmail.
//
// The rules, from the SES Developer Guide's custom verification email FAQ
// where it has them:
//   - at most 50 templates per account (ErrLimitExceeded);
//   - TemplateContent is HTML under 10 MB, using only the tags and
//     attributes of the FAQ's table (no <a>: the link is SES's), and no
//     comments (*InvalidError with Content set; v1
//     CustomVerificationEmailInvalidContent);
//   - FromEmailAddress must be covered by a verified identity of the
//     account, at create, update and send (ErrFromNotVerified), and takes
//     no display name;
//   - sending needs production access (ErrProductionAccess);
//   - the mail is the template's content followed by the verification
//     link and a short disclaimer.
//
// Where SES is silent, Sesame's choices: a template name is 1 to 64 ASCII
// letters, digits, '_' and '-' (SES's rule for email templates); the
// redirect URLs must be absolute http or https URLs; the subject must be
// one line.
package verifytemplate

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/html"

	"github.com/sesame-email/sesame/internal/configset"
)

// Template is one custom verification email template.
type Template struct {
	Name             string
	FromEmailAddress string
	Subject          string
	Content          string // HTML
	SuccessURL       string
	FailureURL       string
	Tags             []Tag // v2 Tags; v1 has none
	CreatedAt        time.Time
}

// Tag is a v2 resource tag.
type Tag struct{ Key, Value string }

// Update is a change to a template: nil members are kept (v1
// UpdateCustomVerificationEmailTemplate requires only the name; v2 gives
// every member).
type Update struct {
	FromEmailAddress, Subject, Content, SuccessURL, FailureURL *string
}

// Limits.
const (
	// MaxTemplates is the number of templates an account may have.
	MaxTemplates = 50
	// MaxContentBytes bounds TemplateContent: it must be shorter.
	MaxContentBytes = 10 * 1024 * 1024
)

// The errors, matched with errors.Is.
var (
	// ErrNotFound: no template of that name in the account (v1
	// CustomVerificationEmailTemplateDoesNotExist, v2 NotFoundException).
	ErrNotFound = errors.New("verifytemplate: no such template")
	// ErrAlreadyExists: v1 CustomVerificationEmailTemplateAlreadyExists,
	// v2 AlreadyExistsException.
	ErrAlreadyExists = errors.New("verifytemplate: template already exists")
	// ErrLimitExceeded: the account has MaxTemplates already (v1
	// LimitExceeded, v2 LimitExceededException).
	ErrLimitExceeded = errors.New("verifytemplate: template limit exceeded")
	// ErrFromNotVerified: FromEmailAddress is not covered by a verified
	// identity of the account (v1 FromEmailAddressNotVerified, v2
	// BadRequestException).
	ErrFromNotVerified = errors.New("verifytemplate: from address not verified")
	// ErrProductionAccess: the account is in the sandbox, where SES does
	// not send custom verification mail (v1 ProductionAccessNotGranted,
	// v2 MessageRejected, the code of v2's other sandbox refusals).
	ErrProductionAccess = errors.New("verifytemplate: production access not granted")
)

// Error is a refusal with the sentence for the client; it wraps one of the
// errors above.
type Error struct {
	Err error
	Msg string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

func refuse(err error, format string, args ...any) error {
	return &Error{Err: err, Msg: fmt.Sprintf(format, args...)}
}

// InvalidError is a parameter that breaks a rule: Msg names the field
// and the rule. Content is set when TemplateContent breaks SES's content
// rules (v1 CustomVerificationEmailInvalidContent); other fields are v1
// InvalidParameterValue. v2 answers BadRequestException for both.
type InvalidError struct {
	Field   string
	Msg     string
	Content bool
}

func (e *InvalidError) Error() string { return e.Msg }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

func invalidContent(format string, args ...any) error {
	return &InvalidError{Field: "TemplateContent", Msg: fmt.Sprintf(format, args...), Content: true}
}

// validateName checks TemplateName (Sesame's rule: see the package doc).
func validateName(name string) error {
	err := configset.ValidateName("TemplateName", name)
	var ie *configset.InvalidError
	if errors.As(err, &ie) {
		return invalid(ie.Field, "%s", ie.Msg)
	}
	return err
}

// validate checks every member of t but whether FromEmailAddress is
// verified (the store asks identity).
func validate(t Template) error {
	if err := validateName(t.Name); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{
		{"FromEmailAddress", t.FromEmailAddress}, {"TemplateSubject", t.Subject}, {"TemplateContent", t.Content},
		{"SuccessRedirectionURL", t.SuccessURL}, {"FailureRedirectionURL", t.FailureURL},
	} {
		if strings.TrimSpace(f.v) == "" {
			return invalid(f.name, "%s is required.", f.name)
		}
	}
	if strings.ContainsAny(t.FromEmailAddress, "<>\"") {
		return invalid("FromEmailAddress", "Invalid FromEmailAddress %q: give the bare address (display names are not supported).", t.FromEmailAddress)
	}
	if strings.ContainsAny(t.Subject, "\r\n") {
		return invalid("TemplateSubject", "Invalid TemplateSubject: it must be one line (no CR or LF).")
	}
	for _, u := range []struct{ name, v string }{{"SuccessRedirectionURL", t.SuccessURL}, {"FailureRedirectionURL", t.FailureURL}} {
		if err := validateURL(u.name, u.v); err != nil {
			return err
		}
	}
	if err := ValidateContent(t.Content); err != nil {
		return err
	}
	tags := make([]configset.Tag, len(t.Tags))
	for i, x := range t.Tags {
		tags[i] = configset.Tag{Key: x.Key, Value: x.Value}
	}
	err := configset.ValidateTags(tags)
	var ie *configset.InvalidError
	if errors.As(err, &ie) {
		return invalid(ie.Field, "Invalid %s: %s", ie.Field, ie.Msg)
	}
	return err
}

// validateURL checks a redirect URL: absolute, http or https, with a host.
func validateURL(field, v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return invalid(field, "Invalid %s %q: it must be an absolute http:// or https:// URL.", field, v)
	}
	return nil
}

// commonAttrs are the attributes every allowed tag may carry.
var commonAttrs = []string{"class", "id", "style", "title"}

// allowedTags are the HTML tags a template may use, each with the
// attributes it may carry besides commonAttrs: the table of the SES
// Developer Guide's custom verification email FAQ (Q5).
var allowedTags = map[string][]string{
	"abbr": nil, "acronym": nil, "address": nil, "area": nil, "b": nil, "bdo": nil, "big": nil,
	"blockquote": {"cite"}, "body": nil, "br": nil, "button": nil, "caption": nil, "center": nil,
	"cite": nil, "code": nil, "col": {"span", "width"}, "colgroup": {"span", "width"}, "dd": nil,
	"del": nil, "dfn": nil, "dir": nil, "div": nil, "dl": nil, "dt": nil, "em": nil, "fieldset": nil,
	"font": nil, "form": nil, "h1": nil, "h2": nil, "h3": nil, "h4": nil, "h5": nil, "h6": nil,
	"head": nil, "hr": nil, "html": nil, "i": nil, "img": {"align", "alt", "height", "src", "width"},
	"input": nil, "ins": nil, "kbd": nil, "label": nil, "legend": nil, "li": nil, "map": nil,
	"menu": nil, "ol": {"start", "type"}, "optgroup": nil, "option": nil, "p": nil, "pre": nil,
	"q": {"cite"}, "s": nil, "samp": nil, "select": nil, "small": nil, "span": nil, "strike": nil,
	"strong": nil, "sub": nil, "sup": nil, "table": {"summary", "width"}, "tbody": nil,
	"td": {"abbr", "axis", "colspan", "rowspan", "width"}, "textarea": nil, "tfoot": nil,
	"th": {"abbr", "axis", "colspan", "rowspan", "scope", "width"}, "thead": nil, "tr": nil,
	"tt": nil, "u": nil, "ul": {"type"}, "var": nil,
}

// ValidateContent checks TemplateContent against SES's content rules:
// shorter than MaxContentBytes, only the allowed tags and attributes, no
// comments. A document type declaration is not a tag and is accepted.
// The HTML is read by golang.org/x/net/html's tokenizer, the way a
// browser splits it into tags.
func ValidateContent(content string) error {
	if len(content) >= MaxContentBytes {
		return invalidContent("Invalid TemplateContent: it is %d bytes long; it must be shorter than 10 MB (%d bytes).", len(content), MaxContentBytes)
	}
	z := html.NewTokenizer(strings.NewReader(content))
	for {
		switch z.Next() {
		case html.ErrorToken:
			if err := z.Err(); err != io.EOF {
				return invalidContent("Invalid TemplateContent: %v.", err)
			}
			return nil
		case html.CommentToken:
			return invalidContent("Invalid TemplateContent: comments (<!-- ... -->) are not allowed in custom verification email templates.")
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			tok := z.Token()
			extra, ok := allowedTags[tok.Data]
			if !ok {
				return invalidContent("Invalid TemplateContent: the tag <%s> is not allowed in custom verification email templates (the verification link is added by Sesame; see the allowed tags in the README).", tok.Data)
			}
			for _, a := range tok.Attr {
				if !slices.Contains(commonAttrs, a.Key) && !slices.Contains(extra, a.Key) {
					return invalidContent("Invalid TemplateContent: the attribute %s is not allowed on <%s> (allowed: %s).", a.Key, tok.Data, strings.Join(slices.Concat(commonAttrs, extra), ", "))
				}
			}
		}
	}
}

// disclaimer ends every custom verification mail, after the link (SES adds
// one too: FAQ Q10).
const disclaimer = "If you did not request to verify this email address, please disregard this message."

// Body is the HTML of the mail for content and the verification link:
// the content followed by the link and the disclaimer (SES: "the content
// you specified when you created the template, followed by a link that
// recipients must click"), placed before the content's closing </body>
// when it has one, else at its end.
func Body(content, link string) string {
	l := html.EscapeString(link)
	block := "<p><a href=\"" + l + "\">" + l + "</a></p>\n<p style=\"font-size:smaller;color:#666666\">" + html.EscapeString(disclaimer) + "</p>\n"
	if i := lastIndexFold(content, "</body>"); i >= 0 {
		return content[:i] + block + content[i:]
	}
	return content + "\n" + block
}

// lastIndexFold is the index of the last instance of the ASCII tag in s,
// compared without case, or -1.
func lastIndexFold(s, tag string) int {
	for i := len(s) - len(tag); i >= 0; i-- {
		if s[i] == tag[0] && strings.EqualFold(s[i:i+len(tag)], tag) {
			return i
		}
	}
	return -1
}
