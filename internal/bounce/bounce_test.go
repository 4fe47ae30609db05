package bounce

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/smtpcode"
)

// parse parses a message written with LF line ends in the test source.
func parse(t *testing.T, msg string) *Report {
	t.Helper()
	r, err := Parse([]byte(msg))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checkInvariants(t, r)
	return r
}

// want checks a report's kind and its recipients as "address status
// bounceType" triples (status and bounceType may be empty to skip them).
func want(t *testing.T, r *Report, kind Kind, recipients ...string) {
	t.Helper()
	if r.Kind != kind {
		t.Fatalf("kind %s (format %s), want %s; report %s", r.Kind, r.Format, kind, summary(r))
	}
	if len(r.Recipients) != len(recipients) {
		t.Fatalf("%d recipients, want %d: %s", len(r.Recipients), len(recipients), summary(r))
	}
	for i, w := range recipients {
		f := strings.Fields(w)
		rc := r.Recipients[i]
		if !strings.EqualFold(rc.Address, f[0]) {
			t.Errorf("recipient %d: %s, want %s", i, rc.Address, f[0])
		}
		if len(f) > 1 && rc.Status != f[1] {
			t.Errorf("recipient %s: status %s, want %s (%s)", rc.Address, rc.Status, f[1], rc.Reason)
		}
		if len(f) > 2 && rc.BounceType != f[2] {
			t.Errorf("recipient %s: bounce type %s/%s, want %s (%s)", rc.Address, rc.BounceType, rc.BounceSubType, f[2], rc.Reason)
		}
		if len(f) > 3 && rc.Suppress != (f[3] == "suppress") {
			t.Errorf("recipient %s: suppress %v, want %s (%s)", rc.Address, rc.Suppress, f[3], rc.Reason)
		}
	}
}

func TestDSN(t *testing.T) {
	r := parse(t, `Return-Path: <>
From: MAILER-DAEMON@mx.example.org (Mail Delivery System)
To: sender@example.com
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="B1"

--B1
Content-Type: text/plain

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org
Arrival-Date: Thu, 29 Apr 2021 23:34:45 +0900 (JST)

Final-Recipient: rfc822; Bob@Example.NET
Original-Recipient: rfc822;bob@example.net
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.net
Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: Recipient address
    rejected: User unknown in local recipient table
Last-Attempt-Date: Thu, 29 Apr 2021 23:34:46 +0900

Final-Recipient: rfc822; carol@example.net
Action: delivered
Status: 2.0.0

Final-Recipient: rfc822; dave@example.net
Action: delayed
Status: 4.4.1
Diagnostic-Code: X-Postfix; connect to mx.example.net: Connection timed out

--B1
Content-Type: message/rfc822

From: Sender <sender@example.com>
To: bob@example.net, carol@example.net, dave@example.net
Subject: Hello
Message-ID: <abc@example.com>

Hi
--B1--
`)
	want(t, r, KindBounce, "Bob@example.net 5.1.1 Permanent", "dave@example.net 4.4.1 Transient")
	if r.Format != FormatDSN || r.ReportingMTA != "mx.example.org" {
		t.Errorf("format %q, reporting MTA %q", r.Format, r.ReportingMTA)
	}
	bob := r.Recipients[0]
	if bob.Action != "failed" || bob.BounceSubType != "NoEmail" || bob.RemoteMTA != "mx.example.net" || bob.OriginalRecipient != "bob@example.net" {
		t.Errorf("bob: %+v", bob)
	}
	if !strings.HasPrefix(bob.DiagnosticCode, "smtp; 550 5.1.1 <bob@example.net>: Recipient address rejected") {
		t.Errorf("diagnostic %q (folded lines must be joined)", bob.DiagnosticCode)
	}
	if bob.LastAttempt.IsZero() {
		t.Error("no last attempt date")
	}
	if r.Recipients[1].Action != "delayed" {
		t.Errorf("dave: action %q", r.Recipients[1].Action)
	}
	if r.Original == nil || r.Original.MessageID != "abc@example.com" || r.Original.Subject != "Hello" || len(r.Original.To) != 3 {
		t.Errorf("original: %+v", r.Original)
	}
}

