package dkim

import (
	"crypto/rsa"
	"fmt"
	"sync"
)

// rsaSigner makes RSA signatures with one private key. The implementation
// is chosen at build time: crypto/rsa by default (rsa_go.go), OpenSSL's
// libcrypto with -tags openssl (rsa_openssl.go). Both give the same bytes:
// RSASSA-PKCS1-v1_5 is deterministic. Implementations are safe for
// concurrent use.
type rsaSigner interface {
	// signSHA256 returns the RSASSA-PKCS1-v1_5 signature (RFC 8017 §8.2) of
	// a SHA-256 digest.
	signSHA256(digest []byte) ([]byte, error)
}

// preparedRSA holds a Key's rsaSigner, made at its first RSA signature.
type preparedRSA struct {
	once   sync.Once
	signer rsaSigner
	err    error
}

// rsaSigner returns k's signer for the build's RSA backend, preparing it
// (for OpenSSL: loading the key) on first use. k.Signer must be an
// *rsa.PrivateKey.
func (k *Key) rsaSigner() (rsaSigner, error) {
	k.rsa.once.Do(func() {
		priv, ok := k.Signer.(*rsa.PrivateKey)
		if !ok {
			k.rsa.err = fmt.Errorf("dkim: %T is not an RSA key", k.Signer)
			return
		}
		k.rsa.signer, k.rsa.err = newRSASigner(priv)
	})
	return k.rsa.signer, k.rsa.err
}
