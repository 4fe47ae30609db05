package dkim

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
)

// SES's limits for a BYODKIM private key (DomainSigningPrivateKey).
const (
	maxBYODKIMLen  = 20480
	minBYODKIMBits = 1024
	maxBYODKIMBits = 2048
)

// KeyError reports a customer-supplied key or selector that breaks one of
// SES's rules. Msg is meant for the API client and names the rule broken.
type KeyError struct {
	Msg string
}

// Error returns e.Msg.
func (e *KeyError) Error() string { return e.Msg }

func keyErrorf(format string, args ...any) *KeyError {
	return &KeyError{Msg: fmt.Sprintf(format, args...)}
}

// msgNotRSADER is the message for text that is not an RSA private key in DER.
const msgNotRSADER = "DomainSigningPrivateKey must be a base64-encoded RSA private key in DER form (PKCS#1 or PKCS#8)"

// ParseBYODKIM validates a customer-supplied private key as SES's
// PutEmailIdentityDkimSigningAttributes and CreateEmailIdentity take it
// (DkimSigningAttributes.DomainSigningPrivateKey): the base64 of the DER
// (PKCS#1 or PKCS#8) RSA private key, with the PEM header, footer and
// newlines removed. SES's rules are enforced: the text matches
// ^[a-zA-Z0-9+/]+={0,2}$ and is 1..20480 characters long, the key is RSA, and
// its modulus is 1024..2048 bits inclusive.
//
// Unlike SES, ParseBYODKIM is lenient in one way: it also accepts the text
// if it still has PEM armour or line breaks. PEM boundaries such as
// "-----BEGIN RSA PRIVATE KEY-----" and "-----END PRIVATE KEY-----" (on
// their own lines or not) and all whitespace are removed first, and the rules
// above, including the length limit, apply to what remains. Encrypted PEM
// (with "Proc-Type:" headers) is still rejected, as is anything else that is
// not base64 once the armour is gone.
//
// Every error is a *KeyError whose message names the rule broken.
func ParseBYODKIM(b64 string) (*Key, error) {
	text := stripPEM(b64)
	switch {
	case text == "":
		return nil, keyErrorf("DomainSigningPrivateKey must not be empty")
	case len(text) > maxBYODKIMLen:
		return nil, keyErrorf("DomainSigningPrivateKey is %d characters long; the maximum is %d", len(text), maxBYODKIMLen)
	case !isBase64Text(text):
		return nil, keyErrorf("%s: it must match the pattern ^[a-zA-Z0-9+/]+={0,2}$", msgNotRSADER)
	}
	// The pattern allows any number of data characters, so decode without
	// requiring correct padding.
	der, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(text, "="))
	if err != nil {
		return nil, keyErrorf("%s: it is not valid base64", msgNotRSADER)
	}

	var priv any
	if p1, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		priv = p1
	} else if p8, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		priv = p8
	} else if ec, err := x509.ParseECPrivateKey(der); err == nil {
		priv = ec
	} else {
		return nil, keyErrorf("%s", msgNotRSADER)
	}

	switch p := priv.(type) {
	case *rsa.PrivateKey:
		bits := p.N.BitLen()
		if bits < minBYODKIMBits {
			return nil, keyErrorf("DomainSigningPrivateKey is %d bits; the minimum is %d", bits, minBYODKIMBits)
		}
		if bits > maxBYODKIMBits {
			return nil, keyErrorf("DomainSigningPrivateKey is %d bits; the maximum is %d", bits, maxBYODKIMBits)
		}
		return &Key{Algorithm: RSA, Bits: bits, Signer: p}, nil
	case ed25519.PrivateKey:
		return nil, keyErrorf("DomainSigningPrivateKey is an Ed25519 key; only RSA keys are supported")
	case *ecdsa.PrivateKey:
		return nil, keyErrorf("DomainSigningPrivateKey is an ECDSA key; only RSA keys are supported")
	default:
		return nil, keyErrorf("DomainSigningPrivateKey is not an RSA key; only RSA keys are supported")
	}
}

// stripPEM removes PEM boundaries ("-----BEGIN <label>-----" and
// "-----END <label>-----", wherever they are in s) and all whitespace from s.
// It runs in time linear in len(s).
func stripPEM(s string) string {
	if !strings.ContainsAny(s, "- \t\r\n\v\f") {
		return s // the usual, SES-conformant case
	}
	var b strings.Builder
	b.Grow(len(s))
	write := func(t string) {
		for _, c := range []byte(t) {
			switch c {
			case ' ', '\t', '\r', '\n', '\v', '\f':
			default:
				b.WriteByte(c)
			}
		}
	}
	for {
		i := strings.Index(s, "-----")
		if i < 0 {
			break
		}
		rest := s[i+len("-----"):]
		j := strings.Index(rest, "-----")
		if j < 0 || !(strings.HasPrefix(rest, "BEGIN ") || strings.HasPrefix(rest, "END ")) {
			break // not a boundary; leave it for the pattern check to reject
		}
		write(s[:i])
		s = rest[j+len("-----"):]
	}
	write(s)
	return b.String()
}

// isBase64Text reports whether s matches ^[a-zA-Z0-9+/]+={0,2}$.
func isBase64Text(s string) bool {
	data := strings.TrimRight(s, "=")
	if data == "" || len(s)-len(data) > 2 {
		return false
	}
	for _, c := range []byte(data) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// ValidSelector reports whether s is a valid DKIM selector by SES's rule:
// 1..63 characters matching
// ^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))$, that is letters,
// digits and hyphens, not starting or ending with a hyphen.
func ValidSelector(s string) bool {
	if len(s) < 1 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-':
		default:
			return false
		}
	}
	return true
}
