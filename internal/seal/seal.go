// Package seal owns encryption at rest for Sesame's small secrets, such as
// DKIM private keys and secret access keys.
//
// A [Box] is created from the operator's master secret. Each value is sealed
// with AES-256-GCM under a key derived from that secret with HKDF-SHA256, and
// bound to caller-supplied additional data (typically the identity of the row
// it is stored in, e.g. "dkim:<token>"), so a sealed value copied to another
// row cannot be opened there.
//
// A Box also has a key check ([Box.Check]): a value derived from the master
// secret under its own label, which identifies the secret without revealing
// it or the sealing key, so that a program can tell a wrong master secret
// from a right one before it seals or opens anything.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// ErrCorrupt is returned (wrapped) by [Box.Open] when a sealed value cannot
// be opened: it is too short or garbled, it was sealed under a different
// master secret, or the additional data does not match.
var ErrCorrupt = errors.New("seal: cannot open: wrong key or corrupt data")

const (
	// version is the first byte of every sealed value. It identifies the
	// format: AES-256-GCM with a 12-byte nonce, key from HKDF-SHA256 with
	// info hkdfInfo.
	version byte = 1

	hkdfInfo  = "sesame seal v1"
	checkInfo = "sesame key check v1" // the key check's HKDF label
	checkSize = 16
	keySize   = 32 // AES-256
	nonceSize = 12 // standard GCM nonce
	tagSize   = 16 // standard GCM tag

	// Overhead is the number of bytes Seal adds to the plaintext.
	Overhead = 1 + nonceSize + tagSize
)

// Box seals and opens small secrets with AES-256-GCM under a key derived from
// configuration. A Box is safe for concurrent use.
type Box struct {
	aead  cipher.AEAD
	check string
}

// New derives a 32-byte key from the operator's master secret (any non-empty
// string) with HKDF-SHA256 (no salt, info "sesame seal v1") and returns a Box
// using it. The secret is used as given; it is not base64-decoded.
func New(secret string) (*Box, error) {
	if secret == "" {
		return nil, errors.New("seal: empty master secret")
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, hkdfInfo, keySize)
	if err != nil {
		return nil, fmt.Errorf("seal: derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: new cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: new gcm: %w", err)
	}
	check, err := hkdf.Key(sha256.New, []byte(secret), nil, checkInfo, checkSize)
	if err != nil {
		return nil, fmt.Errorf("seal: derive key check: %w", err)
	}
	return &Box{aead: aead, check: hex.EncodeToString(check)}, nil
}

// Check returns the box's key check: 16 bytes derived from the master
// secret with HKDF-SHA256 under the label "sesame key check v1" (an HMAC of
// that label under a key extracted from the secret), hex-encoded. It is
// neither the secret nor the sealing key nor a plain hash of the secret,
// and tells nothing about them beyond what any sealed value already does:
// whether a guessed secret is the right one. Stored beside sealed values,
// it says which master secret they need.
func (b *Box) Check() string { return b.check }

// Matches reports whether check is the box's key check (in constant time).
func (b *Box) Matches(check string) bool {
	return subtle.ConstantTimeCompare([]byte(check), []byte(b.check)) == 1
}

// Sealed is a value made by [Box.Seal], the additional data it was sealed
// with, and what it is, for messages ("access key AKIA...").
type Sealed struct {
	What  string
	Value []byte
	AAD   []byte
}

// Seal encrypts plaintext and returns version byte || 12-byte random nonce ||
// ciphertext+tag. aad binds the result to its context (e.g. "dkim:<token>");
// [Box.Open] with a different aad fails. The version byte is authenticated
// too. The result is [Overhead] bytes longer than plaintext.
func (b *Box) Seal(plaintext, aad []byte) []byte {
	out := make([]byte, 1+nonceSize, Overhead+len(plaintext))
	out[0] = version
	nonce := out[1 : 1+nonceSize]
	// crypto/rand.Read never returns an error (it aborts the program if the
	// system's random source fails).
	_, _ = rand.Read(nonce)
	return b.aead.Seal(out, nonce, plaintext, additionalData(aad))
}

// Open authenticates and decrypts a value produced by [Box.Seal] with the
// same master secret and aad. Any failure (input too short, unknown version,
// wrong key, wrong aad, modified bytes) is reported as an error wrapping
// [ErrCorrupt]. Open never panics, whatever the input.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrCorrupt, len(sealed))
	}
	if sealed[0] != version {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrCorrupt, sealed[0])
	}
	nonce := sealed[1 : 1+nonceSize]
	plaintext, err := b.aead.Open(nil, nonce, sealed[1+nonceSize:], additionalData(aad))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return plaintext, nil
}

// additionalData is what GCM authenticates besides the ciphertext: the
// version byte followed by the caller's aad.
func additionalData(aad []byte) []byte {
	ad := make([]byte, 0, 1+len(aad))
	ad = append(ad, version)
	return append(ad, aad...)
}

// GenerateSecret returns a new random master secret, the standard base64
// encoding of 32 random bytes, suitable for [New] on first start.
func GenerateSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails; see Seal
	return base64.StdEncoding.EncodeToString(b[:])
}
