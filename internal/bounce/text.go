package bounce

import (
	"regexp"
	"strings"
)

// textReport is what the heuristics read in a message's free text.
type textReport struct {
	recipients []Recipient // with Status, DiagnosticCode, Action
	recognised bool        // the message reads like a bounce
	vendor     string      // the sender family the text names, or ""
}

// find returns the recipient for addr, or the only recipient if there is
// one and addr is empty.
func (t *textReport) find(addr string) *Recipient {
	for i := range t.recipients {
		if strings.EqualFold(t.recipients[i].Address, addr) {
			return &t.recipients[i]
		}
	}
	if len(t.recipients) == 1 && addr == "" {
		return &t.recipients[0]
	}
	return nil
}

// textBounce reads m as a free-text bounce, or returns nil if it does
// not look like one or names no recipient.
func (m *message) textBounce() *Report {
	t := m.readText()
	if !t.recognised {
		return nil
	}
	if r := m.inlineBounce(); r != nil {
		return r
	}
	if len(t.recipients) == 0 {
		return nil
	}
	r := &Report{Kind: KindBounce, Format: FormatText}
	if t.vendor != "" {
		r.Format = t.vendor
	}
	r.Recipients = appendRecipients(nil, t.recipients...)
	return r
}

// inlineBounce reads a bounce that m's text quotes whole (header and
// body, as a relay forwarding it to a postmaster does), when the quoted
// header looks like a bounce's.
func (m *message) inlineBounce() *Report {
	h := m.inline
	if len(h) == 0 || m.level >= 2 {
		return nil
	}
	ct, params := contentType(h.get("Content-Type"), "text/plain")
	inner := &message{hdr: h, level: m.level + 1}
	if !(ct == "multipart/report" || params["report-type"] != "" || inner.fromDaemon()) {
		return nil
	}
	b := []byte(m.inlineText)
	for {
		// Up to the quoted header: the separator, an mbox "From " line.
		line, rest := nextLine(b)
		if rest == nil || headerLineRe.Match(line) {
			break
		}
		b = rest
	}
	w := &walker{}
	inner.root = w.entity(b, 0, "text/plain")
	inner.hdr = inner.root.hdr
	if len(inner.hdr) == 0 {
		return nil
	}
	r := inner.decide()
	if r.Kind != KindBounce || len(r.Recipients) == 0 {
		return nil
	}
	if r.Original == nil {
		r.Original = inner.original()
	}
	return r
}

// bounceSubjectRe matches the subjects of non-delivery reports.
var bounceSubjectRe = regexp.MustCompile(`(?i)undeliver|undelivered|non[- ]?deliver|not delivered|delivery (?:status|fail|notification|problem|report|error|has failed)|returned mail|returning message|failure notice|failed delivery|delivery failed|mail delivery|could not (?:be )?deliver|rejected|mail system error|warning: could not send|message not deliver|bounce|not be delivered|delayed mail|delivery delay|has been delayed|unzustellbar|non remis|no se puede entregar|échec|error sending message|message you sent|fehlgeschlagen|nicht zugestellt|返送|不達|配信不能|エラー`)

// bounceBodyRe matches phrases of bounce texts.
var bounceBodyRe = regexp.MustCompile(`(?i)qmail-send program|could not be delivered|couldn't be delivered|cannot be delivered|can't be delivered|was not delivered|wasn't delivered|were not delivered|has not been delivered|not yet been delivered|delivery (?:to the following|has failed|failed|of your message|attempts? )|delivery status notification|following address(?:es)?(?:\(es\))? (?:had|failed|could not|was|were)|permanent (?:fatal )?error|fatal errors?|undeliverable|unable to deliver|failed to deliver|could not deliver|mail delivery (?:failed|system|subsystem|software)|returned to (?:the )?sender|user unknown|unknown user|no such (?:user|mailbox|recipient)|mailbox (?:is )?(?:full|unavailable)|over quota|quota exceeded|recipient (?:address )?rejected|transcript of session|rejected your message|message was rejected|has been rejected|delivery is delayed|been delayed|will (?:continue to )?retry|still trying|giving up|gave up|failed permanently|message could not|non-delivery|nondelivery|could not be sent|was undeliverable|did not reach|couldn't reach|delivery notification`)

