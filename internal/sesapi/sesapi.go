// Package sesapi is the HTTP plumbing shared by the SES v1 (Query) and v2
// (REST-JSON) APIs: it routes a request to the right protocol, reads and
// bounds the body, sets the Date and x-amzn-RequestId headers every SES
// response carries, checks the SigV4 signature against the account's
// access keys, puts the calling account in the request's context, and
// writes SES-shaped errors in either protocol's format. A request signed
// for the service "sns" goes to Options.SNS, Sesame's SNS-compatible
// Query API, and its errors, authentication failures included, are
// written in SNS's XML format.
//
// Nobody gets to make the server hold bytes without a key: a request is
// refused before any byte of its body is read when its declared length is
// over the limit, or when its signature fails any check that does not need
// the body (syntax, date, scope, clock, access key; with an
// X-Amz-Content-Sha256 header, the signature itself). A refused request's
// connection is closed once its answer is out, after at most a short
// lingering read whose bytes are discarded (see refuse).
//
// The bodies that are read are held in chunks taken from a byte budget as
// bytes arrive, never for a declared length: all bodies together hold at
// most Options.MaxInFlight, those of one account (signature checked or
// not yet) at most twice Options.MaxBody beyond each request's first
// chunk, so that small calls pass when an account's share is taken. A
// request that finds no room waits Options.BodyWait, then gets SES's
// throttling error. A body must keep arriving, Options.MinBodyRate bytes
// in every Options.BodyRateWindow (time waiting for room excepted), and be
// whole within Options.BodyTimeout; a slower one gets RequestTimeout and
// its connection is closed.
package sesapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/sigv4"
)

// MaxBody is the largest request body accepted: room for a 40 MB v2 raw
// message after base64 and JSON.
const MaxBody = 56 << 20

// Defaults of Options.
const (
	// DefaultMaxInFlight bounds the body bytes of all requests at once:
	// four bodies of the largest size, or thousands of ordinary calls.
	DefaultMaxInFlight = 256 << 20
	// DefaultBodyWait is how long a request waits for room under
	// MaxInFlight before it is throttled.
	DefaultBodyWait = 10 * time.Second
	// DefaultMinBodyRate and DefaultBodyRateWindow: a body that brings
	// less than 64 KiB in 10 s (51 kbit/s) is cut short.
	DefaultMinBodyRate    = 64 << 10
	DefaultBodyRateWindow = 10 * time.Second
	// DefaultBodyTimeout bounds the receiving of a whole body: a 56 MiB
	// body still arrives at 1.6 Mbit/s, a slow uplink.
	DefaultBodyTimeout = 5 * time.Minute
)

// Protocol is one of the two SES wire protocols.
type Protocol int

// The protocols.
const (
	V1  Protocol = iota + 1 // Query: form in, XML out
	V2                      // REST-JSON under /v2/email/
	SNS                     // SNS's Query protocol: signed for the service "sns"
)

// protocolKey marks, in a request's context, a request signed for SNS.
type protocolKey struct{}

// ProtocolOf says which protocol a request speaks: SNS when Server found
// it signed for "sns", else by its path.
func ProtocolOf(r *http.Request) Protocol {
	if p, ok := r.Context().Value(protocolKey{}).(Protocol); ok {
		return p
	}
	if strings.HasPrefix(r.URL.Path, "/v2/") {
		return V2
	}
	return V1
}

// Error is an error as SES reports it: a code, an HTTP status and a message.
type Error struct {
	Code    string
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Code: code, Status: status, Message: fmt.Sprintf(format, args...)}
}

// Caller is the authenticated caller of a request.
type Caller struct {
	AccountID   string
	AccessKeyID string
	Region      string
	RequestID   string
}

type ctxKey struct{}

// CallerFrom returns the caller that Server put in the context.
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(ctxKey{}).(Caller)
	return c
}