func TestDSNTolerance(t *testing.T) {
	// text/delivery-status, no report-type, "Name : value", no blank
	// line between groups, an address without type and with brackets,
	// a Final-Recipient that is not an address.
	r := parse(t, `From: postmaster@mx.example.org
To: sender@example.com
Subject: failure
Content-Type: multipart/mixed; boundary=XX

--XX
Content-Type: multipart/alternative; boundary=YY

--YY
Content-Type: text/plain

Delivery failed.
--YY--
--XX
Content-Type: text/delivery-status

Reporting-MTA : dns; mx.example.org
Final-Recipient : <one@example.net>
Action : FAILED
Status : 5.2.2 (mailbox full)
Final-Recipient: rfc822; two@example.net
Action: failed
Status: 5.0.0
Diagnostic-Code: smtp; 550 5.1.1 no such user

Final-Recipient: x-local; /var/mail/three
Original-Recipient: rfc822; three@example.net
Action: failed
Status: 5.1.1
--XX--
`)
	want(t, r, KindBounce, "one@example.net 5.2.2 Permanent keep", "two@example.net 5.0.0 Permanent", "three@example.net 5.1.1 Permanent suppress")
	if r.Recipients[0].Action != "failed" || r.Recipients[0].BounceSubType != "General" {
		t.Errorf("one: %+v", r.Recipients[0])
	}
	// 5.0.0 says nothing; the diagnostic's 5.1.1 decides the subtype.
	if r.Recipients[1].BounceSubType != "NoEmail" {
		t.Errorf("two: %+v", r.Recipients[1])
	}
	// Final-Recipient names one and two; three is only the original
	// sender's ORCPT (Original-Recipient), and is marked so.
	for i, src := range []AddressSource{SourceReport, SourceReport, SourceOriginalRecipient} {
		if r.Recipients[i].Source != src {
			t.Errorf("recipient %s: source %q, want %q", r.Recipients[i].Address, r.Recipients[i].Source, src)
		}
	}
}

func TestDSNGlobal(t *testing.T) {
	r := parse(t, "From: MAILER-DAEMON@mx.example.org\nSubject: failed\nContent-Type: multipart/report; report-type=global-delivery-status; boundary=b\n\n"+
		"--b\nContent-Type: message/global-delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"+
		"Final-Recipient: utf-8; j\\x{00F6}rg@example.de\nAction: failed\nStatus: 5.1.1\n--b--\n")
	want(t, r, KindBounce, "jörg@example.de 5.1.1 Permanent")
}

func TestDelivered(t *testing.T) {
	r := parse(t, `From: MAILER-DAEMON@mx.example.org
Subject: Successful Mail Delivery Report
Content-Type: multipart/report; report-type=delivery-status; boundary=b

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; bob@example.net
Action: relayed
Status: 2.0.0
--b--
`)
	want(t, r, KindDelivered, "bob@example.net 2.0.0")
}

// TestPolicyBlockIsNotSuppressed: a permanent refusal that blames the
// sender is a Permanent bounce (the class decides) that does not suppress.
func TestPolicyBlockIsNotSuppressed(t *testing.T) {
	for _, diag := range []string{
		"smtp; 550 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
		"smtp; 554 Your IP 192.0.2.1 is listed at bl.spamcop.net",
		"smtp; 550 Message rejected due to poor reputation of the sending IP",
		"smtp; 550 5.0.0 Too many connections from your IP",
		"smtp; 550 Denied by policy",
	} {
		if v := Classify("5.0.0", diag); v.BounceType != "Permanent" || v.Suppress {
			t.Errorf("Classify(5.0.0, %q) = %+v; want Permanent, not suppressed", diag, v)
		}
	}
	// A bad address stays bad, whatever else the text says.
	if v := Classify("5.1.1", "smtp; 550 5.1.1 user unknown (blocked list lookup skipped)"); v.BounceType != "Permanent" || v.SubType != "NoEmail" || !v.Suppress {
		t.Errorf("5.1.1 with policy words: %+v", v)
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		status, diag, bt, sub string
		suppress              bool
	}{
		{"5.1.1", "smtp; 550 5.1.1 user unknown", "Permanent", "NoEmail", true},
		{"", "smtp; 550 5.1.1 user unknown", "Permanent", "NoEmail", true},
		{"", "550 no such user", "Permanent", "General", true},
		{"4.4.1", "", "Transient", "General", false},
		{"4.2.2", "smtp; 452 4.2.2 over quota", "Transient", "MailboxFull", false},
		{"5.2.2", "smtp; 552 5.2.2 mailbox full", "Permanent", "General", false},
		{"5.0.0", "smtp; 552 5.3.4 message too big", "Permanent", "General", false},
		{"5.7.1", "smtp; 554 5.7.1 message contains an attachment we refuse", "Permanent", "General", false},
		{"4.7.1", "smtp; 454 4.7.1 message contains an attachment we refuse", "Transient", "AttachmentRejected", false},
		// Status decides the class; a diagnostic of the other class does not.
		{"5.1.1", "smtp; 450 4.2.2 mailbox full", "Permanent", "NoEmail", true},
		{"4.0.0", "smtp; 550 5.1.1 user unknown", "Transient", "General", false},
		{"2.0.0", "", "Undetermined", "Undetermined", false},
		{"", "", "Undetermined", "Undetermined", false},
		{"garbage", "nothing", "Undetermined", "Undetermined", false},
	} {
		v := Classify(c.status, c.diag)
		if v.BounceType != c.bt || v.SubType != c.sub || v.Suppress != c.suppress || v.Rule == "" {
			t.Errorf("Classify(%q, %q) = %+v; want %s/%s suppress=%v", c.status, c.diag, v, c.bt, c.sub, c.suppress)
		}
	}
}

