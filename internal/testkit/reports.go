package testkit

import "strings"

// DSN is an RFC 3464 delivery status notification, as a recipient's MTA
// sends it to the return path to: recipient rcpt failed with the enhanced
// status code status and the SMTP reply diag.
func DSN(to, rcpt, status, diag string) string {
	return "From: MAILER-DAEMON@mx.rcpt.test\r\nTo: " + to + "\r\nSubject: Undelivered Mail Returned to Sender\r\n" +
		"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\r\n" +
		"--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.rcpt.test\r\n\r\n" +
		"Final-Recipient: rfc822; " + rcpt + "\r\nAction: failed\r\nStatus: " + status + "\r\nDiagnostic-Code: smtp; " + diag + "\r\n\r\n" +
		"--b1\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: alice@example.test\r\nTo: " + rcpt + "\r\nSubject: Hello\r\n\r\n" +
		"--b1--\r\n"
}

// ARF is an RFC 5965 abuse report (a complaint) by the mailbox provider of
// rcpt about the message whose return path is to: From its feedback loop's
// role address, fbl@<rcpt's domain> (ARFSender), as a provider writes
// them.
func ARF(to, rcpt string) string {
	return "From: " + ARFSender(rcpt) + "\r\nTo: " + to + "\r\nSubject: Abuse report\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=feedback-report; boundary=\"b2\"\r\n\r\n" +
		"--b2\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\r\n" +
		"--b2\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: ISP-FBL/2.0\r\nVersion: 1\r\n" +
		"Original-Rcpt-To: " + rcpt + "\r\nArrival-Date: Mon, 01 Jun 2026 08:00:00 +0000\r\nSource-IP: 192.0.2.1\r\n\r\n" +
		"--b2\r\nContent-Type: message/rfc822\r\n\r\nFrom: alice@example.test\r\nTo: " + rcpt + "\r\nSubject: Hello\r\n\r\nHello\r\n" +
		"--b2--\r\n"
}

// ARFSender is the address the feedback loop of rcpt's mailbox provider
// sends its reports from (header From and envelope sender):
// fbl@<rcpt's domain>.
func ARFSender(rcpt string) string {
	_, domain, _ := strings.Cut(rcpt, "@")
	return "fbl@" + domain
}
