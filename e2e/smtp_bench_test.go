package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sesame-email/sesame/internal/sigv4"
	"github.com/sesame-email/sesame/internal/testkit"
)

// BenchmarkSMTPSubmit measures SMTP submission with the binary as a child
// process: SESAME_BENCH_CONCURRENCY clients (default 16), each keeping one
// connection (STARTTLS, AUTH PLAIN with the SES-derived SMTP password of
// the account's key) and sending message after message of about 4 KB on
// it; each is admitted, DKIM-signed (RSA-2048 and Ed25519), queued and
// delivered to a go-smtp server on loopback behind an MX record. A round
// is SESAME_BENCH_MESSAGES messages (default 10,000). It reports the
// metrics of BenchmarkSendPath; p50-ms and p99-ms are the time from MAIL
// to the "250 Ok <MessageId>" reply.
//
//	go test -run '^$' -bench SMTPSubmit -benchtime 1x ./e2e/
//
// with SESAME_TEST_DATABASE_URL set for the PostgreSQL half.
func BenchmarkSMTPSubmit(b *testing.B) {
	n := envInt(b, "SESAME_BENCH_MESSAGES", 10000)
	conc := envInt(b, "SESAME_BENCH_CONCURRENCY", 16)
	bin := binary(b)
	eachStore(b, func(b *testing.B, st store) { benchSMTPSubmit(b, bin, st, n, conc) })
}

func benchSMTPSubmit(b *testing.B, bin string, st store, n, conc int) {
	zone := customerZone(b)
	mx := newSink(b)
	setUpAccount(b, bin, st, "-1")
	smtpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(b, false)))
	srv := startServer(b, bin, st, serveOptions{apiPort: freePort(b, false), dnsPort: freePort(b, true), resolver: zone.Addr(), smtpPort: mx.port,
		extra: []string{"--smtp-addr", smtpAddr, "--smtp-max-conns-per-ip", strconv.Itoa(conc + 4)}})
	verifyDomainBoth(b, bin, st, v2Client(srv.api, 1), zone)

	password := sigv4.SMTPPassword(secretKey, region)
	clients := make([]*smtp.Client, conc)
	for w := range clients {
		c, err := smtp.DialStartTLS(smtpAddr, &tls.Config{InsecureSkipVerify: true}) // the self-signed certificate
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		if err := c.Auth(sasl.NewPlainClient("", accessKey, password)); err != nil {
			b.Fatal(err)
		}
		clients[w] = c
	}
	measureRounds(b, srv, mx, n, conc, func(_ context.Context, w, i int) (string, error) { return smtpSendOne(clients[w], i) }, hooks{bothSigned: true})
}

// smtpSendOne sends message i to rcpt+i@rcptDomain on c and returns its
// MessageId.
func smtpSendOne(c *smtp.Client, i int) (string, error) {
	to := fmt.Sprintf("rcpt+%d@%s", i, rcptDomain)
	return testkit.SMTPSend(c, "sender@"+sendDomain, []string{to},
		fmt.Sprintf("From: Sender <sender@%s>\r\nTo: %s\r\nSubject: Message %d\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n%s", sendDomain, to, i, benchBody))
}
