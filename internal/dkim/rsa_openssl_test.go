//go:build openssl

package dkim

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// TestOpenSSLMatchesCryptoRSA checks that the OpenSSL backend's signatures
// are crypto/rsa's, byte for byte, for keys of the sizes Sesame accepts
// (BYODKIM keys may have any size from 1024 to 2048 bits) and many
// digests.
func TestOpenSSLMatchesCryptoRSA(t *testing.T) {
	if RSABackend != "openssl" {
		t.Fatalf("RSABackend = %q in an openssl build", RSABackend)
	}
	for _, bits := range []int{1024, 1025, 1536, 2047, 2048} {
		t.Run(fmt.Sprint(bits), func(t *testing.T) {
			priv, err := rsa.GenerateKey(rand.Reader, bits)
			if err != nil {
				t.Fatal(err)
			}
			o, err := newRSASigner(priv)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 50 {
				digest := sha256.Sum256([]byte(fmt.Sprint("message ", bits, i)))
				got, err := o.signSHA256(digest[:])
				if err != nil {
					t.Fatal(err)
				}
				want, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, digest[:])
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("digest %d: OpenSSL signature differs from crypto/rsa's\ngot:  %x\nwant: %x", i, got, want)
				}
			}
		})
	}
}

// TestOpenSSLConcurrent signs with one key from many goroutines at once,
// through Key (which loads the key into OpenSSL once), and checks every
// signature; then drops the signers so their cleanups free the keys while
// the test is still running.
func TestOpenSSLConcurrent(t *testing.T) {
	k := testKeys(t)["rsa2048"]
	priv := k.Signer.(*rsa.PrivateKey)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				digest := sha256.Sum256([]byte(fmt.Sprint(g, i)))
				s, err := k.rsaSigner()
				if err != nil {
					errs <- err
					return
				}
				sig, err := s.signSHA256(digest[:])
				if err != nil {
					errs <- err
					return
				}
				if err := rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
					errs <- fmt.Errorf("goroutine %d signature %d: %w", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	for range 100 {
		o, err := newRSASigner(priv)
		if err != nil {
			t.Fatal(err)
		}
		digest := sha256.Sum256(nil)
		if _, err := o.signSHA256(digest[:]); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.GC()
}

// TestOpenSSLRejectsBadDigest checks the error path: a digest of the wrong
// length is refused before OpenSSL sees it.
func TestOpenSSLRejectsBadDigest(t *testing.T) {
	o, err := newRSASigner(testKeys(t)["rsa1024"].Signer.(*rsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.signSHA256(make([]byte, 31)); err == nil {
		t.Fatal("signSHA256 accepted a 31-byte digest")
	}
}
