package smtpcode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Reply
	}{
		{"enhanced", "550 5.1.1 <x@y>: user unknown",
			Reply{550, [3]int{5, 1, 1}, "<x@y>: user unknown", true}},
		{"no enhanced code", "550 Requested action not taken: mailbox unavailable",
			Reply{550, [3]int{}, "Requested action not taken: mailbox unavailable", true}},
		{"success", "250 2.0.0 Ok: queued as 4Xz", Reply{250, [3]int{2, 0, 0}, "Ok: queued as 4Xz", false}},
		{"temporary", "451 4.7.1 Greylisted, try again later", Reply{451, [3]int{4, 7, 1}, "Greylisted, try again later", false}},
		{"intermediate", "354 End data with <CR><LF>.<CR><LF>", Reply{354, [3]int{}, "End data with <CR><LF>.<CR><LF>", false}},
		{"code only", "250", Reply{250, [3]int{}, "", false}},
		{"code and space", "250 ", Reply{250, [3]int{}, "", false}},
		{"enhanced only", "550 5.1.1", Reply{550, [3]int{5, 1, 1}, "", true}},
		{"trailing CRLF", "221 2.0.0 Bye\r\n", Reply{221, [3]int{2, 0, 0}, "Bye", false}},
		{"trailing LF", "221 2.0.0 Bye\n", Reply{221, [3]int{2, 0, 0}, "Bye", false}},
		{"extra spaces are trimmed", "550   5.1.1   user unknown  ", Reply{550, [3]int{5, 1, 1}, "user unknown", true}},
		{"tab after the enhanced code", "550 5.1.1\tuser unknown", Reply{550, [3]int{5, 1, 1}, "user unknown", true}},
		{"three-digit subject and detail", "554 5.123.456 x", Reply{554, [3]int{5, 123, 456}, "x", true}},
		{"leading zeros", "550 5.01.001 x", Reply{550, [3]int{5, 1, 1}, "x", true}},
		{"null MX detail", "556 5.1.10 Recipient address has null MX", Reply{556, [3]int{5, 1, 10}, "Recipient address has null MX", true}},
		{"class does not match: text", "550 4.2.2 mailbox full", Reply{550, [3]int{}, "4.2.2 mailbox full", true}},
		{"class 3 is no class", "354 3.0.0 go ahead", Reply{354, [3]int{}, "3.0.0 go ahead", false}},
		{"not an enhanced code: four parts", "550 5.1.1.1 x", Reply{550, [3]int{}, "5.1.1.1 x", true}},
		{"not an enhanced code: four digits", "550 5.1.1000 x", Reply{550, [3]int{}, "5.1.1000 x", true}},
		{"not an enhanced code: no space after", "550 5.1.1: x", Reply{550, [3]int{}, "5.1.1: x", true}},
		{"not an enhanced code: empty part", "550 5..1 x", Reply{550, [3]int{}, "5..1 x", true}},
		{"UTF-8 text", "550 5.1.1 Benutzer unbekannt: äöü", Reply{550, [3]int{5, 1, 1}, "Benutzer unbekannt: äöü", true}},
		{"RFC 5321 multi-line", "550-5.1.1 The email account that you tried to reach does not exist.\r\n" +
			"550-5.1.1 Please try double-checking the recipient's email address.\r\n" +
			"550 5.1.1 https://support.example/?p=NoSuchUser x1si\r\n",
			Reply{550, [3]int{5, 1, 1}, "The email account that you tried to reach does not exist. " +
				"Please try double-checking the recipient's email address. https://support.example/?p=NoSuchUser x1si", true}},
		{"multi-line with LF", "250-mx.example.org Hello\n250-PIPELINING\n250-8BITMIME\n250 STARTTLS",
			Reply{250, [3]int{}, "mx.example.org Hello PIPELINING 8BITMIME STARTTLS", false}},
		{"multi-line, last line bare code", "451-4.3.0 Try later\r\n451", Reply{451, [3]int{4, 3, 0}, "Try later", false}},
		{"multi-line, differing enhanced codes kept", "550-5.7.1 policy\r\n550 5.7.26 DMARC",
			Reply{550, [3]int{5, 7, 1}, "policy 5.7.26 DMARC", true}},
		{"multi-line, enhanced code on a later line", "550-\r\n550 5.1.1 unknown", Reply{550, [3]int{5, 1, 1}, "unknown", true}},
		{"joined text, as client libraries give it", "550 5.1.1 The account does not exist.\n5.1.1 Please check the address.",
			Reply{550, [3]int{5, 1, 1}, "The account does not exist. Please check the address.", true}},
		{"joined text without codes", "421 Service not available\nclosing channel\n",
			Reply{421, [3]int{}, "Service not available closing channel", false}},
		{"joined text that repeats the code", "550 5.1.1 a\n550 5.1.1 b", Reply{550, [3]int{5, 1, 1}, "a b", true}},
		{"joined text, empty lines skipped", "550 a\n\n  \nb", Reply{550, [3]int{}, "a b", true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Parse(%q)\n got %#v\nwant %#v", tt.in, got, tt.want)
			}
			back, err := Parse(got.String())
			if err != nil || back != got {
				t.Errorf("Parse(%q) = %#v, %v; want the same Reply back", got.String(), back, err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", "no reply code"},
		{"too short", "25", "no reply code"},
		{"letters", "abc def", "no reply code"},
		{"first digit 1", "150 x", "no reply code"},
		{"first digit 6", "650 x", "no reply code"},
		{"first digit 0", "050 x", "no reply code"},
		{"leading space", " 250 ok", "no reply code"},
		{"four digits", "2500 ok", "not followed by"},
		{"tab separator", "250\tok", "not followed by"},
		{"no separator", "250ok", "not followed by"},
		{"bare CR", "250 o\rk", "bare CR"},
		{"bare CR at end of a line", "250-a\r\r\n250 b", "bare CR"},
		{"multi-line ends continued", "250-a\r\n250-b\r\n", "ends with a continued line"},
		{"multi-line single continued line", "250-a", "ends with a continued line"},
		{"multi-line codes differ", "250-a\r\n550 b", "has code 550; line 1 has 250"},
		{"multi-line line without code", "250-a\r\nb", "reply line 2"},
		{"multi-line ended early", "250-a\r\n250 b\r\n250 c", "ends the reply, but 1 more lines follow"},
		{"multi-line empty line", "250-a\r\n\r\n250 b", "reply line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %#v; want an error", tt.in, r)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%q) error %q; want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		r    Reply
		want string
	}{
		{Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "user unknown", Permanent: true}, "550 5.1.1 user unknown"},
		{Reply{Code: 250, Text: "ok"}, "250 ok"},
		{Reply{Code: 250, Enhanced: [3]int{2, 0, 0}}, "250 2.0.0"},
		{Reply{Code: 221}, "221"},
		{Reply{Code: 451, Enhanced: [3]int{4, 4, 2}, Text: "line one\r\nline two\n"}, "451 4.4.2 line one  line two "},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("%#v.String() = %q; want %q", tt.r, got, tt.want)
		}
		if got := tt.r.Error(); got != tt.want {
			t.Errorf("%#v.Error() = %q; want %q", tt.r, got, tt.want)
		}
	}
}