// WithCaller returns a context carrying c (for tests of handlers).
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// Options configures a Server.
type Options struct {
	Accounts *account.Store // required: access keys
	Region   string         // the region this deployment serves (credential scope)
	V1       http.Handler   // required: SES v1 Query handler
	V2       http.Handler   // required: SES v2 REST-JSON handler
	// SNS serves requests signed for the service "sns" (the SNS Query
	// API); nil: such requests are refused as signed for a wrong service.
	SNS http.Handler
	// Public serves the unauthenticated paths (e.g. /verify); nil: none.
	Public map[string]http.Handler
	Logger *slog.Logger
	Now    func() time.Time // nil: time.Now
	// MaxBody is the largest request body accepted; 0 means MaxBody.
	MaxBody int64
	// MaxInFlight bounds the request body bytes held by all requests at
	// once; 0 means DefaultMaxInFlight. A value below MaxBody is raised to
	// it, so that every acceptable body fits.
	MaxInFlight int64
	// BodyWait is how long a request waits for room under MaxInFlight
	// or an account's share (twice MaxBody) before it is answered with SES's throttling error;
	// 0 means DefaultBodyWait.
	BodyWait time.Duration
	// MinBodyRate and BodyRateWindow: while a body is read, each
	// MinBodyRate bytes must arrive within BodyRateWindow of the last
	// (time spent waiting for room in the budget excepted), or the
	// request is answered with RequestTimeout and its connection closed;
	// 0 means DefaultMinBodyRate, DefaultBodyRateWindow.
	MinBodyRate    int64
	BodyRateWindow time.Duration
	// BodyTimeout bounds the reading of a whole body, from the end of the
	// headers, however steadily it arrives; 0 means DefaultBodyTimeout.
	// It replaces http.Server.ReadTimeout for requests with a body, whose
	// connection's read deadline the pacing sets.
	BodyTimeout time.Duration
}

// Server is the API's http.Handler.
type Server struct {
	opts     Options
	verifier *sigv4.Verifier
	budget   *budget
	chunks   sync.Pool // of *[]byte, chunkSize long: bodies' chunks for reuse
	now      func() time.Time
	log      *slog.Logger
}

// New returns a Server.
func New(opts Options) *Server {
	s := &Server{opts: opts, now: opts.Now, log: opts.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.opts.MaxBody <= 0 {
		s.opts.MaxBody = MaxBody
	}
	if s.opts.MaxInFlight <= 0 {
		s.opts.MaxInFlight = DefaultMaxInFlight
	}
	s.opts.MaxInFlight = max(s.opts.MaxInFlight, s.opts.MaxBody)
	if s.opts.BodyWait <= 0 {
		s.opts.BodyWait = DefaultBodyWait
	}
	if s.opts.MinBodyRate <= 0 {
		s.opts.MinBodyRate = DefaultMinBodyRate
	}
	if s.opts.BodyRateWindow <= 0 {
		s.opts.BodyRateWindow = DefaultBodyRateWindow
	}
	if s.opts.BodyTimeout <= 0 {
		s.opts.BodyTimeout = DefaultBodyTimeout
	}
	// One account (signed with any of its access key ids, the signature
	// checked or not yet) holds at most twice MaxBody beyond each
	// request's first chunk.
	s.budget = newBudget(s.opts.MaxInFlight, min(2*s.opts.MaxBody, s.opts.MaxInFlight))
	services := []string{"ses"}
	if opts.SNS != nil {
		services = append(services, "sns")
	}
	s.verifier = &sigv4.Verifier{
		Services: services,
		Now:      s.now,
		Regions:  func(r string) bool { return r == opts.Region },
		Secret: func(ctx context.Context, id string) (string, error) {
			secret, acct, err := opts.Accounts.Secret(ctx, id)
			if errors.Is(err, account.ErrUnknownKey) {
				return "", fmt.Errorf("%w: %s", sigv4.ErrUnknownKey, id)
			}
			if owner, ok := ctx.Value(keyOwner{}).(*string); ok {
				*owner = acct // for ServeHTTP: one lookup per request
			}
			return secret, err
		},
	}
	return s
}

// keyOwner is the context key under which ServeHTTP asks the verifier's
// Secret lookup for the access key's account.
type keyOwner struct{}

// ServeHTTP handles every API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := NewRequestID()
	h := w.Header()
	h.Set("Date", s.now().UTC().Format(http.TimeFormat))
	h.Set("x-amzn-RequestId", reqID)
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic in API handler", "panic", v, "path", r.URL.Path, "request_id", reqID)
			WriteError(w, r, reqID, Errorf(http.StatusInternalServerError, "InternalFailure", "The request processing has failed because of an unknown error."))
		}
	}()
	if h, ok := s.opts.Public[r.URL.Path]; ok {
		h.ServeHTTP(w, r)
		return
	}
	if s.opts.SNS != nil && sigv4.ClaimedService(r) == "sns" {
		// Answered in SNS's format from here on, errors included.
		r = r.WithContext(context.WithValue(r.Context(), protocolKey{}, SNS))
	}
	if r.ContentLength > s.opts.MaxBody {
		s.refuse(w, r, reqID, tooLarge(r, s.opts.MaxBody))
		return
	}
	var acct string // the key's account, set by the verifier's Secret
	pending, err := s.verifier.Begin(context.WithValue(r.Context(), keyOwner{}, &acct), r)
	if err != nil {
		s.refuse(w, r, reqID, s.authFailure(r, reqID, err))
		return
	}
	body, e := s.readBody(w, r, acct, pending)
	defer s.release(acct, body) // once the handler is done with the body
	if e != nil {
		s.refuse(w, r, reqID, e)
		return
	}
	res, err := pending.Finish()
	if err != nil {
		s.refuse(w, r, reqID, s.authFailure(r, reqID, err))
		return
	}
	r.Body = body
	r.ContentLength = body.size
	ctx := WithCaller(r.Context(), Caller{AccountID: acct, AccessKeyID: res.AccessKeyID, Region: res.Region, RequestID: reqID})
	r = r.WithContext(ctx)
	switch {
	case res.Service == "sns":
		s.opts.SNS.ServeHTTP(w, r)
	case ProtocolOf(r) == V2:
		s.opts.V2.ServeHTTP(w, r)
	default:
		s.opts.V1.ServeHTTP(w, r)
	}
}

