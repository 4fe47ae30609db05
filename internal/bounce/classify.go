package bounce

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/sesame-email/sesame/internal/smtpcode"
)

var (
	// enhancedRe finds an enhanced status code (RFC 3463) in text, not as
	// part of a longer dotted number such as an IP address or a version.
	enhancedRe = regexp.MustCompile(`(?:^|[^0-9A-Za-z.])([245])\.(\d{1,3})\.(\d{1,3})(?:$|[^0-9.]|\.(?:$|[^0-9]))`)
	// replyCodeRe finds a basic reply code at the start of a reply: at the
	// start of the text or after a separator, followed by a space, a
	// hyphen (multi-line reply) or the end.
	replyCodeRe = regexp.MustCompile(`(?:^|[\s:;(\[#"'=])([245][0-5]\d)(?:$|[ -]|\))`)
	// diagTypeRe is the diagnostic-type of a Diagnostic-Code ("smtp;").
	diagTypeRe = regexp.MustCompile(`^\s*[A-Za-z][A-Za-z0-9-]{0,30}\s*;\s*`)
)

// status is a parsed enhanced status code.
type status [3]int

func (s status) valid() bool {
	return (s[0] == 2 || s[0] == 4 || s[0] == 5) && s[1] >= 0 && s[1] <= 999 && s[2] >= 0 && s[2] <= 999
}

func (s status) String() string {
	if !s.valid() {
		return ""
	}
	return strconv.Itoa(s[0]) + "." + strconv.Itoa(s[1]) + "." + strconv.Itoa(s[2])
}

// parseStatus reads the first enhanced status code in s.
func parseStatus(s string) status {
	m := enhancedRe.FindStringSubmatch(s)
	if m == nil {
		return status{}
	}
	var st status
	for i := range 3 {
		st[i], _ = strconv.Atoi(m[i+1])
	}
	if !st.valid() {
		return status{}
	}
	return st
}

// reply is what was found in a diagnostic text: the basic code, the
// enhanced code, and the text.
type reply struct {
	code     int
	enhanced status
	text     string
}

// parseDiagnostic reads a Diagnostic-Code value or a reply found in
// free text: "smtp; 550 5.1.1 <x@y>: user unknown".
func parseDiagnostic(d string) reply {
	d = strings.TrimSpace(diagTypeRe.ReplaceAllString(d, ""))
	if r, err := smtpcode.Parse(d); err == nil {
		return reply{code: r.Code, enhanced: status(r.Enhanced), text: r.Text}
	}
	var rp reply
	if m := replyCodeRe.FindStringSubmatchIndex(d); m != nil {
		rp.code, _ = strconv.Atoi(d[m[2]:m[3]])
	}
	rp.enhanced = parseStatus(d)
	rp.text = d
	return rp
}

// Classify judges a failed or delayed recipient from its status code
// (the DSN Status field, "5.1.1") and its diagnostic (the Diagnostic-Code
// value or the reply found in the text, "smtp; 550 5.1.1 user unknown"):
// SES's bounceType and bounceSubType, whether the address belongs on the
// suppression list, and a short sentence saying what decided (in Rule).
// Either input may be empty. Bounces from Sesame's own delivery attempts
// go through it too (internal/feedback), so both paths agree.
//
// The class (5 permanent, 4 transient) comes from status when it is a
// valid code, else from the diagnostic's enhanced code, else from its
// basic reply code; without any, the result is Undetermined. A 2.x.x
// status is a success and also Undetermined. The subject and detail
// come from status too, unless status is the unspecific X.0.0 and the
// diagnostic carries an enhanced code of the same class, which is then
// used. The basic code is the diagnostic's when its class agrees, else
// X50. The reply so built goes to [smtpcode.Judge]: the bounceType
// follows the class, and Suppress is false for a refusal that blames the
// sender's reputation, a policy, the message or a full mailbox.
func Classify(status, diagnostic string) smtpcode.Verdict {
	st := parseStatus(status)
	d := parseDiagnostic(diagnostic)
	class := 0
	switch {
	case st.valid():
		class = st[0]
	case d.enhanced.valid():
		class = d.enhanced[0]
	case d.code >= 200:
		class = d.code / 100
	}
	undetermined := func(rule string) smtpcode.Verdict {
		return smtpcode.Verdict{BounceType: smtpcode.BounceUndetermined, SubType: smtpcode.BounceUndetermined, Rule: rule}
	}
	switch class {
	case 4, 5:
	case 2:
		return undetermined("status " + st.String() + " is a success")
	default:
		return undetermined("no status code or reply code found")
	}
	enh := st
	source := "status " + st.String()
	switch {
	case !st.valid() && d.enhanced.valid() && d.enhanced[0] == class:
		enh = d.enhanced
		source = "diagnostic code " + enh.String()
	case st.valid() && st[1] == 0 && st[2] == 0 && d.enhanced.valid() && d.enhanced[0] == class && d.enhanced != st:
		enh = d.enhanced
		source = "status " + st.String() + " refined by the diagnostic's " + enh.String()
	case !st.valid():
		source = "reply code " + strconv.Itoa(d.code)
	}
	code := d.code
	if code/100 != class {
		code = class*100 + 50
	}
	r := smtpcode.Reply{Code: code, Text: d.text, Permanent: class == 5}
	// An unspecific X.0.0 says no more than the class: left out, so that
	// the basic code's own meaning (552 storage, 556 no mail) counts, as
	// it does for the same reply during delivery (smtpcode.Reply.Status
	// writes X.0.0 for a reply without an enhanced code).
	if enh.valid() && enh[0] == class && (enh[1] != 0 || enh[2] != 0) {
		r.Enhanced = [3]int(enh)
	}
	v := smtpcode.Judge(r)
	v.Rule = source + ": " + v.Rule
	return v
}