func TestNew(t *testing.T) {
	none := [3]int{-1, -1, -1} // go-smtp's NoEnhancedCode
	tests := []struct {
		name     string
		code     int
		enhanced [3]int
		text     string
		want     Reply
	}{
		{"all parts", 550, [3]int{5, 1, 1}, "user unknown", Reply{550, [3]int{5, 1, 1}, "user unknown", true}},
		{"go-smtp no enhanced code", 550, none, "user unknown", Reply{550, [3]int{}, "user unknown", true}},
		{"enhanced code found in the text", 452, [3]int{}, "4.2.2 over quota", Reply{452, [3]int{4, 2, 2}, "over quota", false}},
		{"mismatched class becomes text", 550, [3]int{4, 2, 2}, "full", Reply{550, [3]int{}, "4.2.2 full", true}},
		{"multi-line message, as go-smtp gives it", 550, [3]int{5, 1, 1}, "first line\n5.1.1 second line\r\n",
			Reply{550, [3]int{5, 1, 1}, "first line second line", true}},
		{"bare CR becomes a space", 421, [3]int{4, 4, 2}, "a\rb", Reply{421, [3]int{4, 4, 2}, "a b", false}},
		{"given enhanced code: the first line is text", 550, [3]int{5, 1, 1}, "5.1.1 twice", Reply{550, [3]int{5, 1, 1}, "5.1.1 twice", true}},
		{"out of range parts dropped", 550, [3]int{5, 1000, 1}, "x", Reply{550, [3]int{}, "x", true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := New(tt.code, tt.enhanced, tt.text); got != tt.want {
				t.Errorf("New(%d, %v, %q)\n got %#v\nwant %#v", tt.code, tt.enhanced, tt.text, got, tt.want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		r    Reply
		want string
	}{
		{Reply{Code: 550, Enhanced: [3]int{5, 1, 1}}, "5.1.1"},
		{Reply{Code: 550}, "5.0.0"},
		{Reply{Code: 421}, "4.0.0"},
		{Reply{Code: 250}, "2.0.0"},
		{Reply{Code: 354}, ""},
		{Reply{}, ""},
	}
	for _, tt := range tests {
		if got := tt.r.Status(); got != tt.want {
			t.Errorf("%#v.Status() = %q; want %q", tt.r, got, tt.want)
		}
	}
}

// timeoutError is a net.Error that timed out, like a deadline on a
// connection.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// refusedDialError dials a loopback port nobody listens on.
func refusedDialError(t *testing.T) error {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		t.Skip("a closed loopback port accepted a connection")
	}
	return err
}

// readTimeoutError reads from a connection whose deadline has passed.
func readTimeoutError(t *testing.T) error {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := a.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err := a.Read(make([]byte, 1))
	return err
}

// closedPeerError writes to a connection the other side closed.
func closedPeerError(t *testing.T) error {
	t.Helper()
	a, b := net.Pipe()
	b.Close()
	defer a.Close()
	_, err := a.Read(make([]byte, 1))
	return err
}

func TestFromError(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	dialTimeout := &net.OpError{Op: "dial", Net: "tcp", Err: timeoutError{}}
	reply := Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "user unknown", Permanent: true}
	tests := []struct {
		name     string
		err      error
		code     int
		enhanced [3]int
	}{
		{"plain error", errors.New("something odd"), 451, [3]int{4, 0, 0}},
		{"DNS no such host", &net.DNSError{Err: "no such host", Name: "mx.example.invalid", IsNotFound: true}, 451, [3]int{4, 4, 3}},
		{"DNS timeout", &net.DNSError{Err: "i/o timeout", Name: "example.invalid", IsTimeout: true}, 451, [3]int{4, 4, 3}},
		{"DNS inside a dial error", &net.OpError{Op: "dial", Err: &net.DNSError{Err: "server misbehaving", Name: "x.invalid"}}, 451, [3]int{4, 4, 3}},
		{"connection refused", refused, 421, [3]int{4, 4, 1}},
		{"real connection refused", refusedDialError(t), 421, [3]int{4, 4, 1}},
		{"dial timeout", dialTimeout, 421, [3]int{4, 4, 1}},
		{"bare ECONNREFUSED", fmt.Errorf("connect: %w", syscall.ECONNREFUSED), 421, [3]int{4, 4, 1}},
		{"host unreachable", fmt.Errorf("connect: %w", syscall.EHOSTUNREACH), 421, [3]int{4, 4, 1}},
		{"read timeout", readTimeoutError(t), 421, [3]int{4, 4, 2}},
		{"net.Error timeout", fmt.Errorf("read: %w", timeoutError{}), 421, [3]int{4, 4, 2}},
		{"context deadline", fmt.Errorf("deliver: %w", context.DeadlineExceeded), 421, [3]int{4, 4, 2}},
		{"EOF mid-DATA", fmt.Errorf("data: %w", io.ErrUnexpectedEOF), 421, [3]int{4, 4, 2}},
		{"peer closed", closedPeerError(t), 421, [3]int{4, 4, 2}},
		{"reset", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, 421, [3]int{4, 4, 2}},
		{"broken pipe", &net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.EPIPE)}, 421, [3]int{4, 4, 2}},
		{"closed connection", fmt.Errorf("write: %w", net.ErrClosed), 421, [3]int{4, 4, 2}},
		{"context canceled", context.Canceled, 451, [3]int{4, 0, 0}},
		{"a Reply", reply, 550, [3]int{5, 1, 1}},
		{"a wrapped Reply", fmt.Errorf("rcpt to bob@example.org: %w", reply), 550, [3]int{5, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromError(tt.err)
			if got.Code != tt.code || got.Enhanced != tt.enhanced {
				t.Errorf("FromError(%v) = %v; want %d %v", tt.err, got, tt.code, tt.enhanced)
			}
			if wantPerm := tt.code/100 == 5; got.Permanent != wantPerm {
				t.Errorf("FromError(%v).Permanent = %v; want %v", tt.err, got.Permanent, wantPerm)
			}
			wantText := tt.err.Error()
			if tt.code == 550 {
				wantText = "user unknown"
			}
			if got.Text != wantText {
				t.Errorf("FromError(%v).Text = %q; want %q", tt.err, got.Text, wantText)
			}
		})
	}

	if got := FromError(nil); got != (Reply{}) {
		t.Errorf("FromError(nil) = %#v; want the zero Reply", got)
	}
	got := FromError(errors.New("line one\r\nline two\n"))
	if got.Text != "line one line two" || got.Permanent {
		t.Errorf("FromError of a multi-line error = %#v; want text %q, temporary", got, "line one line two")
	}
}

