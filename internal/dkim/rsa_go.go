//go:build !openssl

package dkim

import (
	"crypto"
	"crypto/rsa"
)

// RSABackend names the implementation of RSA signing in this build: Go's
// crypto/rsa (the default), or "openssl" when built with -tags openssl.
const RSABackend = "crypto/rsa"

// goRSA signs with crypto/rsa.
type goRSA struct{ priv *rsa.PrivateKey }

func newRSASigner(priv *rsa.PrivateKey) (rsaSigner, error) { return goRSA{priv}, nil }

func (g goRSA) signSHA256(digest []byte) ([]byte, error) {
	return rsa.SignPKCS1v15(nil, g.priv, crypto.SHA256, digest)
}
