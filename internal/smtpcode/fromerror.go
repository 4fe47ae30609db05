package smtpcode

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// FromError expresses the outcome err as a Reply, for an error that did
// not come with an SMTP reply -- which makes it temporary (4yz):
//
//   - a Reply in err's chain (a Reply is an error): that Reply;
//   - a DNS failure (*net.DNSError, including "no such host"):
//     451 4.4.3 (directory server failure, RFC 3463 §3.5);
//   - no connection: a failed dial (refused, unreachable, timed out) or
//     ECONNREFUSED, EHOSTUNREACH, ENETUNREACH: 421 4.4.1 (no answer from
//     host);
//   - a connection that broke or stalled: a timeout (net.Error Timeout,
//     os.ErrDeadlineExceeded, context.DeadlineExceeded), EOF, unexpected
//     EOF, a reset, a broken pipe or a closed connection: 421 4.4.2 (bad
//     connection);
//   - anything else: 451 4.0.0 (other undefined status, §3.1).
//
// The text is err.Error() on one line. A nil err gives the zero Reply.
//
// An error from an SMTP client library that carries the server's reply
// (go-smtp's *smtp.SMTPError) is for the caller to convert with [New];
// this package does not import one. FromError does not decide that a DNS
// "no such host" for a recipient domain is permanent either: the caller,
// which knows what was looked up, builds that reply itself (for example
// 550 5.1.2, [StatusBadSystem]).
func FromError(err error) Reply {
	if err == nil {
		return Reply{}
	}
	var r Reply
	if errors.As(err, &r) {
		return r
	}
	text := err.Error()
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var netErr net.Error
	switch {
	case errors.As(err, &dnsErr):
		return New(LocalError, StatusRoutingServer, text)
	case errors.As(err, &opErr) && opErr.Op == "dial",
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH):
		return New(ServiceNotAvailable, StatusNoAnswer, text)
	case errors.As(err, &netErr) && netErr.Timeout(),
		errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed):
		return New(ServiceNotAvailable, StatusBadConnection, text)
	}
	return New(LocalError, StatusTempOther, text)
}
