package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kind classifies why a request failed authentication, so the API layer can
// map it to SES's error code.
type Kind int

// The kinds of authentication failure.
const (
	// KindMissing means the request carries no signature at all: no
	// Authorization header and no X-Amz-Algorithm query parameter.
	KindMissing Kind = iota + 1
	// KindIncomplete means the signature information is malformed or
	// unacceptable: an unparsable Authorization header or presigned query,
	// a missing or malformed X-Amz-Date, a bad credential scope (date,
	// service, terminator), a wrong algorithm, an unsigned host header, or
	// a region rejected by [Verifier.Regions].
	KindIncomplete
	// KindUnknownKey means the access key id is not known: the secret
	// lookup returned an error wrapping [ErrUnknownKey].
	KindUnknownKey
	// KindBadSignature means the signature does not match the request, or
	// an X-Amz-Content-Sha256 header does not match the body.
	KindBadSignature
	// KindExpired means the request's X-Amz-Date is more than [MaxSkew]
	// away from the server's clock, or a presigned request is past its
	// X-Amz-Expires.
	KindExpired
)

// String returns a short lower-case name for k, for logs.
func (k Kind) String() string {
	switch k {
	case KindMissing:
		return "missing signature"
	case KindIncomplete:
		return "incomplete signature"
	case KindUnknownKey:
		return "unknown access key"
	case KindBadSignature:
		return "signature mismatch"
	case KindExpired:
		return "signature expired"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Error is an authentication failure. Msg is a client-facing message in
// AWS's wording, safe to return in an SES error response; Err, when set,
// is the underlying cause and is meant for logs.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
}

// Error returns a description of the failure for logs.
func (e *Error) Error() string {
	s := "sigv4: " + e.Kind.String() + ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// ErrUnknownKey is wrapped by [Verifier.Secret] errors that mean the access
// key id does not exist.
var ErrUnknownKey = errors.New("sigv4: unknown access key")

// MaxSkew is the largest accepted difference between the server's clock and
// a request's X-Amz-Date, the window AWS documents for RequestExpired.
const MaxSkew = 15 * time.Minute

const (
	algorithm       = "AWS4-HMAC-SHA256"
	terminator      = "aws4_request"
	amzDateFormat   = "20060102T150405Z"
	unsignedPayload = "UNSIGNED-PAYLOAD"
	defaultService  = "ses"
	// maxExpires is the largest X-Amz-Expires AWS accepts (seven days).
	maxExpires = 7 * 24 * 60 * 60

	msgMissing      = "Request is missing Authentication Token"
	msgUnknownKey   = "The security token included in the request is invalid."
	msgBadSignature = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgContentHash  = "The provided 'x-amz-content-sha256' header does not match what was computed."
	msgHostUnsigned = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
)

// emptyHash is the hex SHA-256 of zero bytes.
const emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// Verifier checks signed requests. Its zero value is not usable: Secret must
// be set. A Verifier is safe for concurrent use if its functions are.
type Verifier struct {
	// Service is the service name required in the credential scope and
	// used in key derivation. "" means "ses". It is ignored when Services
	// is set.
	Service string
	// Services lists the service names accepted in the credential scope
	// (e.g. "ses" and "sns" on an endpoint serving both); the one a
	// request was signed for is [Result.Service]. Empty means Service.
	Services []string
	// Secret returns the secret access key for an access key id, or an
	// error wrapping ErrUnknownKey. Other errors are internal failures and
	// are returned by Verify as is (not as *Error).
	Secret func(ctx context.Context, accessKeyID string) (string, error)
	// Regions reports whether a region in a credential scope is served.
	// A rejected region is a KindIncomplete failure, as AWS reports a
	// scope with an invalid region. nil accepts any non-empty region.
	Regions func(region string) bool
	// Now returns the current time. nil means time.Now.
	Now func() time.Time

	keys keyCache // derived signing keys; use a Verifier by pointer
}

// keyCache keeps derived signing keys (four HMACs each), by the access key,
// a SHA-256 of its secret, and the credential scope's date, region and
// service. The secret's hash is part of the key, so a changed secret is
// never answered with an old key, and the cache holds no secret itself
// (a derived key is good for one day, region and service). In memory
// only; at most maxCachedKeys entries, past which it starts again empty.
type keyCache struct {
	mu sync.Mutex
	m  map[keyScope][]byte
}

type keyScope struct {
	id                    string
	secret                [sha256.Size]byte // of the secret
	date, region, service string
}

const maxCachedKeys = 10000

// signingKey returns the derived signing key for the scope, from the
// cache when it holds it.
func (c *keyCache) signingKey(id, secret, date, region, service string) []byte {
	k := keyScope{id, sha256.Sum256([]byte(secret)), date, region, service}
	c.mu.Lock()
	key, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return key
	}
	key = signingKey(secret, date, region, service)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedKeys {
		c.m = map[keyScope][]byte{}
	}
	c.m[k] = key
	c.mu.Unlock()
	return key
}

// Result is what a verified request proved.
type Result struct {
	// AccessKeyID is the access key id that signed the request.
	AccessKeyID string
	// Region is the region of the credential scope, verbatim.
	Region string
	// Date is the request's signing time as sent in X-Amz-Date, in the
	// basic ISO 8601 form yyyymmddThhmmssZ.
	Date string
	// Service is the service of the credential scope, one of the
	// Verifier's accepted services.
	Service string
}

// signature is what a request claims: the parsed Authorization header or
// presigned query parameters.
type signature struct {
	presigned     bool
	accessKeyID   string
	scopeDate     string
	region        string
	service       string
	terminator    string
	signedHeaders string   // as received
	headerNames   []string // lower-cased
	signature     string
	amzDate       string
	expires       int // seconds; -1 when absent
}

// Verify checks r, whose body has already been read into body (the caller
// restores r.Body). It returns *Error for authentication failures and the
// Secret function's error as is for internal failures. It is [Verifier.Begin]
// followed by [Pending.Finish] on body.
//
// Checks happen in this order, so that the most useful error wins: presence
// and syntax of the signature, X-Amz-Date, credential scope and signed host
// (KindIncomplete); clock skew or presigned expiry (KindExpired); the access
// key (KindUnknownKey); the signature itself (KindBadSignature).
func (v *Verifier) Verify(ctx context.Context, r *http.Request, body []byte) (Result, error) {
	p, err := v.Begin(ctx, r)
	if err != nil {
		return Result{}, err
	}
	p.Write(body)
	return p.Finish()
}

// Begin does every check that does not need the request's body, in
// Verify's order: the signature's presence and syntax, X-Amz-Date, the
// credential scope and signed host, the clock, and the access key. When
// the request carries an X-Amz-Content-Sha256 header, whose value stands
// for the body in the signed canonical request, the signature is checked
// here too, and the body then only has to hash to that value; a request
// whose signature is wrong fails here, before any of its body is read.
// Without that header (the SDKs do not send it for SES) the signature
// covers the hash of the body, so it can only be checked by Finish.
//
// Begin reads r's method, request-target, Host and headers, never r.Body.
// Its errors are those of Verify. On success the caller writes the body to
// the returned Pending as it reads it, then calls Finish.
func (v *Verifier) Begin(ctx context.Context, r *http.Request) (*Pending, error) {
	services := v.Services
	if len(services) == 0 {
		service := v.Service
		if service == "" {
			service = defaultService
		}
		services = []string{service}
	}
	query := parseQuery(rawQuery(r))

	sig, err := readSignature(r, query)
	if err != nil {
		return nil, err
	}
	if err := v.checkScope(sig, services); err != nil {
		return nil, err
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if err := checkTime(sig, now()); err != nil {
		return nil, err
	}

	if v.Secret == nil {
		return nil, errors.New("sigv4: verifier has no Secret function")
	}
	secret, err := v.Secret(ctx, sig.accessKeyID)
	if err != nil {
		if errors.Is(err, ErrUnknownKey) {
			return nil, &Error{Kind: KindUnknownKey, Msg: msgUnknownKey, Err: err}
		}
		return nil, err
	}

	p := &Pending{
		result:       Result{AccessKeyID: sig.accessKeyID, Region: sig.region, Date: sig.amzDate, Service: sig.service},
		presigned:    sig.presigned,
		method:       r.Method,
		uris:         canonicalURIs(r),
		canonQuery:   canonicalQuery(query, sig.presigned),
		canonHeaders: canonicalHeaders(r, sig.headerNames),
		signedHeads:  sig.signedHeaders,
		amzDate:      sig.amzDate,
		scope:        sig.scopeDate + "/" + sig.region + "/" + sig.service + "/" + terminator,
		signature:    sig.signature,
		key:          v.keys.signingKey(sig.accessKeyID, secret, sig.scopeDate, sig.region, sig.service),
		hash:         sha256.New(),
	}
	switch claims := r.Header.Values("X-Amz-Content-Sha256"); len(claims) {
	case 0:
	case 1:
		p.claimed, p.hasClaim = claims[0], true
		if !p.matches(p.claimed) {
			return nil, &Error{Kind: KindBadSignature, Msg: msgBadSignature}
		}
	default:
		return nil, &Error{Kind: KindBadSignature, Msg: msgContentHash}
	}
	return p, nil
}

// Pending is a request that passed [Verifier.Begin] and waits for its body.
// It is an io.Writer: the caller writes the body to it, in as many pieces
// as it likes, then calls Finish once. A Pending is not safe for concurrent
// use.
type Pending struct {
	result    Result
	presigned bool
	// The canonical request, but for the payload hash.
	method       string
	uris         []string // canonical URIs to try (see canonicalURIs)
	canonQuery   string
	canonHeaders string
	signedHeads  string
	amzDate      string
	scope        string
	signature    string // as claimed, hex
	key          []byte // signing key derived from the secret

	claimed  string // the X-Amz-Content-Sha256 value, when hasClaim
	hasClaim bool   // the signature was checked by Begin against claimed
	hash     hash.Hash
	n        int64 // body bytes written
	finished bool
}

// Write adds body bytes to the hash. It never fails.
func (p *Pending) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	return p.hash.Write(b)
}

// Finish completes the verification with the body written so far: the
// body must hash to the X-Amz-Content-Sha256 value Begin checked the
// signature against (UNSIGNED-PAYLOAD: the body must be empty), or, without
// that header, the signature must match the body's hash. Its errors are
// *Error of KindBadSignature. Finish may be called once.
func (p *Pending) Finish() (Result, error) {
	if p.finished {
		return Result{}, errors.New("sigv4: Pending.Finish called twice")
	}
	p.finished = true
	actual := hex.EncodeToString(p.hash.Sum(nil))
	if p.hasClaim {
		if p.claimed == unsignedPayload && p.n == 0 || strings.EqualFold(p.claimed, actual) {
			return p.result, nil
		}
		return Result{}, &Error{Kind: KindBadSignature, Msg: msgContentHash}
	}
	if p.matches(actual) || p.presigned && p.n == 0 && p.matches(unsignedPayload) {
		return p.result, nil
	}
	return Result{}, &Error{Kind: KindBadSignature, Msg: msgBadSignature}
}

// matches reports whether the claimed signature is that of the canonical
// request with the given payload hash, for one of the canonical URIs.
func (p *Pending) matches(payload string) bool {
	for _, uri := range p.uris {
		creq := strings.Join([]string{
			p.method,
			uri,
			p.canonQuery,
			p.canonHeaders,
			p.signedHeads,
			payload,
		}, "\n")
		creqHash := sha256.Sum256([]byte(creq))
		sts := algorithm + "\n" + p.amzDate + "\n" + p.scope + "\n" + hex.EncodeToString(creqHash[:])
		want := hex.EncodeToString(hmacSHA256(p.key, sts))
		if hmac.Equal([]byte(want), []byte(p.signature)) {
			return true
		}
	}
	return false
}

func incomplete(format string, args ...any) *Error {
	return &Error{Kind: KindIncomplete, Msg: fmt.Sprintf(format, args...)}
}

// readSignature finds the signature in the Authorization header or the
// presigned query parameters and parses it, including X-Amz-Date.
func readSignature(r *http.Request, query []queryParam) (signature, error) {
	authz := r.Header.Values("Authorization")
	hasAuthz := len(authz) > 1 || len(authz) == 1 && strings.TrimSpace(authz[0]) != ""
	hasPresign := slices.ContainsFunc(query, func(p queryParam) bool { return p.name == "X-Amz-Algorithm" })
	switch {
	case !hasAuthz && !hasPresign:
		return signature{}, &Error{Kind: KindMissing, Msg: msgMissing}
	case hasAuthz && hasPresign:
		return signature{}, incomplete("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified")
	case len(authz) > 1:
		return signature{}, incomplete("Only one Authorization header is allowed.")
	case hasPresign:
		return parsePresigned(query)
	}

	sig, err := parseAuthorization(authz[0])
	if err != nil {
		return signature{}, err
	}
	dates := r.Header.Values("X-Amz-Date")
	switch len(dates) {
	case 0:
		return signature{}, incomplete("Authorization header requires existence of a 'X-Amz-Date' header.")
	case 1:
		sig.amzDate = dates[0]
	default:
		return signature{}, incomplete("Only one 'X-Amz-Date' header is allowed.")
	}
	return sig, nil
}

// ClaimedService returns the service named in the credential scope of r's
// Authorization header or presigned query, without checking anything else;
// "" when r carries no signature that parses. The API uses it to answer a
// request that fails authentication in the format of the service it was
// meant for.
func ClaimedService(r *http.Request) string {
	sig, err := readSignature(r, parseQuery(rawQuery(r)))
	if err != nil {
		return ""
	}
	return sig.service
}

// parseAuthorization parses
//
//	AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, SignedHeaders=a;b, Signature=hex
//
// accepting any whitespace around the commas and the parts in any order.
func parseAuthorization(h string) (signature, error) {
	h = strings.TrimSpace(h)
	alg, rest := h, ""
	if i := strings.IndexAny(h, " \t"); i >= 0 {
		alg, rest = h[:i], h[i+1:]
	}
	if alg != algorithm {
		return signature{}, incomplete("Unsupported AWS 'algorithm': the Authorization header must start with '%s'.", algorithm)
	}
	var cred, signed, sigHex *string
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return signature{}, incomplete("Authorization header contains a part that is not a key=value pair (missing equal-sign).")
		}
		var dst **string
		switch k {
		case "Credential":
			dst = &cred
		case "SignedHeaders":
			dst = &signed
		case "Signature":
			dst = &sigHex
		default:
			continue
		}
		if *dst != nil {
			return signature{}, incomplete("Authorization header contains the '%s' parameter more than once.", k)
		}
		*dst = &val
	}
	var missing []string
	for _, p := range []struct {
		name string
		v    *string
	}{{"Credential", cred}, {"Signature", sigHex}, {"SignedHeaders", signed}} {
		if p.v == nil {
			missing = append(missing, fmt.Sprintf("Authorization header requires '%s' parameter.", p.name))
		}
	}
	if len(missing) > 0 {
		return signature{}, incomplete("%s", strings.Join(missing, " "))
	}
	return newSignature(false, *cred, *signed, *sigHex, "", -1)
}