func TestJudge(t *testing.T) {
	tests := []struct {
		reply    string
		bounce   string
		subType  string
		suppress bool
		why      string
	}{
		{"550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown", "Permanent", "NoEmail", true, "bad mailbox"},
		{"550 5.1.2 Host unknown", "Permanent", "NoEmail", true, "bad system"},
		{"553 5.1.3 Bad recipient address syntax", "Permanent", "NoEmail", true, "bad syntax"},
		{"550 5.1.6 Mailbox has moved", "Permanent", "NoEmail", true, "moved"},
		{"556 5.1.10 Recipient address has null MX", "Permanent", "NoEmail", true, "null MX"},
		{"556 Domain does not accept mail", "Permanent", "NoEmail", true, "556 without enhanced code"},
		{"553 5.1.7 Sender address syntax", "Permanent", "General", false, "sender's address"},
		{"550 5.1.8 Sender domain does not exist", "Permanent", "General", false, "sender's system"},
		{"550 5.1.0 Address rejected", "Permanent", "General", true, "other address status"},
		{"550 5.2.1 Mailbox disabled", "Permanent", "General", true, "disabled"},
		{"552 5.2.2 Mailbox full", "Permanent", "General", false, "permanent mailbox full"},
		{"452 4.2.2 Mailbox full", "Transient", "MailboxFull", false, "temporary mailbox full"},
		{"552 5.2.3 Message exceeds the limit", "Permanent", "General", false, "administrative limit"},
		{"552 5.3.4 Message size exceeds fixed maximum message size", "Permanent", "General", false, "too big"},
		{"452 4.3.4 Message too big for now", "Transient", "MessageTooLarge", false, "temporary too big"},
		{"452 4.2.3 Message too big for the mailbox", "Transient", "MessageTooLarge", false, "temporary too big"},
		{"552 Message too large or mailbox full", "Permanent", "General", false, "552 without enhanced code"},
		{"554 5.4.7 Delivery time expired", "Permanent", "General", false, "expired"},
		{"550 5.4.4 Unable to route", "Permanent", "General", true, "unable to route"},
		{"554 5.6.0 Message content rejected", "Permanent", "General", false, "media"},
		{"550 5.6.1 Attachment type not allowed", "Permanent", "General", false, "attachment"},
		{"550 5.7.1 Message rejected as spam", "Permanent", "General", false, "policy refusal"},
		{"554 5.7.0 Message rejected for policy reasons", "Permanent", "General", false, "policy refusal"},
		{"550 5.7.26 Unauthenticated email is not accepted (DMARC)", "Permanent", "General", false, "authentication"},
		{"530 5.7.0 Must issue a STARTTLS command first", "Permanent", "General", false, "5.7.0 is policy"},
		{"550 Requested action not taken: mailbox unavailable", "Permanent", "General", true, "5yz without enhanced code"},
		{"554 Transaction failed", "Permanent", "General", true, "5yz without enhanced code"},
		{"550 5.5.0 Requested action not taken: mailbox unavailable", "Permanent", "General", true, "other 5yz"},
		{"451 4.7.1 Greylisted", "Transient", "ContentRejected", false, "4.7.1 is policy"},
		{"451 4.7.1 Attachment scan pending", "Transient", "AttachmentRejected", false, "attachment"},
		{"450 4.7.25 Client host rejected: cannot find your hostname", "Transient", "General", false, "other 4.7.x"},
		{"421 4.4.1 Unable to connect to remote host", "Transient", "General", false, "connection"},
		{"450 Mailbox busy", "Transient", "General", false, "4yz"},
		{"450 Message looks like spam, try later", "Transient", "ContentRejected", false, "spam, no enhanced code"},
		// The sender-blame rule: refusals about the sender's host,
		// reputation or a policy are not evidence of a bad address.
		{"550 Client host [192.0.2.1] blocked using zen.spamhaus.org", "Permanent", "General", false, "block list"},
		{"554 5.0.0 Service unavailable; IP 192.0.2.1 is listed at bl.spamcop.net", "Permanent", "General", false, "listed at"},
		{"550 IP listed in DNSBL", "Permanent", "General", false, "listed in"},
		{"554 Your access to this mail system has been rejected due to the sending MTA's poor reputation", "Permanent", "General", false, "reputation"},
		{"550 5.5.0 Message rejected: our blacklist says no", "Permanent", "General", false, "blacklist"},
		{"550 Message rejected as spam", "Permanent", "General", false, "spam, no enhanced code"},
		{"550 5.4.1 Message content rejected by policy", "Permanent", "General", false, "content and policy"},
		{"550 Denied by policy", "Permanent", "General", false, "policy"},
		{"550 Too many connections from your host", "Permanent", "General", false, "too many"},
		{"550 5.4.0 Rate limited, try later", "Permanent", "General", false, "rate limit"},
		{"554 Email rejected due to security policies", "Permanent", "General", false, "rejected due to"},
		{"556 Your mail server is blocked", "Permanent", "General", false, "556 with blame"},
		{"550 5.1.1 <bob@example.org>: User unknown; also your IP is on a blocklist", "Permanent", "NoEmail", true, "a bad-address code wins"},
		{"553 5.1.3 Address blocked syntax", "Permanent", "NoEmail", true, "a bad-address code wins"},
		{"550 User not listed in public Name & Address Book", "Permanent", "General", true, "a directory, not a block list"},
		{"550 Recipient is not listed in our directory", "Permanent", "General", true, "not listed"},
		{"550 Mailbox unlisted", "Permanent", "General", true, "unlisted is not listed"},
		{"550 Mailbox unblockedx", "Permanent", "General", true, "word boundaries"},
		{"550 Mailbox full", "Permanent", "General", false, "full, no enhanced code"},
		{"554 5.0.0 User is over quota", "Permanent", "General", false, "quota"},
		{"552 Requested mail action aborted: exceeded storage allocation", "Permanent", "General", false, "552"},
		{"250 2.0.0 Ok", "Undetermined", "Undetermined", false, "success"},
		{"354 go ahead", "Undetermined", "Undetermined", false, "intermediate"},
	}
	for _, tt := range tests {
		t.Run(tt.reply, func(t *testing.T) {
			r, err := Parse(tt.reply)
			if err != nil {
				t.Fatal(err)
			}
			v := Judge(r)
			if v.BounceType != tt.bounce || v.SubType != tt.subType || v.Suppress != tt.suppress || v.Rule == "" {
				t.Errorf("Judge(%q) = %+v; want %s/%s suppress=%v (%s)", tt.reply, v, tt.bounce, tt.subType, tt.suppress, tt.why)
			}
			if b, s := Classify(r); b != v.BounceType || s != v.SubType {
				t.Errorf("Classify(%q) = %s/%s; Judge gives %+v", tt.reply, b, s, v)
			}
		})
	}

	// Hand-made replies: the class must match, and zero is undetermined.
	for _, c := range []struct {
		r               Reply
		bounce, subType string
	}{
		{Reply{}, "Undetermined", "Undetermined"},
		{Reply{Code: 550, Enhanced: [3]int{4, 2, 2}}, "Permanent", "General"},
		{Reply{Code: 450, Enhanced: [3]int{5, 1, 1}}, "Transient", "General"},
		{Reply{Code: 5500}, "Undetermined", "Undetermined"},
		{Reply{Code: -450}, "Undetermined", "Undetermined"},
	} {
		if b, s := Classify(c.r); b != c.bounce || s != c.subType {
			t.Errorf("Classify(%#v) = %s/%s; want %s/%s", c.r, b, s, c.bounce, c.subType)
		}
	}
}

