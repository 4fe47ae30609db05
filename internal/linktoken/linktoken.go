// Package linktoken owns the signing of Sesame's stateless link tokens
// (one-click unsubscribe, open and click tracking): a per-deployment HMAC
// key made once and kept sealed with the master key, a MAC over a
// caller's binary payload under a label that separates the kinds of
// token, and the length-prefixed fields payloads are made of. What a
// token carries, and how it is written as text, is its owner's business
// (packages unsub and track).
package linktoken

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/seal"
)

// MACLen is the length of a token's MAC: 128 bits of HMAC-SHA256, so
// forging one takes 2^128 tries.
const MACLen = 16

// Key signs and checks tokens. It is safe for concurrent use.
type Key struct {
	key []byte
}

// NewKey returns a Key with key (at least 32 bytes).
func NewKey(key []byte) (*Key, error) {
	if len(key) < 32 {
		return nil, errors.New("linktoken: the key must have at least 32 bytes")
	}
	return &Key{key: append([]byte(nil), key...)}, nil
}

// LoadKey returns the deployment's key kept in the settings row setting:
// 32 random bytes made on the first start (by whichever node of a cluster
// comes first) and stored sealed with the master key, as the service DKIM
// key is.
func LoadKey(ctx context.Context, d *db.DB, box *seal.Box, setting string) ([]byte, error) {
	aad := []byte(setting)
	v, ok, err := d.Setting(ctx, setting)
	if err != nil {
		return nil, err
	}
	if !ok {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, fmt.Errorf("linktoken: make the key %s: %w", setting, err)
		}
		if v, err = d.InitSetting(ctx, setting, base64.StdEncoding.EncodeToString(box.Seal(k, aad))); err != nil {
			return nil, err
		}
	}
	sealed, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("linktoken: key %s: %w", setting, err)
	}
	k, err := box.Open(sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("linktoken: key %s (is this the master key it was sealed with?): %w", setting, err)
	}
	return k, nil
}

func (k *Key) mac(label string, payload []byte) []byte {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte(label))
	m.Write(payload)
	return m.Sum(nil)[:MACLen]
}

// Sign returns payload with its MAC under label appended (in payload's
// spare capacity when it has some).
func (k *Key) Sign(label string, payload []byte) []byte {
	return append(payload, k.mac(label, payload)...)
}

// Verify checks b, a Sign output under label, in constant time, and
// returns its payload; ok is false for anything else.
func (k *Key) Verify(label string, b []byte) (payload []byte, ok bool) {
	if len(b) < MACLen {
		return nil, false
	}
	payload, sum := b[:len(b)-MACLen], b[len(b)-MACLen:]
	if !hmac.Equal(k.mac(label, payload), sum) {
		return nil, false
	}
	return payload, true
}

// AppendField appends s to b as a uvarint length and its bytes.
func AppendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ReadField reads an AppendField of at most maxLen bytes from the start
// of b and returns it and the rest of b; ok is false when b does not
// start with one.
func ReadField(b []byte, maxLen int) (s string, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(maxLen) || n > uint64(len(b)-k) {
		return "", nil, false
	}
	return string(b[k : k+int(n)]), b[k+int(n):], true
}
