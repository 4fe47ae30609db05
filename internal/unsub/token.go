package unsub

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/linktoken"
	"github.com/sesame-email/sesame/internal/seal"
)

// Token is what an unsubscribe link is bound to: the recipient of one
// message, the contact list and topic ("" for the whole list) it was
// sent for, and the configuration set and message it came with (for the
// Subscription event). Issued is when the message was accepted.
type Token struct {
	AccountID, ContactList, Topic, Address string
	ConfigurationSet, MessageID            string
	Issued                                 time.Time
}

// ErrBadToken is every token that is not one Sesame issued as it is:
// malformed, truncated, altered or signed with another key. It says no
// more, on purpose.
var ErrBadToken = errors.New("unsub: not a valid unsubscribe token")

// The token's binary form: a version byte, the six fields each as a
// uvarint length and its bytes (linktoken.AppendField), the issue time in
// Unix seconds as a uvarint, then its MAC (linktoken.Key.Sign under
// macLabel).
const (
	version  = 1
	macLabel = "sesame list-unsubscribe token\x00"
	// maxFieldLen bounds each field when reading (an address is at most
	// 320 bytes, names 64).
	maxFieldLen = 512
	// MaxTokenLen bounds a token as text, before decoding.
	MaxTokenLen = 2048
	// KeySetting is the settings row of the HMAC key (linktoken.LoadKey).
	KeySetting = "list_unsubscribe_key"
)

// urlEncoding is the token in the https link; mailEncoding the one in the
// mailto address, case-insensitive because mail systems may change the
// case of a local part.
var (
	urlEncoding  = base64.RawURLEncoding.Strict() // one text per token
	mailEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)
)

// Codec makes and reads tokens under one key. It is safe for concurrent
// use.
type Codec struct {
	key *linktoken.Key
}

// NewCodec returns a Codec with key (at least 32 bytes).
func NewCodec(key []byte) (*Codec, error) {
	k, err := linktoken.NewKey(key)
	if err != nil {
		return nil, fmt.Errorf("unsub: %w", err)
	}
	return &Codec{key: k}, nil
}

// LoadKey returns the deployment's token key (linktoken.LoadKey of
// KeySetting).
func LoadKey(ctx context.Context, d *db.DB, box *seal.Box) ([]byte, error) {
	return linktoken.LoadKey(ctx, d, box, KeySetting)
}

// binary returns t's binary form, MAC included.
func (c *Codec) binary(t Token) []byte {
	b := make([]byte, 0, 64+len(t.AccountID)+len(t.ContactList)+len(t.Topic)+len(t.Address)+len(t.ConfigurationSet)+len(t.MessageID))
	b = append(b, version)
	for _, f := range []string{t.AccountID, t.ContactList, t.Topic, t.Address, t.ConfigurationSet, t.MessageID} {
		b = linktoken.AppendField(b, f)
	}
	b = binary.AppendUvarint(b, uint64(max(t.Issued.Unix(), 0)))
	return c.key.Sign(macLabel, b)
}

// Encode returns t as the token of an https link: URL-safe base64. The
// token carries its fields readably to whoever holds it (the recipient,
// who knows them); altering any of them breaks the MAC.
func (c *Codec) Encode(t Token) string { return urlEncoding.EncodeToString(c.binary(t)) }

// EncodeMail returns t as the token of a mailto address's local part:
// base32, lower case.
func (c *Codec) EncodeMail(t Token) string {
	return strings.ToLower(mailEncoding.EncodeToString(c.binary(t)))
}

// Decode reads a token of Encode; anything else is ErrBadToken.
func (c *Codec) Decode(s string) (Token, error) {
	if len(s) > MaxTokenLen {
		return Token{}, ErrBadToken
	}
	b, err := urlEncoding.DecodeString(s)
	if err != nil {
		return Token{}, ErrBadToken
	}
	return c.parse(b)
}

// DecodeMail reads a token of EncodeMail, in any case; anything else is
// ErrBadToken.
func (c *Codec) DecodeMail(s string) (Token, error) {
	if len(s) > MaxTokenLen {
		return Token{}, ErrBadToken
	}
	b, err := mailEncoding.DecodeString(strings.ToUpper(s))
	if err != nil {
		return Token{}, ErrBadToken
	}
	return c.parse(b)
}

// parse checks the MAC of a token's binary form (in constant time, before
// reading anything else of it) and reads its fields.
func (c *Codec) parse(b []byte) (Token, error) {
	payload, ok := c.key.Verify(macLabel, b)
	if !ok || len(payload) < 1 || payload[0] != version {
		return Token{}, ErrBadToken
	}
	rest := payload[1:]
	var fs [6]string
	for i := range fs {
		if fs[i], rest, ok = linktoken.ReadField(rest, maxFieldLen); !ok {
			return Token{}, ErrBadToken
		}
	}
	secs, k := binary.Uvarint(rest)
	if k <= 0 || k != len(rest) || secs > 1<<40 {
		return Token{}, ErrBadToken
	}
	t := Token{AccountID: fs[0], ContactList: fs[1], Topic: fs[2], Address: fs[3], ConfigurationSet: fs[4], MessageID: fs[5],
		Issued: time.Unix(int64(secs), 0).UTC()}
	if t.AccountID == "" || t.ContactList == "" || t.Address == "" || t.MessageID == "" {
		return Token{}, ErrBadToken
	}
	return t, nil
}