// TestTemporaryUnlessProvenPermanent: of everything FromError can see,
// nothing is permanent unless it is a 5yz Reply.
func TestTemporaryUnlessProvenPermanent(t *testing.T) {
	for _, err := range []error{
		errors.New("x"), io.EOF, context.Canceled, &net.DNSError{Err: "no such host", IsNotFound: true},
		fmt.Errorf("parse reply: %w", errors.New("smtpcode: no reply code")),
	} {
		if r := FromError(err); r.Permanent || r.Code/100 != 4 {
			t.Errorf("FromError(%v) = %v; want a temporary 4yz reply", err, r)
		}
	}
	if _, err := Parse("garbage"); err == nil {
		t.Fatal("Parse(garbage) succeeded")
	} else if r := FromError(err); r.Permanent {
		t.Errorf("an unparseable reply became permanent: %v", r)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"550 5.1.1 <x@y>: user unknown",
		"250 ok\r\n",
		"250",
		"550-5.1.1 a\r\n550-5.1.1 b\r\n550 5.1.1 c\r\n",
		"550 5.1.1 a\n5.1.1 b",
		"550 4.2.2 mismatched",
		"550  5.01.001\tx  ",
		"550-\r\n550 5.1.1 x",
		"550 x\n5.1.1 y",
		"451 4.7.1 \xff\x00",
		"550 5.1.1 5.1.1 twice",
		"",
		"999 x",
		"250-a\r\n250-b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			if r != (Reply{}) {
				t.Fatalf("Parse(%q) returned %#v with error %v", s, r, err)
			}
			return
		}
		if r.Code < 200 || r.Code > 599 {
			t.Fatalf("Parse(%q) code %d", s, r.Code)
		}
		if r.Permanent != (r.Code/100 == 5) {
			t.Fatalf("Parse(%q) = %#v: Permanent does not follow the code", s, r)
		}
		if r.Enhanced != ([3]int{}) && !validEnhanced(r.Code, r.Enhanced) {
			t.Fatalf("Parse(%q) = %#v: invalid enhanced code", s, r)
		}
		if strings.ContainsAny(r.Text, "\r\n") || strings.Trim(r.Text, " \t") != r.Text {
			t.Fatalf("Parse(%q) = %#v: text not one trimmed line", s, r)
		}
		line := r.String()
		back, err := Parse(line)
		if err != nil {
			t.Fatalf("Parse(%q) = %#v; Parse of its String %q: %v", s, r, line, err)
		}
		if back != r {
			t.Fatalf("Parse(%q) = %#v; Parse of its String %q = %#v", s, r, line, back)
		}
		if n := New(r.Code, r.Enhanced, r.Text); n != r {
			t.Fatalf("Parse(%q) = %#v; New of its parts = %#v", s, r, n)
		}
		if v := Judge(r); v.Suppress && v.BounceType != BouncePermanent {
			t.Fatalf("Judge(%q) = %+v: suppresses without a permanent bounce", s, v)
		}
	})
}
