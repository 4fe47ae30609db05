package compose

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// NewMessageID returns a MessageId in SES's format (ses-api.md §12.2): 16
// hex digits ("0100" and the acceptance time in Unix milliseconds), a random
// UUID and a 6-digit suffix, e.g.
// 0100018c2f3e4a5b-3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c-000000.
func NewMessageID(now time.Time) string {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	h := hex.EncodeToString(u[:])
	ms := now.UnixMilli() & 0xffffffffffff
	return fmt.Sprintf("0100%012x-%s-%s-%s-%s-%s-000000", ms, h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}
