package sesapi

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"
)

// chunkSize is the size of the pieces a body is read into. Each piece is
// taken from the budget just before bytes are read into it, so a request
// holds what it sent plus at most one partly filled piece.
const chunkSize = 64 << 10

// body is a request body read into memory, in chunks; it is the handlers'
// r.Body.
type body struct {
	chunks [][]byte
	size   int64
	held   int64 // bytes taken from the budget
	shared int64 // of which counted in the account's share

	next, off int // reading position: chunk and offset
}

func (b *body) Read(p []byte) (int, error) {
	for b.next < len(b.chunks) && b.off == len(b.chunks[b.next]) {
		b.next, b.off = b.next+1, 0
	}
	if b.next == len(b.chunks) {
		return 0, io.EOF
	}
	n := copy(p, b.chunks[b.next][b.off:])
	b.off += n
	return n, nil
}

func (b *body) Close() error { return nil }

// readBody reads r's body into memory, writing it to h as it arrives.
// Before each chunk is read into, its bytes are taken from the budget: a
// request's first chunk from the whole budget only, so that small calls
// pass even when their account is at its share; the others from the
// account's share too. A body of unknown length (chunked) is read up to
// MaxBody, then one byte more, into a byte of its own, tells whether it is
// over. The reading is paced (see pace). It returns the body, also with an
// error, for the caller to give its bytes back once done with it; the
// error is SES's: the body is over MaxBody, there is no room in the budget
// within BodyWait, it arrives too slowly, or reading it failed.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, acct string, h io.Writer) (*body, *Error) {
	b := &body{}
	declared := r.ContentLength // -1: unknown
	limit := declared
	if declared < 0 {
		limit = s.opts.MaxBody
	}
	if limit == 0 {
		return b, nil
	}
	p := s.pace(w)
	for b.size < limit {
		if len(b.chunks) == 0 || len(b.chunks[len(b.chunks)-1]) == chunkSize {
			n := min(chunkSize, limit-b.size)
			if e := s.take(r, acct, b, n, p); e != nil {
				return b, e
			}
			b.chunks = append(b.chunks, s.chunk(n))
		}
		c := &b.chunks[len(b.chunks)-1]
		n, err := r.Body.Read((*c)[len(*c):cap(*c)])
		h.Write((*c)[len(*c) : len(*c)+n])
		*c = (*c)[:len(*c)+n]
		b.size += int64(n)
		p.arrived(n)
		if err == io.EOF {
			if declared < 0 || b.size == limit {
				break
			}
			err = io.ErrUnexpectedEOF // http.Server's bodies say so themselves
		}
		if err != nil {
			return b, p.readError(r, err)
		}
	}
	if declared < 0 && b.size == limit {
		var one [1]byte
		for {
			n, err := r.Body.Read(one[:])
			if n > 0 {
				return b, tooLarge(r, s.opts.MaxBody)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return b, p.readError(r, err)
			}
		}
	}
	p.done()
	return b, nil
}

// chunk returns an empty chunk of capacity n: a full-size one from those
// given back by earlier bodies when there is one, so that memory freed by
// a body is reused at once rather than when the garbage collector runs
// (under churn, it would otherwise come on top of what the budget holds).
func (s *Server) chunk(n int64) []byte {
	if n == chunkSize {
		if c, ok := s.chunks.Get().(*[]byte); ok {
			return (*c)[:0]
		}
	}
	return make([]byte, 0, n)
}

// release gives b's bytes back to the budget and its full-size chunks for
// reuse, once nothing reads b any more (the handlers copy what they read).
func (s *Server) release(acct string, b *body) {
	for _, c := range b.chunks {
		if cap(c) == chunkSize {
			s.chunks.Put(&c)
		}
	}
	b.chunks = nil
	s.budget.give(acct, b.held, b.shared)
}

// take takes n bytes from the budget for b, a body of account acct,
// waiting up to BodyWait for them; time spent waiting does not count
// against the body's pace.
func (s *Server) take(r *http.Request, acct string, b *body, n int64, p *pace) *Error {
	share := acct
	if b.held == 0 {
		share = "" // a request's first chunk
	}
	start := time.Now()
	waited, err := s.budget.take(r.Context(), s.opts.BodyWait, share, n)
	if waited {
		p.waited(time.Since(start))
	}
	if err != nil {
		s.log.Warn("request throttled: no room for its body", "account", acct, "bytes", n, "held", b.held, "in_flight", s.InFlight(), "max_in_flight", s.opts.MaxInFlight)
		return throttled(r, s.opts.MaxInFlight)
	}
	b.held += n
	if share != "" {
		b.shared += n
	}
	return nil
}

// pace holds a body's reading to a minimum rate and a ceiling through the
// connection's read deadline: the next MinBodyRate bytes must arrive within
// BodyRateWindow of the last MinBodyRate, and all of them within
// BodyTimeout of the headers. When the connection takes no deadlines
// (tests' recorders), nothing is enforced.
type pace struct {
	rc      *http.ResponseController
	min     int64
	window  time.Duration
	timeout time.Duration // BodyTimeout
	end     time.Time     // the ceiling: now + timeout
	got     int64         // bytes since due was last moved
	due     time.Time     // when the next min bytes are due
	off     bool
}

func (s *Server) pace(w http.ResponseWriter) *pace {
	now := time.Now()
	p := &pace{rc: http.NewResponseController(w), min: s.opts.MinBodyRate, window: s.opts.BodyRateWindow,
		timeout: s.opts.BodyTimeout, end: now.Add(s.opts.BodyTimeout), due: now.Add(s.opts.BodyRateWindow)}
	p.set()
	return p
}

func (p *pace) set() {
	if p.off {
		return
	}
	d := p.due
	if p.end.Before(d) {
		d = p.end
	}
	if err := p.rc.SetReadDeadline(d); err != nil {
		p.off = true
	}
}

// arrived counts n bytes received.
func (p *pace) arrived(n int) {
	if p.got += int64(n); p.got >= p.min {
		p.got = 0
		p.due = time.Now().Add(p.window)
		p.set()
	}
}

// waited moves the due time by d, spent waiting for room in the budget
// (while the server reads nothing, a client cannot send).
func (p *pace) waited(d time.Duration) {
	p.due = p.due.Add(d)
	p.set()
}

// done is called once the whole body is in: the connection keeps only the
// ceiling until the handler is done (http.Server reads it in the background
// to notice a client going away, and a read deadline passing there would
// cancel the request's context).
func (p *pace) done() {
	if !p.off {
		p.rc.SetReadDeadline(p.end)
	}
}

// readError is SES's error for a failed read of r's body.
func (p *pace) readError(r *http.Request, err error) *Error {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return Errorf(http.StatusBadRequest, badRequest(r), "Could not read the request body: %v", err)
	}
	if !time.Now().Before(p.end) {
		return requestTimeout(r, "The request body did not arrive within %s.", p.timeout)
	}
	return requestTimeout(r, "The request body arrived slower than %d bytes in %s; the connection is closed.", p.min, p.window)
}

// requestTimeout is the answer to a body that arrived too slowly: the code
// the AWS SDKs retry as a transient failure (v1 RequestTimeout, HTTP 400;
// v2 RequestTimeoutException, 408).
func requestTimeout(r *http.Request, format string, args ...any) *Error {
	if ProtocolOf(r) == V2 {
		return Errorf(http.StatusRequestTimeout, "RequestTimeoutException", format, args...)
	}
	return Errorf(http.StatusBadRequest, "RequestTimeout", format, args...)
}
