package track

import (
	"encoding/base64"
	"errors"

	"github.com/sesame-email/sesame/internal/linktoken"
)

// Token is what a tracking URL is bound to: the account, the message and
// the configuration set it went through, and, for a click, the link's
// exact original URL and its ses:tags (canonical form, see parseTags).
type Token struct {
	Click                                  bool
	AccountID, MessageID, ConfigurationSet string
	Link, Tags                             string // Click only
}

// ErrBadToken is every token Sesame did not issue as it is: malformed,
// truncated, altered, signed with another key, or of the other kind.
var ErrBadToken = errors.New("track: not a valid tracking token")

// The token's binary form: a version byte, a kind byte (open or click),
// the account, MessageId and configuration set each as a
// linktoken.AppendField, for a click also the link and its tags, then its
// MAC (linktoken.Key.Sign under macLabel). As text it is URL-safe base64
// without padding.
const (
	version   = 1
	kindOpen  = 'o'
	kindClick = 'c'
	macLabel  = "sesame tracking token\x00"
	// KeySetting is the settings row of the HMAC key (linktoken.LoadKey):
	// a key of its own, apart from unsubscribe links'.
	KeySetting = "link_tracking_key"
	// MaxLinkLen bounds a tracked link: longer ones are left as they are.
	MaxLinkLen = 2048
	// maxTagsLen bounds a link's ses:tags in canonical form.
	maxTagsLen = 2048
	// maxIDLen bounds the account, MessageId and configuration set.
	maxIDLen = 256
	// MaxTokenLen bounds a token as text, before decoding.
	MaxTokenLen = (1+1+3*(2+maxIDLen)+2*(2+MaxLinkLen)+linktoken.MACLen)*4/3 + 4
)

var encoding = base64.RawURLEncoding.Strict()

// Codec makes and reads tokens under one key. It is safe for concurrent
// use.
type Codec struct {
	key *linktoken.Key
}

// NewCodec returns a Codec with key (at least 32 bytes).
func NewCodec(key []byte) (*Codec, error) {
	k, err := linktoken.NewKey(key)
	if err != nil {
		return nil, err
	}
	return &Codec{key: k}, nil
}

// Encode returns t as text. The fields are readable by whoever holds the
// token (the recipient, who has the message); altering any breaks the
// MAC.
func (c *Codec) Encode(t Token) string {
	b := make([]byte, 0, 2+4*3+len(t.AccountID)+len(t.MessageID)+len(t.ConfigurationSet)+len(t.Link)+len(t.Tags)+8+linktoken.MACLen)
	kind := byte(kindOpen)
	if t.Click {
		kind = kindClick
	}
	b = append(b, version, kind)
	b = linktoken.AppendField(b, t.AccountID)
	b = linktoken.AppendField(b, t.MessageID)
	b = linktoken.AppendField(b, t.ConfigurationSet)
	if t.Click {
		b = linktoken.AppendField(b, t.Link)
		b = linktoken.AppendField(b, t.Tags)
	}
	return encoding.EncodeToString(c.key.Sign(macLabel, b))
}

// Decode reads a token of Encode; anything else is ErrBadToken. The MAC
// is checked, in constant time, before any field is read.
func (c *Codec) Decode(s string) (Token, error) {
	if len(s) > MaxTokenLen {
		return Token{}, ErrBadToken
	}
	b, err := encoding.DecodeString(s)
	if err != nil {
		return Token{}, ErrBadToken
	}
	p, ok := c.key.Verify(macLabel, b)
	if !ok || len(p) < 2 || p[0] != version || p[1] != kindOpen && p[1] != kindClick {
		return Token{}, ErrBadToken
	}
	t := Token{Click: p[1] == kindClick}
	rest := p[2:]
	for _, f := range []*string{&t.AccountID, &t.MessageID, &t.ConfigurationSet} {
		if *f, rest, ok = linktoken.ReadField(rest, maxIDLen); !ok || *f == "" {
			return Token{}, ErrBadToken
		}
	}
	if t.Click {
		if t.Link, rest, ok = linktoken.ReadField(rest, MaxLinkLen); !ok || t.Link == "" {
			return Token{}, ErrBadToken
		}
		if t.Tags, rest, ok = linktoken.ReadField(rest, maxTagsLen); !ok {
			return Token{}, ErrBadToken
		}
	}
	if len(rest) != 0 {
		return Token{}, ErrBadToken
	}
	return t, nil
}