// parsePresigned reads the X-Amz-* query parameters of a presigned request.
func parsePresigned(query []queryParam) (signature, error) {
	names := []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders"}
	vals := make(map[string]string, len(names)+1)
	counts := make(map[string]int, len(names)+1)
	for _, p := range query {
		switch p.name {
		case "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Expires":
			vals[p.name] = p.value
			counts[p.name]++
		}
	}
	for _, n := range append(names, "X-Amz-Expires") {
		if counts[n] > 1 {
			return signature{}, incomplete("The '%s' query-string parameter must be given only once.", n)
		}
	}
	for _, n := range names {
		if counts[n] == 0 {
			return signature{}, incomplete("AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders'. Re-examine the query-string parameters.")
		}
	}
	if vals["X-Amz-Algorithm"] != algorithm {
		return signature{}, incomplete("X-Amz-Algorithm only supports '%s'.", algorithm)
	}
	expires := -1
	if s, ok := vals["X-Amz-Expires"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxExpires || strings.TrimLeft(s, "0123456789") != "" {
			return signature{}, incomplete("X-Amz-Expires must be a whole number of seconds from 1 to %d.", maxExpires)
		}
		expires = n
	}
	return newSignature(true, vals["X-Amz-Credential"], vals["X-Amz-SignedHeaders"], vals["X-Amz-Signature"], vals["X-Amz-Date"], expires)
}