func TestARF(t *testing.T) {
	r := parse(t, `From: feedback@isp.example
To: fbl@example.com
Subject: Abuse report
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="p"

--p
Content-Type: text/plain

This is an email abuse report.
--p
Content-Type: message/feedback-report

Feedback-Type: Abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <bounce-123@example.com>
Original-Rcpt-To: <user1@isp.example>
Original-Rcpt-To: user2@isp.example
Arrival-Date: Thu, 8 Mar 2005 14:00:00 EDT
Source-IP: 192.0.2.1
Reported-Domain: example.com
--p
Content-Type: message/rfc822

From: <news@example.com>
To: <user1@isp.example>
Subject: Offer
Message-ID: <m1@example.com>

Buy
--p--
`)
	want(t, r, KindComplaint, "user1@isp.example", "user2@isp.example")
	if r.Recipients[0].Source != SourceReport || r.Recipients[1].Source != SourceReport {
		t.Errorf("recipients named by Original-Rcpt-To: %+v", r.Recipients)
	}
	c := r.Complaint
	if r.Format != FormatARF || c.FeedbackType != "abuse" || c.UserAgent != "SomeGenerator/1.0" || c.SourceIP != "192.0.2.1" ||
		c.OriginalMailFrom != "bounce-123@example.com" || c.ReportedDomain != "example.com" || c.ArrivalDate.IsZero() {
		t.Errorf("complaint: %+v", c)
	}
	if r.Original == nil || r.Original.MessageID != "m1@example.com" {
		t.Errorf("original: %+v", r.Original)
	}

	// No Original-Rcpt-To: the enclosed headers' To.
	r = parse(t, `From: fbl@isp.example
Subject: report
Content-Type: multipart/report; report-type=feedback-report; boundary="p"

--p
Content-Type: message/feedback-report

Feedback-Type: opt-out
Version: 1
--p
Content-Type: text/rfc822-headers

From: news@example.com
To: Someone <someone@isp.example>
Subject: x
--p--
`)
	want(t, r, KindComplaint, "someone@isp.example")
	if r.Recipients[0].Source != SourceEnclosed {
		t.Errorf("a recipient from the enclosed message's To: source %q, want %q", r.Recipients[0].Source, SourceEnclosed)
	}
	if r.Complaint.FeedbackType != "opt-out" {
		t.Errorf("feedback type %q", r.Complaint.FeedbackType)
	}
}

func TestComplaintLookAlikes(t *testing.T) {
	r := parse(t, `From: staff@hotmail.com
To: abuse-report@example.com
Subject: complaint about message from 192.0.2.1
Content-Type: multipart/mixed; boundary="j"

--j
Content-Type: message/rfc822

X-HmXmrOriginalRecipient: <reader@outlook.example>
From: news@example.com
To: reader@outlook.example
Subject: hi

hi
--j--
`)
	want(t, r, KindComplaint, "reader@outlook.example")
	if r.Format != FormatJMRP || r.Complaint.FeedbackType != "abuse" {
		t.Errorf("format %s, complaint %+v", r.Format, r.Complaint)
	}

	r = parse(t, `From: someone@icloud.com
To: unsubscribe-123@example.com
Subject: unsubscribe
Auto-Submitted: auto-replied
X-Apple-Unsubscribe: true

Apple Mail sent this email to unsubscribe from the message.
`)
	want(t, r, KindComplaint, "someone@icloud.com")
	if r.Complaint.FeedbackType != "opt-out" {
		t.Errorf("complaint %+v", r.Complaint)
	}
}