// readText reads the free text of m: the text parts outside enclosed
// messages, up to the copy of the original message, and finds the
// recipients and their status in it.
func (m *message) readText() *textReport {
	if m.text != nil {
		return m.text
	}
	t := &textReport{}
	m.text = t
	text := m.bounceText()
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, "\r \t")
	}
	cut := cutOriginal(lines)
	if cut < len(lines) {
		m.inline = inlineHeader(lines[cut:])
		m.inlineText = strings.Join(lines[cut:], "\n")
	}
	lines = lines[:cut]
	t.vendor = vendorOf(text)

	body := strings.Join(lines, "\n")
	subj := m.hdr.decoded("Subject")
	inline := inlineDSN(lines)
	t.recognised = m.hdr.has("X-Failed-Recipients") ||
		t.vendor != "" ||
		len(inline) > 0 ||
		bounceSubjectRe.MatchString(subj) && (m.fromDaemon() || bounceBodyRe.MatchString(body)) ||
		(m.fromDaemon() || m.nullSender()) && bounceBodyRe.MatchString(body)
	if !t.recognised {
		return t
	}
	if len(inline) > 0 {
		t.recipients = inline
	} else {
		t.recipients = m.findRecipients(lines)
	}
	return t
}

// nullSender reports a null reverse path (Return-Path: <>).
func (m *message) nullSender() bool {
	rp := strings.TrimSpace(m.hdr.get("Return-Path"))
	return rp == "<>" || rp == "<MAILER-DAEMON>"
}

// bounceText returns the text of m's text parts outside enclosed
// messages (HTML with its tags dropped, only when there is no plain
// text), at most maxTextScan bytes.
func (m *message) bounceText() string {
	var plain, html []string
	size := 0
	m.root.walk(false, func(p *part) {
		if size >= maxTextScan {
			return
		}
		if len(p.children) > 0 || p.msg != nil {
			return
		}
		if p.ctype == "text/plain" || p.ctype == "text/html" || p.ctype == "text/enriched" {
			s := p.text(maxTextScan - size)
			size += len(s)
			if p.ctype == "text/html" {
				html = append(html, htmlText(s))
			} else {
				plain = append(plain, s)
			}
		}
	})
	if len(plain) == 0 {
		plain = html
	}
	if len(plain) == 0 && len(m.root.preamble) > 0 {
		pre := m.root.preamble
		if len(pre) > maxTextScan {
			pre = pre[:maxTextScan]
		}
		plain = []string{string(pre)}
	}
	return strings.Join(plain, "\n")
}

var (
	htmlTagRe   = regexp.MustCompile(`(?s)<(?:script|style)[^>]*>.*?</(?:script|style)>|<br\s*/?>|</?(?:p|div|tr|li|h\d|table)\b[^>]*>|<[^>]{0,1000}>`)
	htmlBreakRe = regexp.MustCompile(`(?i)^<(?:br|/?p|/?div|/?tr|/?li|/?h\d|/?table)\b`)
)