// newSignature checks the shape of the credential and signed headers.
func newSignature(presigned bool, cred, signedHeaders, sigHex, amzDate string, expires int) (signature, error) {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return signature{}, incomplete("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term.")
	}
	if parts[0] == "" {
		return signature{}, incomplete("Credential must contain an access key id.")
	}
	if signedHeaders == "" {
		return signature{}, incomplete("SignedHeaders must not be empty.")
	}
	names := strings.Split(signedHeaders, ";")
	for i, n := range names {
		if n == "" {
			return signature{}, incomplete("SignedHeaders must be a ';'-separated list of header names.")
		}
		names[i] = strings.ToLower(n)
	}
	return signature{
		presigned:     presigned,
		accessKeyID:   parts[0],
		scopeDate:     parts[1],
		region:        parts[2],
		service:       parts[3],
		terminator:    parts[4],
		signedHeaders: signedHeaders,
		headerNames:   names,
		signature:     sigHex,
		amzDate:       amzDate,
		expires:       expires,
	}, nil
}

// checkScope checks X-Amz-Date's form, the credential scope and that the
// host header is signed.
func (v *Verifier) checkScope(sig signature, services []string) error {
	if _, err := parseAmzDate(sig.amzDate); err != nil {
		return incomplete("Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", clip(sig.amzDate))
	}
	if sig.scopeDate != sig.amzDate[:8] {
		return incomplete("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", clip(sig.scopeDate), sig.amzDate[:8], sig.amzDate)
	}
	if sig.region == "" || v.Regions != nil && !v.Regions(sig.region) {
		return incomplete("Credential should be scoped to a valid region, not '%s'. ", clip(sig.region))
	}
	if !slices.Contains(services, sig.service) {
		return incomplete("Credential should be scoped to correct service: '%s'. ", strings.Join(services, "' or '"))
	}
	if sig.terminator != terminator {
		return incomplete("Credential should be scoped with a valid terminator: '%s', not '%s'. ", terminator, clip(sig.terminator))
	}
	if !slices.Contains(sig.headerNames, "host") {
		return incomplete(msgHostUnsigned)
	}
	return nil
}

