// Package dkim owns Sesame's DKIM key material: generating Easy DKIM keys
// and tokens, the stored (PKCS#8 DER) form of private keys, validating
// customer-supplied (BYODKIM) keys and selectors by SES's rules, and the
// text of DKIM public-key TXT records (building, splitting for DNS, and
// parsing published records for the checker), and signing messages
// (Sign, relaxed/relaxed, one signature per key), with RSA signatures made
// by Go's crypto/rsa or, built with -tags openssl, by OpenSSL's libcrypto.
// Sign makes go-msgauth's exact signatures without go-msgauth's signer;
// its tests check that against go-msgauth, and verify with it.
package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
)

// Algorithm is a DKIM key algorithm, as written in the k= tag.
type Algorithm string

// The supported key algorithms.
const (
	RSA     Algorithm = "rsa"     // RSA (RFC 6376), signing with rsa-sha256
	Ed25519 Algorithm = "ed25519" // Ed25519 (RFC 8463), signing with ed25519-sha256
)

// Key is a DKIM private key with its algorithm.
type Key struct {
	Algorithm Algorithm
	// Bits is the key size: the modulus length for RSA (1024 or 2048 for
	// generated keys, 1024..2048 for BYODKIM keys), 256 for Ed25519.
	Bits int
	// Signer is the private key: *rsa.PrivateKey or ed25519.PrivateKey.
	// It must not change once the key has signed: an RSA key is prepared
	// for the signing backend once, at its first signature.
	Signer crypto.Signer

	rsa preparedRSA // the RSA key in the backend's form
}

// Generate creates a key: RSA with bits 1024 or 2048 (other values are an
// error), or Ed25519 (bits is ignored).
func Generate(alg Algorithm, bits int) (*Key, error) {
	switch alg {
	case RSA:
		if bits != 1024 && bits != 2048 {
			return nil, fmt.Errorf("dkim: unsupported RSA key size %d; want 1024 or 2048", bits)
		}
		priv, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			return nil, fmt.Errorf("dkim: generate RSA key: %w", err)
		}
		return &Key{Algorithm: RSA, Bits: bits, Signer: priv}, nil
	case Ed25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("dkim: generate Ed25519 key: %w", err)
		}
		return &Key{Algorithm: Ed25519, Bits: 256, Signer: priv}, nil
	default:
		return nil, fmt.Errorf("dkim: unsupported key algorithm %q", alg)
	}
}

// MarshalPrivate returns the storage form of the key: PKCS#8 DER.
func (k *Key) MarshalPrivate() ([]byte, error) {
	if err := k.check(); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Signer)
	if err != nil {
		return nil, fmt.Errorf("dkim: marshal private key: %w", err)
	}
	return der, nil
}

// ParsePrivate parses a private key in its storage form. It accepts PKCS#8
// DER holding an RSA or Ed25519 key, and PKCS#1 DER (RSA). It does not
// enforce key sizes: a stored key was checked when it was generated or
// imported.
func ParsePrivate(der []byte) (*Key, error) {
	priv, err8 := x509.ParsePKCS8PrivateKey(der)
	if err8 == nil {
		return keyFrom(priv)
	}
	rsaPriv, err1 := x509.ParsePKCS1PrivateKey(der)
	if err1 == nil {
		return keyFrom(rsaPriv)
	}
	return nil, fmt.Errorf("dkim: parse private key: not PKCS#8 (%w) or PKCS#1 (%w)", err8, err1)
}

// keyFrom wraps a parsed private key, rejecting unsupported types.
func keyFrom(priv any) (*Key, error) {
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		return &Key{Algorithm: RSA, Bits: p.N.BitLen(), Signer: p}, nil
	case ed25519.PrivateKey:
		return &Key{Algorithm: Ed25519, Bits: 256, Signer: p}, nil
	default:
		return nil, fmt.Errorf("dkim: unsupported private key type %T", priv)
	}
}

// check reports whether k is usable: its Signer matches its Algorithm.
func (k *Key) check() error {
	if k == nil || k.Signer == nil {
		return errors.New("dkim: no private key")
	}
	switch k.Algorithm {
	case RSA:
		if _, ok := k.Signer.(*rsa.PrivateKey); ok {
			return nil
		}
	case Ed25519:
		if _, ok := k.Signer.(ed25519.PrivateKey); ok {
			return nil
		}
	default:
		return fmt.Errorf("dkim: unsupported key algorithm %q", k.Algorithm)
	}
	return fmt.Errorf("dkim: %s key has a %T signer", k.Algorithm, k.Signer)
}

// PublicKeyBase64 returns the p= value of the key's DNS record: the standard
// base64 of the SubjectPublicKeyInfo DER for RSA (what SES and RFC 6376
// use), or of the raw 32-byte public key for Ed25519 (RFC 8463).
func (k *Key) PublicKeyBase64() (string, error) {
	if err := k.check(); err != nil {
		return "", err
	}
	var raw []byte
	switch pub := k.Signer.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", fmt.Errorf("dkim: marshal public key: %w", err)
		}
		raw = der
	case ed25519.PublicKey:
		raw = pub
	default:
		return "", fmt.Errorf("dkim: unsupported public key type %T", pub)
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// Record returns the DKIM TXT record text for the key:
// "v=DKIM1; k=rsa; p=..." or "v=DKIM1; k=ed25519; p=...". Use [SplitTXT] to
// publish it as a DNS resource record.
func (k *Key) Record() (string, error) {
	p, err := k.PublicKeyBase64()
	if err != nil {
		return "", err
	}
	return "v=DKIM1; k=" + string(k.Algorithm) + "; p=" + p, nil
}

// SplitTXT splits a long TXT value into character-strings of at most 255
// bytes, the most one DNS character-string can hold; resolvers concatenate
// them back into one value. The split is by bytes, which is what DKIM's
// ASCII records need. An empty s gives one empty character-string.
func SplitTXT(s string) []string {
	const maxLen = 255
	parts := make([]string, 0, len(s)/maxLen+1)
	for len(s) > maxLen {
		parts = append(parts, s[:maxLen])
		s = s[maxLen:]
	}
	return append(parts, s)
}

// tokenAlphabet is the set of characters in Easy DKIM tokens.
const tokenAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// Token returns a new Easy DKIM token: 32 characters of [a-z0-9], chosen
// uniformly with crypto/rand, like SES's tokens.
func Token() string {
	const n = 32
	// Rejection sampling: 252 is the largest multiple of 36 below 256, so
	// bytes below it map uniformly onto the alphabet.
	const limit = 256 - 256%len(tokenAlphabet)
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:]) // never fails; it aborts the program instead
		for _, b := range buf {
			if int(b) < limit {
				out = append(out, tokenAlphabet[int(b)%len(tokenAlphabet)])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out)
}
