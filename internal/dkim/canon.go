package dkim

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
)

// This file is DKIM's relaxed canonicalisation (RFC 6376 §3.4.2, §3.4.4)
// and the DKIM-Signature field's layout, written to give exactly the bytes
// go-msgauth v0.7.0's signer gives: TestSignMatchesGoMsgauth and
// FuzzSignMatchesGoMsgauth compare the two. go-msgauth exports no piece of
// its signer short of the whole (which runs a goroutine and a pipe per
// signature), so Sign does this part itself. Its input has CRLF line
// endings only (parseMessage checks), which go-msgauth would otherwise
// repair first.

// isWSP reports whether c separates words in relaxed header
// canonicalisation: SP, HTAB, or the CR and LF of a folded line.
func isWSP(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// appendRelaxedField appends the relaxed canonical form of one header field
// (name, colon, value and the CRLFs of its lines) to dst: the name
// lower-cased without surrounding WSP, a colon, the value unfolded with
// each run of WSP made one space and none at either end, and CRLF.
func appendRelaxedField(dst, field []byte) []byte {
	colon := 0
	for colon < len(field) && field[colon] != ':' {
		colon++
	}
	for _, c := range bytes.TrimSpace(field[:colon]) {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	dst = append(dst, ':')
	space := false // a WSP run is pending between two words
	wrote := false
	for _, c := range field[min(colon+1, len(field)):] {
		if isWSP(c) {
			space = wrote
			continue
		}
		if space {
			dst = append(dst, ' ')
			space = false
		}
		dst = append(dst, c)
		wrote = true
	}
	return append(dst, '\r', '\n')
}

// canonicalHeader returns the header fields named by keys, canonicalised
// and concatenated: for each key, the last field of that name not yet
// used, from the bottom of the header up (RFC 6376 §5.4.2); a key with no
// field left (From, oversigned) adds nothing.
func canonicalHeader(fields []headerField, keys []string) []byte {
	size := 0
	for _, f := range fields {
		size += len(f.raw)
	}
	out := make([]byte, 0, size)
	used := make([]bool, len(fields))
	for _, k := range keys {
		for i := len(fields) - 1; i >= 0; i-- {
			if !used[i] && fields[i].is(k) {
				used[i] = true
				out = appendRelaxedField(out, fields[i].raw)
				break
			}
		}
	}
	return out
}

// bodyHash returns bh=: the base64 SHA-256 of the relaxed canonical body.
// Runs of SP and HTAB become one space, or nothing at the end of a line;
// empty lines at the end are removed; a body left non-empty ends in CRLF,
// and an empty one stays empty.
// The canonical body is hashed as it is made, line by line, not copied
// whole first.
func bodyHash(body []byte) string {
	h := sha256.New()
	var buf []byte // a line with WSP compressed
	crlf := []byte("\r\n")
	lines := 0 // line breaks pending, written before the next text
	wrote := false
	for len(body) > 0 {
		line, rest, found := bytes.Cut(body, crlf)
		body = rest
		line = bytes.TrimRight(line, " \t")
		if len(line) > 0 {
			for ; lines > 0; lines-- {
				h.Write(crlf)
			}
			buf = appendCompressedWSP(buf[:0], line)
			h.Write(buf)
			wrote = true
		}
		if found {
			lines++
		}
	}
	if wrote {
		h.Write(crlf)
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// appendCompressedWSP appends line to dst with each run of SP and HTAB
// made one space.
func appendCompressedWSP(dst, line []byte) []byte {
	if bytes.IndexByte(line, '\t') < 0 && !bytes.Contains(line, []byte("  ")) {
		return append(dst, line...) // the common case: nothing to compress
	}
	space := false
	for _, c := range line {
		if c == ' ' || c == '\t' {
			space = true
			continue
		}
		if space {
			dst = append(dst, ' ')
			space = false
		}
		dst = append(dst, c)
	}
	if space {
		dst = append(dst, ' ')
	}
	return dst
}

// tag is one tag=value of a DKIM-Signature field.
type tag struct{ name, value string }

// formatSignature returns a DKIM-Signature field (with its final CRLF)
// holding tags, which are in order of name, and then b=. Tags are packed
// onto lines joined by folding: a tag starts a new line when the line would
// pass 75 characters (go-msgauth's measure, which does not count the field
// name on the first line); b= starts a line of its own and is cut every 75
// characters.
func formatSignature(tags []tag, b string) string {
	s := make([]byte, 0, 512)
	s = append(s, "DKIM-Signature:"...)
	line := 0 // length of the current line, without the field name
	for _, t := range tags {
		if 3+line+len(t.value)+len(t.name) > 75 {
			s = append(s, '\r', '\n')
			line = 0
		}
		n := len(s)
		s = append(s, ' ')
		s = append(s, t.name...)
		s = append(s, '=')
		s = append(s, t.value...)
		s = append(s, ';')
		line += len(s) - n
	}
	s = append(s, "\r\n b="...)
	rest := b
	for n := 72; len(rest) > 0; n = 75 { // " b=" and 72 characters, then 75
		if n != 72 {
			s = append(s, "\r\n "...)
		}
		n = min(n, len(rest))
		s = append(s, rest[:n]...)
		rest = rest[n:]
	}
	s = append(s, '\r', '\n')
	return string(s)
}