// clip shortens s for quoting in a client-facing message.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// parseAmzDate parses yyyymmddThhmmssZ strictly.
func parseAmzDate(s string) (time.Time, error) {
	if len(s) != len(amzDateFormat) {
		return time.Time{}, fmt.Errorf("sigv4: bad X-Amz-Date %q", s)
	}
	t, err := time.Parse(amzDateFormat, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("sigv4: bad X-Amz-Date: %w", err)
	}
	return t, nil
}

// checkTime rejects requests signed too far from now, or presigned requests
// past their X-Amz-Expires.
func checkTime(sig signature, now time.Time) error {
	t, err := parseAmzDate(sig.amzDate)
	if err != nil {
		return incomplete("Date must be in ISO-8601 'basic format'.")
	}
	now = now.UTC()
	fmtNow := now.Format(amzDateFormat)
	if t.After(now.Add(MaxSkew)) {
		return &Error{Kind: KindExpired, Msg: fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + 15 min.)",
			sig.amzDate, now.Add(MaxSkew).Format(amzDateFormat), fmtNow)}
	}
	if sig.expires >= 0 {
		if now.After(t.Add(time.Duration(sig.expires) * time.Second)) {
			return &Error{Kind: KindExpired, Msg: "Request has expired"}
		}
		return nil
	}
	if t.Before(now.Add(-MaxSkew)) {
		return &Error{Kind: KindExpired, Msg: fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 15 min.)",
			sig.amzDate, now.Add(-MaxSkew).Format(amzDateFormat), fmtNow)}
	}
	return nil
}