// InFlight returns the request body bytes held now, counted against
// Options.MaxInFlight.
func (s *Server) InFlight() int64 { return s.opts.MaxInFlight - s.budget.available() }

// refuseLinger bounds how long a refused request's connection stays open
// after its answer, reading and discarding what the client still sends.
const refuseLinger = time.Second

// refuse answers a request whose body was not, or not wholly, read, and
// closes the connection without reading the rest of the body into memory.
//
// The close lingers: a client usually still writes its body when the
// answer comes, and closing a socket with unread bytes makes the kernel
// send a reset, which can reach the client before it read the answer (Go's
// transport then reports the failed write, "broken pipe", instead of the
// 413 or Throttling the client was sent). So the read deadline is set
// refuseLinger ahead rather than now: after the handler, http.Server
// flushes the answer, then reads and discards up to 256 KiB of what
// remains of the body until the deadline, and closes; when more remains
// (or arrives), it shuts down its side and waits half a second before
// closing instead. Either way the client gets the whole answer before any
// reset, a client that sends nothing holds the connection at most
// refuseLinger, and no byte of the body is held.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, reqID string, e *Error) {
	w.Header().Set("Connection", "close")
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(refuseLinger)) // ErrNotSupported in tests' recorders
	WriteError(w, r, reqID, e)
}

// authFailure logs why a request was not authenticated and returns the
// SES error for it.
func (s *Server) authFailure(r *http.Request, reqID string, err error) *Error {
	var se *sigv4.Error
	if !errors.As(err, &se) {
		s.log.Error("signature check failed", "err", err, "request_id", reqID)
		return Errorf(http.StatusInternalServerError, "InternalFailure", "The request processing has failed because of an unknown error.")
	}
	s.log.Info("request not authenticated", "kind", se.Kind.String(), "err", err, "request_id", reqID)
	return authError(ProtocolOf(r), se)
}

func tooLarge(r *http.Request, limit int64) *Error {
	return Errorf(http.StatusRequestEntityTooLarge, badRequest(r), "The request body is larger than %d bytes.", limit)
}