// htmlText turns HTML into text: tags dropped (line breaks for block
// elements), common entities decoded.
func htmlText(s string) string {
	s = htmlTagRe.ReplaceAllStringFunc(s, func(tag string) string {
		if htmlBreakRe.MatchString(strings.ToLower(tag)) {
			return "\n"
		}
		if strings.HasPrefix(strings.ToLower(tag), "<script") || strings.HasPrefix(strings.ToLower(tag), "<style") {
			return ""
		}
		return " "
	})
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&", "&quot;", `"`, "&#39;", "'", "&nbsp;", " ").Replace(s)
}

var (
	// separatorRe is a line that announces the copy of the original
	// message.
	separatorRe = regexp.MustCompile(`(?i)^\s*(?:[-=_*#>]{2,}.*)?(?:original message|original mail|copy of (?:the |your )?(?:original )?message|this is a copy|message headers? follows?|headers? of the original|header of the original|below this line|rfc822 message|undelivered message (?:follows|attached)|unsent message below|original message follows|returned message|your message (?:reads|follows)|message (?:text )?follows|included message|original headers|text of (?:the|your) message)`)
	// headerLineRe is a line that looks like a message header field.
	headerLineRe = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]{1,40}):(?:\s|$)`)
)

// originalHeaders are the fields that mark the start of an included copy
// of the original message.
var originalHeaders = map[string]bool{
	"received": true, "return-path": true, "message-id": true, "dkim-signature": true,
	"mime-version": true, "x-mailer": true, "content-type": true, "date": true,
	"from": true, "to": true, "subject": true, "x-received": true, "delivered-to": true,
	"authentication-results": true, "arc-seal": true, "x-google-dkim-signature": true,
	"content-transfer-encoding": true, "reply-to": true, "sender": true, "cc": true,
}

// cutOriginal returns where the copy of the original message starts in
// lines: at a separator line, or at the first block of at least three
// header fields among which one is typical of a message's header (not
// only To, Cc, Date, Subject, as a summary has them); len(lines) if
// neither is there.
func cutOriginal(lines []string) int {
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if len(l) < 120 && separatorRe.MatchString(l) && !strings.Contains(strings.ToLower(l), "received at") {
			return i
		}
		if isOriginalHeaderBlock(lines[i:]) {
			return i
		}
	}
	return len(lines)
}

// isOriginalHeaderBlock reports whether lines start with a header block
// that looks like the original message's.
func isOriginalHeaderBlock(lines []string) bool {
	m := headerLineRe.FindStringSubmatch(lines[0])
	if m == nil || !originalHeaders[strings.ToLower(m[1])] {
		return false
	}
	n, strong := 0, false
	for _, l := range lines {
		if l == "" {
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			continue
		}
		m := headerLineRe.FindStringSubmatch(l)
		if m == nil {
			break
		}
		n++
		switch name := strings.ToLower(m[1]); {
		case name == "to", name == "cc", name == "date", name == "subject", name == "from":
		case originalHeaders[name]:
			strong = true
		}
		if n >= 3 && strong {
			return true
		}
	}
	return false
}

// inlineHeader parses the header block of an original message copied
// into the text, after its separator line: the first line that is a
// header field starts it.
func inlineHeader(lines []string) header {
	for i, l := range lines {
		if i > 20 {
			break
		}
		if headerLineRe.MatchString(l) {
			h, _ := parseHeader([]byte(strings.Join(lines[i:min(len(lines), i+500)], "\n")))
			return h
		}
	}
	return nil
}

// vendors name the sender families whose texts are recognised by a
// phrase. The name only labels Report.Format; reading is generic.
var vendors = []struct{ name, phrase string }{
	{"qmail", "this is the qmail-send program"},
	{"qmail", "i'm afraid i wasn't able to deliver your message"},
	{"exim", "this message was created automatically by mail delivery software"},
	{"sendmail", "----- transcript of session follows -----"},
	{"sendmail", "the following addresses had permanent fatal errors"},
	{"postfix", "this is the mail system at host"},
	{"gmail", "delivery to the following recipient failed"},
	{"gmail", "delivery to the following recipients failed"},
	{"gmail", "the recipient server did not accept our requests"},
	{"gmail", "delivery to these recipients or groups is complete"},
	{"exchange", "delivery has failed to these recipients or groups"},
	{"exchange", "your message did not reach some or all of the intended recipients"},
	{"exchange", "the following recipient(s) could not be reached"},
	{"exchange", "your message couldn't be delivered"},
	{"notes", "your message was not delivered to the following recipients"},
	{"yahoo", "sorry, we were unable to deliver your message to the following address"},
	{"yahoo", "message from yahoo"},
	{"courier", "this is a delivery status notification from"},
	{"opensmtpd", "your message could not be delivered to one or more recipients"},
	{"mailru", "message was not delivered to"},
}

// vendorOf returns the family a bounce text names, or "".
func vendorOf(text string) string {
	l := strings.ToLower(text)
	for _, v := range vendors {
		if strings.Contains(l, v.phrase) {
			return v.name
		}
	}
	return ""
}