// signingKey derives the SigV4 signing key.
func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, terminator)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// rawPath returns the request path as received, still percent-encoded.
func rawPath(r *http.Request) string {
	if p := r.RequestURI; strings.HasPrefix(p, "/") {
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		return p
	}
	if r.URL == nil {
		return "/"
	}
	return r.URL.EscapedPath()
}

// rawQuery returns the query string as received, still percent-encoded.
func rawQuery(r *http.Request) string {
	if p := r.RequestURI; strings.HasPrefix(p, "/") {
		_, q, _ := strings.Cut(p, "?")
		return q
	}
	if r.URL == nil {
		return ""
	}
	return r.URL.RawQuery
}

// canonicalURIs returns the canonical URIs to try: the path with dot and
// empty segments removed (botocore, JavaScript) and, when different,
// the path exactly as sent (Go SDK). Both are percent-encoded again.
func canonicalURIs(r *http.Request) []string {
	p := rawPath(r)
	norm := escapePath(normalizePath(p))
	if p == "" {
		p = "/"
	}
	if asSent := escapePath(p); asSent != norm {
		return []string{norm, asSent}
	}
	return []string{norm}
}

// normalizePath removes "." and ".." segments and empty segments, keeping a
// leading and (for a non-empty result) trailing slash, as botocore's
// remove_dot_segments does. An empty result is "/".
func normalizePath(p string) string {
	var out []string
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	s := strings.Join(out, "/")
	if strings.HasPrefix(p, "/") || s == "" {
		s = "/" + s
	}
	if len(out) > 0 && strings.HasSuffix(p, "/") {
		s += "/"
	}
	return s
}

