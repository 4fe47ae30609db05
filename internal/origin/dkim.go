package origin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
	mdns "github.com/miekg/dns"

	"github.com/sesame-email/sesame/internal/dns"
)

// Bounds of VerifyDKIM's work.
const (
	// MaxSignatures is how many DKIM-Signature fields VerifyDKIM verifies:
	// the topmost ones, which the last hops (the reporting system) added.
	// Further signatures are ignored.
	MaxSignatures = 5
	// MaxHeaderBytes bounds the header section VerifyDKIM holds in memory
	// (the body is streamed, never held).
	MaxHeaderBytes = 256 << 10
)

// ErrHeaderTooLarge is returned by VerifyDKIM for a message whose header
// section exceeds MaxHeaderBytes.
var ErrHeaderTooLarge = errors.New("origin: message header too large for DKIM verification")

// DKIMResult is one DKIM signature of the report.
type DKIMResult struct {
	Domain    string // the signature's d= (lower case, no trailing dot); "" if the signature is too malformed to name one
	Pass      bool   // verified (body hash and signature)
	Err       string // why not, when !Pass
	Temporary bool   // when !Pass: the key could not be looked up (timeout, SERVFAIL); a retry may pass
}

// VerifyDKIM reads a whole message from r and verifies its DKIM signatures
// (RFC 6376) with go-msgauth, looking the keys up through res with ctx (so
// within ctx's deadline). It returns one result per signature, for at most
// MaxSignatures signatures (the topmost; the rest are ignored).
//
// It streams: only the header section (at most MaxHeaderBytes) is held in
// memory; the body passes through the hashes. It always reads r to its end,
// even when it has nothing to verify or fails, so a writer teeing into r
// never blocks; it returns an error only if reading r fails or the header
// section is too large or malformed. Signatures that do not verify are not
// errors: they are results with Pass false.
func VerifyDKIM(ctx context.Context, res dns.Resolver, r io.Reader) ([]DKIMResult, error) {
	br := bufio.NewReader(r)
	hdr, err := readHeader(br, MaxHeaderBytes)
	if err != nil {
		if _, derr := io.Copy(io.Discard, br); derr != nil {
			return nil, fmt.Errorf("dkim: reading message: %w", derr)
		}
		return nil, fmt.Errorf("dkim: %w", err)
	}
	if !hasSignature(hdr) {
		if _, err := io.Copy(io.Discard, br); err != nil {
			return nil, fmt.Errorf("dkim: reading message: %w", err)
		}
		return nil, nil
	}
	opts := &dkim.VerifyOptions{
		LookupTXT:        func(name string) ([]string, error) { return lookupKey(ctx, res, name) },
		MaxVerifications: MaxSignatures,
	}
	body := &bodyGuard{r: br}
	verifs, verr := dkim.VerifyWithOptions(io.MultiReader(bytes.NewReader(hdr), body), opts)
	// go-msgauth may stop reading early (one malformed signature), and
	// the guard may have ended the body early.
	if _, err := io.Copy(io.Discard, br); err != nil && body.err == nil {
		body.err = err
	}
	if body.err != nil {
		return nil, fmt.Errorf("dkim: reading message: %w", body.err)
	}
	if verr != nil && !errors.Is(verr, dkim.ErrTooManySignatures) {
		return nil, fmt.Errorf("dkim: %w", verr)
	}
	out := make([]DKIMResult, 0, len(verifs))
	for _, v := range verifs {
		d := DKIMResult{Domain: strings.TrimSuffix(strings.ToLower(v.Domain), "."), Pass: v.Err == nil}
		switch {
		case body.cut:
			// Content after the cut was not hashed: nothing verified.
			d.Pass = false
			d.Err = fmt.Sprintf("body not verified: a run of more than %d blank bytes", maxBlankRun)
		case v.Err != nil:
			d.Err = v.Err.Error()
			d.Temporary = dkim.IsTempFail(v.Err)
		}
		out = append(out, d)
	}
	return out, nil
}

// maxBlankRun bounds a run of white space (spaces, tabs, CR, LF) in a
// body being verified. go-msgauth's body canonicalizers hold a run of empty
// lines in memory until something else follows (RFC 6376 §3.4.3 and
// §3.4.4 ignore them at the end), copying the run again on every write:
// without a bound a body of blank lines would be held whole and cost time
// quadratic in its length. No genuine report has such a run.
const maxBlankRun = 64 << 10

// bodyGuard passes a message body to go-msgauth. It ends the body early
// (EOF) after a run of more than maxBlankRun blank bytes, setting cut; and
// it turns a read error into EOF, keeping it in err, because go-msgauth
// leaks its verifying goroutines when the body's reader fails.
type bodyGuard struct {
	r     io.Reader
	blank int
	cut   bool
	err   error
}

func (g *bodyGuard) Read(p []byte) (int, error) {
	if g.cut || g.err != nil {
		return 0, io.EOF
	}
	n, err := g.r.Read(p)
	for i, c := range p[:n] {
		switch c {
		case ' ', '\t', '\r', '\n':
			g.blank++
			if g.blank > maxBlankRun {
				g.cut = true
				return i, io.EOF
			}
		default:
			g.blank = 0
		}
	}
	if err != nil && err != io.EOF {
		g.err = err
		return n, io.EOF
	}
	return n, err
}

// lookupKey looks a DKIM key record up for go-msgauth, which tells a
// temporary failure from a permanent one by net.Error's Temporary.
func lookupKey(ctx context.Context, res dns.Resolver, name string) ([]string, error) {
	if _, ok := mdns.IsDomainName(name); !ok || len(name) > 253 {
		return nil, fmt.Errorf("invalid key name %q", name)
	}
	txts, err := res.LookupTXT(ctx, name)
	switch {
	case err == nil:
		return txts, nil
	case dns.IsNotFound(err):
		return nil, fmt.Errorf("no key record at %s", name)
	default:
		return nil, &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
	}
}

// readHeader reads the header section of a message from br, up to and
// including the empty line that ends it, failing if it exceeds max bytes.
// A message that ends without an empty line is all header; an empty line
// is then added, as an empty body.
func readHeader(br *bufio.Reader, max int) ([]byte, error) {
	var hdr []byte
	lineStart := true
	for {
		chunk, err := br.ReadSlice('\n')
		if len(hdr)+len(chunk) > max {
			return nil, ErrHeaderTooLarge
		}
		start := lineStart
		hdr = append(hdr, chunk...)
		switch {
		case err == bufio.ErrBufferFull:
			lineStart = false
			continue
		case err == io.EOF:
			if len(hdr) > 0 && !bytes.HasSuffix(hdr, []byte("\n")) {
				hdr = append(hdr, "\r\n"...)
			}
			return append(hdr, "\r\n"...), nil
		case err != nil:
			return nil, fmt.Errorf("reading header: %w", err)
		}
		if start && (len(chunk) == 1 || (len(chunk) == 2 && chunk[0] == '\r')) {
			return hdr, nil
		}
		lineStart = true
	}
}

// hasSignature reports whether a header section may contain a
// DKIM-Signature field (a cheap test that spares go-msgauth the body).
func hasSignature(hdr []byte) bool {
	return bytes.Contains(bytes.ToLower(hdr), []byte("dkim-signature"))
}