func TestAutoReply(t *testing.T) {
	for name, msg := range map[string]string{
		"rfc3834":    "From: Bob <bob@example.net>\nTo: a@example.com\nSubject: Re: hello\nAuto-Submitted: auto-replied\n\nThanks, I got it.\n",
		"subject":    "Return-Path: <>\nFrom: bob@example.net\nTo: a@example.com\nSubject: Out of Office: hello\n\nI am away until Monday; your message could not be delivered to me in person.\n",
		"header":     "From: bob@example.net\nTo: a@example.com\nSubject: hello\nX-Autoreply: yes\n\nOn vacation.\n",
		"precedence": "From: bob@example.net\nSubject: hello\nPrecedence: auto_reply\n\nOn vacation.\n",
	} {
		t.Run(name, func(t *testing.T) {
			r := parse(t, msg)
			want(t, r, KindAutoReply, "bob@example.net")
		})
	}

	// An Exim bounce carries Auto-Submitted: auto-replied; it is a bounce.
	r := parse(t, `Return-path: <>
X-Failed-Recipients: bob@example.net
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@mx.example.org>
To: sender@example.com
Subject: Mail delivery failed: returning message to sender

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  bob@example.net
    SMTP error from remote mail server after RCPT TO:<bob@example.net>:
    host mx.example.net [192.0.2.2]: 550 5.1.1 <bob@example.net>: User unknown

------ This is a copy of the message, including all the headers. ------

Return-path: <sender@example.com>
From: sender@example.com
To: bob@example.net
Subject: hi

hi
`)
	want(t, r, KindBounce, "bob@example.net 5.1.1 Permanent")
	if r.Format != "exim" || r.Original == nil || r.Original.Subject != "hi" {
		t.Errorf("format %s, original %+v", r.Format, r.Original)
	}
}

func TestTextBounces(t *testing.T) {
	for _, c := range []struct {
		name, msg string
		want      []string
	}{
		{"qmail", `From: MAILER-DAEMON@mail.example.org
To: sender@example.com
Subject: failure notice

Hi. This is the qmail-send program at mail.example.org.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<alice@example.net>:
192.0.2.3 does not like recipient.
Remote host said: 550 5.1.1 <alice@example.net>... User Unknown
Giving up on 192.0.2.3.

<bob@example.net>:
192.0.2.3 does not like recipient.
Remote host said: 552 5.2.2 <bob@example.net>... Mailbox full
Giving up on 192.0.2.3.

--- Below this line is a copy of the message.

Return-Path: <sender@example.com>
From: sender@example.com
To: alice@example.net, bob@example.net
Subject: x

x
`, []string{"alice@example.net 5.1.1 Permanent suppress", "bob@example.net 5.2.2 Permanent keep"}},

		{"sendmail without MIME", `From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.org>
To: sender@example.com
Subject: Returned mail: see transcript for details

The original message was received at Thu, 29 Apr 2021 23:34:45 +0900
from localhost [127.0.0.1]

   ----- The following addresses had permanent fatal errors -----
<carol@example.net>
    (reason: 550 Host unknown)

   ----- Transcript of session follows -----
550 5.1.2 <carol@example.net>... Host unknown (Name server: example.net: host not found)

   ----- Original message follows -----
Return-Path: <sender@example.com>
Received: from localhost by mx.example.org
From: sender@example.com
To: carol@example.net
`, []string{"carol@example.net 5.1.2 Permanent"}},

		{"gmail", `From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: sender@gmail.com
Subject: Delivery Status Notification (Failure)

Delivery to the following recipient failed permanently:

     dan@example.net

Technical details of permanent failure:
Google tried to deliver your message, but it was rejected by the server for the recipient domain example.net.

The error that the other server returned was:
550 5.7.1 Service unavailable; client [192.0.2.4] blocked using bl.example

----- Original message -----

From: sender@gmail.com
To: dan@example.net
`, []string{"dan@example.net 5.7.1 Permanent keep"}},

		{"exchange", `From: postmaster@example.net
To: sender@example.com
Subject: Undeliverable: hello

Delivery has failed to these recipients or groups:

erin@example.net
The email address you entered couldn't be found.

Diagnostic information for administrators:

Generating server: mail.example.net

erin@example.net
#550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup ##
`, []string{"erin@example.net 5.1.10 Permanent"}},

		{"delay warning without code", `From: MAILER-DAEMON@mx.example.org
To: sender@example.com
Subject: Delayed Mail (still being retried)

This is the mail system at host mx.example.org.

####################################################################
# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
####################################################################

Your message could not be delivered for more than 4 hour(s).
It will be retried until it is 5 day(s) old.

<frank@example.net>: connect to mx.example.net[192.0.2.5]:25: Connection timed out
`, []string{"frank@example.net 4.4.1 Transient"}},

		{"keywords only", `From: Mail Administrator <postmaster@mail.example.net>
To: sender@example.com
Subject: Mail System Error - Returned Mail

This Message was undeliverable due to the following reason:

The user(s) account is temporarily over quota.

<gina@example.net>
`, []string{"gina@example.net"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := parse(t, c.msg)
			want(t, r, KindBounce, c.want...)
		})
	}
}