// escapePath percent-encodes every byte except RFC 3986 unreserved
// characters and '/'.
func escapePath(s string) string { return escape(s, true) }

// escapeComponent percent-encodes every byte except RFC 3986 unreserved
// characters.
func escapeComponent(s string) string { return escape(s, false) }

func escape(s string, keepSlash bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) && !(keepSlash && s[i] == '/') {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hexUpper = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || keepSlash && c == '/' {
			b = append(b, c)
		} else {
			b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
		}
	}
	return string(b)
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// queryParam is one query parameter: its decoded name and value, and its
// canonical (strictly re-encoded) name and value.
type queryParam struct {
	name, value   string
	cname, cvalue string
}

// parseQuery splits a raw query on '&' and each part on its first '='.
// Empty parts are skipped. Parts that are not valid percent-encoding are
// taken literally.
func parseQuery(raw string) []queryParam {
	var ps []queryParam
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		p := queryParam{name: queryUnescape(k), value: queryUnescape(v)}
		p.cname, p.cvalue = escapeComponent(p.name), escapeComponent(p.value)
		ps = append(ps, p)
	}
	return ps
}

func queryUnescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// canonicalQuery sorts the parameters by canonical name, then value, and
// joins them. For a presigned request X-Amz-Signature is left out.
func canonicalQuery(ps []queryParam, presigned bool) string {
	ps = slices.Clone(ps)
	if presigned {
		ps = slices.DeleteFunc(ps, func(p queryParam) bool { return p.name == "X-Amz-Signature" })
	}
	slices.SortFunc(ps, func(a, b queryParam) int {
		if c := strings.Compare(a.cname, b.cname); c != 0 {
			return c
		}
		return strings.Compare(a.cvalue, b.cvalue)
	})
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.cname)
		b.WriteByte('=')
		b.WriteString(p.cvalue)
	}
	return b.String()
}

// canonicalHeaders builds the canonical headers block: one "name:value\n"
// line per signed header, in the order given.
func canonicalHeaders(r *http.Request, names []string) string {
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte(':')
		for i, v := range headerValues(r, n) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(trimAll(v))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// headerValues returns all values of the header named n (lower case) in
// the server-side view of a request: Go moves Host out of r.Header into
// r.Host and Transfer-Encoding into r.TransferEncoding, and a request
// built in process may carry its length only in r.ContentLength. (curl
// --aws-sigv4 signs Transfer-Encoding; the AWS SDKs leave it out.)
func headerValues(r *http.Request, n string) []string {
	switch n {
	case "host":
		h := r.Host
		if h == "" && r.URL != nil {
			h = r.URL.Host
		}
		return []string{h}
	case "transfer-encoding":
		if vals := r.Header.Values(n); len(vals) > 0 || len(r.TransferEncoding) == 0 {
			return vals
		}
		return []string{strings.Join(r.TransferEncoding, ",")}
	}
	vals := r.Header.Values(n)
	if len(vals) == 0 {
		for k, vs := range r.Header {
			if strings.EqualFold(k, n) {
				vals = append(vals, vs...)
			}
		}
	}
	if len(vals) == 0 && n == "content-length" && r.ContentLength > 0 {
		vals = []string{strconv.FormatInt(r.ContentLength, 10)}
	}
	return vals
}

// trimAll trims white space and collapses internal runs of spaces and tabs
// to one space.
func trimAll(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "  ") && !strings.ContainsAny(s, "\t\n\r\v\f") {
		return s
	}
	b := make([]byte, 0, len(s))
	space := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\r', '\v', '\f':
			if !space {
				b = append(b, ' ')
			}
			space = true
		default:
			b = append(b, c)
			space = false
		}
	}
	return string(b)
}