// throttled is SES's answer to a request that found no room for its body
// (ses-api.md §9: v1 Throttling 400, v2 TooManyRequestsException 429).
func throttled(r *http.Request, limit int64) *Error {
	msg := fmt.Sprintf("Rate exceeded: the request bodies being received already take the %d bytes this server holds at once. Retry later.", limit)
	if ProtocolOf(r) == V2 {
		return &Error{"TooManyRequestsException", http.StatusTooManyRequests, msg}
	}
	return &Error{"Throttling", http.StatusBadRequest, msg}
}

func badRequest(r *http.Request) string {
	return byProtocol(ProtocolOf(r), "InvalidParameterValue", "BadRequestException")
}

// byProtocol returns the code of protocol p (SNS's Query protocol uses
// v1's codes).
func byProtocol(p Protocol, v1, v2 string) string {
	if p == V2 {
		return v2
	}
	return v1
}

// authError maps a signature failure to SES's code and status (ses-api.md §2.3).
func authError(p Protocol, e *sigv4.Error) *Error {
	pick := func(v1, v2 string) string { return byProtocol(p, v1, v2) }
	switch e.Kind {
	case sigv4.KindMissing:
		return &Error{pick("MissingAuthenticationToken", "MissingAuthenticationTokenException"), http.StatusForbidden, "Request is missing Authentication Token"}
	case sigv4.KindUnknownKey:
		return &Error{pick("InvalidClientTokenId", "UnrecognizedClientException"), http.StatusForbidden, "The security token included in the request is invalid."}
	case sigv4.KindBadSignature, sigv4.KindExpired:
		return &Error{pick("SignatureDoesNotMatch", "InvalidSignatureException"), http.StatusForbidden, e.Msg}
	default:
		return &Error{pick("IncompleteSignature", "IncompleteSignatureException"), http.StatusBadRequest, e.Msg}
	}
}

// NewRequestID returns a random UUID (version 4).
func NewRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// V1Namespace is the XML namespace of SES v1 responses.
const V1Namespace = "http://ses.amazonaws.com/doc/2010-12-01/"

// SNSNamespace is the XML namespace of SNS responses.
const SNSNamespace = "http://sns.amazonaws.com/doc/2010-03-31/"

// WriteError writes e in the request's protocol: v1 and SNS as an XML
// ErrorResponse (each in its namespace), v2 as JSON with x-amzn-ErrorType.
func WriteError(w http.ResponseWriter, r *http.Request, requestID string, e *Error) {
	switch ProtocolOf(r) {
	case V2:
		WriteV2Error(w, e)
	case SNS:
		WriteSNSError(w, requestID, e)
	default:
		WriteV1Error(w, requestID, e)
	}
}

// WriteV1Error writes an SES v1 ErrorResponse.
func WriteV1Error(w http.ResponseWriter, requestID string, e *Error) {
	writeXMLError(w, V1Namespace, requestID, e)
}

// WriteSNSError writes an SNS ErrorResponse: SES v1's envelope in SNS's
// namespace.
func WriteSNSError(w http.ResponseWriter, requestID string, e *Error) {
	writeXMLError(w, SNSNamespace, requestID, e)
}

func writeXMLError(w http.ResponseWriter, namespace, requestID string, e *Error) {
	typ := "Sender"
	if e.Status >= 500 {
		typ = "Receiver"
	}
	var b bytes.Buffer
	b.WriteString(`<ErrorResponse xmlns="` + namespace + `">` + "\n  <Error>\n    <Type>" + typ + "</Type>\n    <Code>")
	xml.EscapeText(&b, []byte(e.Code))
	b.WriteString("</Code>\n    <Message>")
	xml.EscapeText(&b, []byte(e.Message))
	b.WriteString("</Message>\n  </Error>\n  <RequestId>" + requestID + "</RequestId>\n</ErrorResponse>\n")
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.Status)
	w.Write(b.Bytes())
}

// WriteV2Error writes an SES v2 error.
func WriteV2Error(w http.ResponseWriter, e *Error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-ErrorType", e.Code)
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(map[string]string{"message": e.Message, "__type": e.Code})
}