func TestSESNotification(t *testing.T) {
	r := parse(t, `From: no-reply@sns.amazonaws.com
To: ops@example.com
Subject: AWS Notification Message
Content-Type: text/plain; charset=UTF-8

{
  "Type" : "Notification",
  "Message" : "{\"notificationType\":\"Bounce\",\"bounce\":{\"bounceType\":\"Permanent\",\"bounceSubType\":\"General\",\"bouncedRecipients\":[{\"emailAddress\":\"hank@example.net\",\"action\":\"failed\",\"status\":\"5.1.1\",\"diagnosticCode\":\"smtp; 550 5.1.1 user unknown\"}],\"reportingMTA\":\"dsn; a1.smtp-out.example\"},\"mail\":{\"messageId\":\"m-1\",\"source\":\"s@example.com\",\"commonHeaders\":{\"subject\":\"Hi!
 there\"}}}"
}
`)
	want(t, r, KindBounce, "hank@example.net 5.1.1 Permanent")
	if r.Format != FormatSESNotification || r.Original == nil || r.Original.MessageID != "m-1" {
		t.Errorf("format %s, original %+v", r.Format, r.Original)
	}
}

func TestBadInput(t *testing.T) {
	for _, in := range []string{"", "\n\n\n", "this is not a message\nat all\n", "\x00\x01\x02", ":no name\n\nbody"} {
		if r, err := Parse([]byte(in)); !errors.Is(err, ErrNotMessage) || r != nil {
			t.Errorf("Parse(%q) = %v, %v; want ErrNotMessage", in, r, err)
		}
	}
	for _, in := range []string{
		"Subject: hi\n",
		"Subject: hi\n\nJust a note.\n",
		"From: a@example.com\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: message/delivery-status\n\n--x--\n",
		"From: a@example.com\nContent-Type: multipart/report\n\nno parts at all\n",
		"Content-Type: message/rfc822\n\nContent-Type: message/rfc822\n\n",
		"Content-Transfer-Encoding: base64\nContent-Type: text/plain\n\n!!!not base64===\n",
	} {
		r, err := Parse([]byte(in))
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		checkInvariants(t, r)
		if r.Kind != KindUnknown {
			t.Errorf("Parse(%q) = %s; want unknown", in, summary(r))
		}
	}
}

func TestMbox(t *testing.T) {
	one := func(rcpt string) string {
		return "From: MAILER-DAEMON@mx.example.org\nSubject: Delivery report\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n" +
			"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; " + rcpt + "\nAction: delivered\nStatus: 2.1.5\n--b--\n"
	}
	r := parse(t, "From MAILER-DAEMON Mon Sep 20 19:29:27 2021\n"+one("a@example.net")+"\nFrom MAILER-DAEMON Mon Sep 20 19:29:28 2021\n"+one("b@example.net"))
	want(t, r, KindDelivered, "a@example.net 2.1.5", "b@example.net 2.1.5")
}

