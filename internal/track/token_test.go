package track

import (
	"bytes"
	"strings"
	"testing"
)

func testCodec(t testing.TB) *Codec {
	t.Helper()
	c, err := NewCodec(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestToken(t *testing.T) {
	c := testCodec(t)
	other, _ := NewCodec(bytes.Repeat([]byte{8}, 32))
	click := Token{Click: true, AccountID: "123456789012", MessageID: "0100019a-1-000000", ConfigurationSet: "news",
		Link: "https://shop.example.test/a?b=c", Tags: "campaign:spring"}
	open := Token{AccountID: "123456789012", MessageID: "0100019a-1-000000", ConfigurationSet: "news"}
	for _, tok := range []Token{click, open} {
		s := c.Encode(tok)
		got, err := c.Decode(s)
		if err != nil || got != tok {
			t.Errorf("Decode(Encode(%+v)) = %+v, %v", tok, got, err)
		}
		if _, err := other.Decode(s); err != ErrBadToken {
			t.Errorf("another key's codec read it: %v", err)
		}
	}
	if s := c.Encode(open); len(s) > 100 {
		t.Errorf("open token is %d characters: not compact", len(s))
	}
	// Swapping the URL, the account or the kind breaks the MAC.
	s := c.Encode(click)
	for _, alt := range []Token{
		{Click: true, AccountID: click.AccountID, MessageID: click.MessageID, ConfigurationSet: "news", Link: "https://evil.example.test/", Tags: click.Tags},
		{Click: true, AccountID: "999999999999", MessageID: click.MessageID, ConfigurationSet: "news", Link: click.Link, Tags: click.Tags},
	} {
		forged := c.Encode(alt)
		if forged == s {
			t.Fatal("different tokens encode the same")
		}
		// Splice the other token's payload with this one's MAC.
		if _, err := c.Decode(forged[:len(forged)-22] + s[len(s)-22:]); err != ErrBadToken {
			t.Errorf("spliced token read: %v", err)
		}
	}
	for _, bad := range []string{"", "x", "!!!!", strings.Repeat("A", MaxTokenLen+1), s[:len(s)-1], s + "A"} {
		if _, err := c.Decode(bad); err != ErrBadToken {
			t.Errorf("Decode(%.20q) = %v", bad, err)
		}
	}
}

func FuzzToken(f *testing.F) {
	c := testCodec(f)
	f.Add(c.Encode(Token{AccountID: "1", MessageID: "m", ConfigurationSet: "s"}))
	f.Add(c.Encode(Token{Click: true, AccountID: "1", MessageID: "m", ConfigurationSet: "s", Link: "https://a.test/", Tags: "a:b"}))
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := c.Decode(s)
		if err != nil {
			return
		}
		// Only genuine tokens read, and they read back the same.
		if again := c.Encode(tok); again != s {
			t.Fatalf("Decode(%q) = %+v, which encodes as %q", s, tok, again)
		}
	})
}