// TestLimits: hostile structure is parsed in bounded time.
func TestLimits(t *testing.T) {
	var deep strings.Builder
	deep.WriteString("From: x@example.com\n")
	for i := range 5000 {
		fmt.Fprintf(&deep, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i)
	}
	var many strings.Builder
	many.WriteString("From: MAILER-DAEMON@example.com\nSubject: failure\nContent-Type: multipart/mixed; boundary=b\n\n")
	for range 100000 {
		many.WriteString("--b\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@example.net\nStatus: 5.1.1\n\n")
	}
	var rcpts strings.Builder
	rcpts.WriteString("From: MAILER-DAEMON@example.com\nSubject: failure\nContent-Type: multipart/report; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\n")
	for i := range 50000 {
		fmt.Fprintf(&rcpts, "Final-Recipient: rfc822; user%d@example.net\nAction: failed\nStatus: 5.1.1\n\n", i)
	}
	var text strings.Builder
	text.WriteString("From: MAILER-DAEMON@example.com\nSubject: Undeliverable\nX-Failed-Recipients: ")
	for i := range 3000 {
		fmt.Fprintf(&text, "u%d@example.net, ", i)
	}
	text.WriteString("\n\n")
	for i := range 20000 {
		fmt.Fprintf(&text, "<u%d@example.net>: 550 5.1.1 user unknown %s\n", i, strings.Repeat("x", i%100))
	}
	longHeader := "Subject: x\nX-Long: a\n" + strings.Repeat(" folded\n", 200000) + "\nbody\n"
	for name, msg := range map[string]string{"deep": deep.String(), "many parts": many.String(), "many recipients": rcpts.String(), "long text": text.String(), "long header": longHeader} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			r, err := Parse([]byte(msg))
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, r)
			if len(r.Recipients) > maxRecipients {
				t.Errorf("%d recipients", len(r.Recipients))
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// checkInvariants checks what every Report must satisfy.
func checkInvariants(t testing.TB, r *Report) {
	t.Helper()
	if r == nil {
		t.Fatal("nil report")
	}
	switch r.Kind {
	case KindBounce, KindComplaint, KindAutoReply, KindDelivered, KindUnknown:
	default:
		t.Fatalf("kind %q", r.Kind)
	}
	if len(r.Recipients) > maxRecipients {
		t.Fatalf("%d recipients", len(r.Recipients))
	}
	if r.Kind == KindComplaint && r.Complaint == nil {
		t.Fatal("complaint without Complaint")
	}
	for _, rc := range r.Recipients {
		if rc.Address == "" {
			t.Fatalf("empty recipient address in %s", summary(r))
		}
		switch rc.BounceType {
		case "", "Permanent", "Transient", "Undetermined":
		default:
			t.Fatalf("bounce type %q", rc.BounceType)
		}
		switch rc.BounceSubType {
		case "", "General", "NoEmail", "MailboxFull", "MessageTooLarge", "ContentRejected", "AttachmentRejected", "Undetermined":
		default:
			t.Fatalf("bounce subtype %q", rc.BounceSubType)
		}
		if r.Kind == KindBounce {
			if rc.BounceType == "" || rc.Status == "" || rc.Reason == "" {
				t.Fatalf("bounce recipient without type, status or reason: %+v", rc)
			}
			if (rc.Status[0] == '4') != (rc.BounceType == "Transient") {
				t.Fatalf("status %s with bounce type %s", rc.Status, rc.BounceType)
			}
			if rc.Suppress && (rc.BounceType != "Permanent" || rc.Status[0] != '5') {
				t.Fatalf("suppressed without a permanent failure: %+v", rc)
			}
		}
	}
}

// TestLargeInput: a 100 MB message is not copied many times over: Parse
// looks at the first 40 MB, and decodes and scans bounded parts of it.
func TestLargeInput(t *testing.T) {
	if testing.Short() {
		t.Skip("large input")
	}
	var b strings.Builder
	b.WriteString("From: MAILER-DAEMON@mx.example.org\nSubject: Undeliverable\nContent-Type: multipart/mixed; boundary=b\n\n")
	b.WriteString("--b\nContent-Type: text/plain\n\n<big@example.net>: 550 5.1.1 user unknown\n")
	line := strings.Repeat("x", 75) + " user@example.net 550 5.1.1\n"
	for b.Len() < 30<<20 {
		b.WriteString(line)
	}
	b.WriteString("--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n")
	for b.Len() < 100<<20 {
		b.WriteString("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\n")
	}
	msg := []byte(b.String())
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	r, err := Parse(msg)
	d := time.Since(start)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, r)
	want(t, r, KindBounce, "big@example.net 5.1.1")
	t.Logf("%d MB message: %v, %d MB allocated", len(msg)>>20, d, (after.TotalAlloc-before.TotalAlloc)>>20)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 && !raceEnabled {
		t.Errorf("Parse of a %d MB message allocated %d MB", len(msg)>>20, alloc>>20)
	}
	if d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestHeaderSpacing(t *testing.T) {
	// "Name : value" at the top, which is not an mbox "From " line.
	r := parse(t, "From : Bob <bob@example.net>\nSubject : Automatic reply: hi\n\nAway until Monday.\n")
	want(t, r, KindAutoReply, "bob@example.net")
}

// TestSameVerdictAsDelivery: a reply judged during delivery
// (smtpcode.Judge) and the same reply in a DSN (the Status Sesame's own
// events give it, and the reply as Diagnostic-Code) get the same verdict,
// so both paths suppress the same addresses.
func TestSameVerdictAsDelivery(t *testing.T) {
	for _, line := range []string{
		"550 5.1.1 <bob@example.org>: User unknown",
		"552 Requested mail action aborted: exceeded storage allocation",
		"556 Domain does not accept mail",
		"552 5.2.2 Mailbox full",
		"554 5.7.1 Client host blocked using zen.spamhaus.org",
		"550 Client host [192.0.2.1] blocked using zen.spamhaus.org",
		"550 Requested action not taken: mailbox unavailable",
		"550 Mailbox full",
		"554 5.0.0 Transaction failed",
		"556 5.0.0 Domain does not accept mail",
		"552 5.0.0 Requested mail action aborted: exceeded storage allocation",
		"450 4.2.2 Mailbox full",
		"451 4.7.1 Greylisted",
		"421 Service not available",
	} {
		r, err := smtpcode.Parse(line)
		if err != nil {
			t.Fatal(err)
		}
		d := smtpcode.Judge(r)
		b := Classify(r.Status(), "smtp; "+r.String())
		if d.BounceType != b.BounceType || d.SubType != b.SubType || d.Suppress != b.Suppress {
			t.Errorf("%q: delivery %+v, report %+v", line, d, b)
		}
	}
}

// TestStatusFromDiagnostic: a DSN group without Status takes the class of
// its Diagnostic-Code's reply as X.0.0, and only of a 2yz, 4yz or 5yz
// reply (as smtpcode.Reply.Status): a 354 is no status.
func TestStatusFromDiagnostic(t *testing.T) {
	for diag, want := range map[string]string{"smtp; 550 no such user": "5.0.0", "smtp; 452 try later": "4.0.0", "smtp; 354 go ahead": ""} {
		r, err := Parse([]byte("From: MAILER-DAEMON@mx.example.org\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n" +
			"Final-Recipient: rfc822; bob@example.net\r\nAction: failed\r\nDiagnostic-Code: " + diag + "\r\n--b--\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, rc := range r.Recipients {
			got = append(got, rc.Status)
		}
		if want != "" && (len(got) != 1 || got[0] != want) || want == "" && len(got) == 1 && strings.HasPrefix(got[0], "3") {
			t.Errorf("%s: statuses %q; want %q", diag, got, want)
		}
	}
}

// TestRecipientFromEnclosedMessage: a bounce whose text names no failed
// address is about the To of the enclosed original message; that
// recipient is marked as taken from the enclosed message, not named by
// the report.
func TestRecipientFromEnclosedMessage(t *testing.T) {
	r := parse(t, `From: MAILER-DAEMON@mx.example.org
To: sender@example.com
Subject: Undelivered Mail Returned to Sender

This is the mail system at host mx.example.org.
Your message could not be delivered: 550 5.1.1 user unknown.

--- Below this line is a copy of the message.

Return-Path: <sender@example.com>
From: sender@example.com
To: gina@example.net, hal@example.net
Subject: x

x
`)
	want(t, r, KindBounce, "gina@example.net 5.1.1 Permanent", "hal@example.net 5.1.1 Permanent")
	for _, rc := range r.Recipients {
		if rc.Source != SourceEnclosed {
			t.Errorf("recipient %s: source %q, want %q (%s)", rc.Address, rc.Source, SourceEnclosed, rc.Reason)
		}
	}
}
