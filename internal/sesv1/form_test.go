package sesv1

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecode(t *testing.T) {
	raw := "Action=SendEmail&Version=2010-12-01&Source=a%40example.com" +
		"&Destination.ToAddresses.member.2=c%40example.org&Destination.ToAddresses.member.10=d%40example.org" +
		"&Destination.ToAddresses.member.1=b%40example.org&Destination.CcAddresses=" +
		"&Message.Subject.Data=Hi+there&Message.Body.Text.Data=a%26b%3Dc" +
		"&Tags.member.1.Name=campaign&Tags.member.1.Value=spring&Tags.member.2.Name=k&Tags.member.2.Value=" +
		"&&Source=ignored&=nameless"
	f, err := decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"Action":                 "SendEmail",
		"Source":                 "a@example.com", // the first of two wins
		"Message.Subject.Data":   "Hi there",
		"Message.Body.Text.Data": "a&b=c",
	} {
		if got, ok := f.get(name); !ok || got != want {
			t.Errorf("get(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
	if _, ok := f.get("Message.Subject"); ok {
		t.Error("get(Message.Subject) found a value for a structure")
	}
	if _, ok := f.get("Missing"); ok {
		t.Error("get(Missing) found a value")
	}

	to, ok, err := f.stringList("Destination.ToAddresses")
	if err != nil || !ok {
		t.Fatalf("ToAddresses: %v, %v", ok, err)
	}
	if diff := cmp.Diff([]string{"b@example.org", "c@example.org", "d@example.org"}, to); diff != "" {
		t.Errorf("ToAddresses in numeric order (-want +got):\n%s", diff)
	}
	cc, ok, err := f.stringList("Destination.CcAddresses")
	if err != nil || !ok || cc == nil || len(cc) != 0 {
		t.Errorf("empty list: %#v, %v, %v; want [], true, nil", cc, ok, err)
	}
	if l, ok, err := f.stringList("Destination.BccAddresses"); l != nil || ok || err != nil {
		t.Errorf("absent list: %#v, %v, %v", l, ok, err)
	}

	tags, ok, err := f.items("Tags")
	if err != nil || !ok || len(tags) != 2 {
		t.Fatalf("Tags: %d, %v, %v", len(tags), ok, err)
	}
	var got [][2]string
	for _, tg := range tags {
		n, _ := tg.get("Name")
		v, _ := tg.get("Value")
		got = append(got, [2]string{n, v})
	}
	if diff := cmp.Diff([][2]string{{"campaign", "spring"}, {"k", ""}}, got); diff != "" {
		t.Errorf("Tags (-want +got):\n%s", diff)
	}

	msg := f.sub("Message.Body")
	if d, ok := msg.get("Text.Data"); !ok || d != "a&b=c" {
		t.Errorf("sub(Message.Body).get(Text.Data) = %q, %v", d, ok)
	}
	if f.sub("Nothing") != nil {
		t.Error("sub of an absent prefix is not nil")
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, raw := range []string{
		"Action=%zz",
		"Act%2ion=x",
		strings.Repeat("a", maxKeyLength+1) + "=x",
		strings.Repeat("a=1&", maxParams+1),
	} {
		if _, err := decode(raw); !errors.Is(err, errMalformed) {
			t.Errorf("decode(%.40q…) = %v; want errMalformed", raw, err)
		}
	}
}

func TestListErrors(t *testing.T) {
	for _, raw := range []string{
		"L=value",
		"L.member.0=a",
		"L.member.01=a",
		"L.member.x=a",
		"L.member.-1=a",
		"L.member.10001=a",
		"L.member.99999999999999999999=a",
		"L=x&L.member.1=a",
		"L.member.1.Name=a",
		"L.other=a",
	} {
		f, err := decode(raw)
		if err != nil {
			t.Fatalf("decode(%q): %v", raw, err)
		}
		var le *listError
		if _, ok, err := f.stringList("L"); !ok || !errors.As(err, &le) {
			t.Errorf("stringList on %q = %v, %v; want a listError", raw, ok, err)
		}
	}
}

// FuzzDecode feeds arbitrary bytes to the decoder, as an untrusted client
// can. It must never panic, and what it accepts must read back: every
// parameter's first value is found under its name, and every list
// lookup either fails cleanly or returns members in order.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"",
		"Action=ListIdentities&Version=2010-12-01&IdentityType=Domain&MaxItems=2",
		"Action=GetIdentityVerificationAttributes&Identities.member.1=example.com&Identities.member.2=a%40example.com",
		"Action=SendEmail&Destination.ToAddresses.member.1=b%40example.org&Destination.CcAddresses=&Tags.member.1.Name=n&Tags.member.1.Value=v",
		"a..b=1&.=2&a.=3&.a=4&a.member.=5&a.member.1.member.1=6",
		"x=%&y=%2&z=%zz&+=+&%2B=%2B",
		"L.member.2=b&L.member.1=a&L.member.01=c&L=",
		"a=1;b=2&c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		fm, err := decode(raw)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("decode error %v is not errMalformed", err)
			}
			return
		}
		first := map[string]string{}
		for pair := range strings.SplitSeq(raw, "&") {
			if pair == "" {
				continue
			}
			k, v, _ := strings.Cut(pair, "=")
			key, err1 := url.QueryUnescape(k)
			val, err2 := url.QueryUnescape(v)
			if err1 != nil || err2 != nil {
				t.Fatalf("decode accepted %q but its pair %q does not unescape", raw, pair)
			}
			if _, dup := first[key]; !dup && key != "" {
				first[key] = val
			}
		}
		checked := map[string]bool{}
		for k, want := range first {
			if got, ok := fm.get(k); !ok || got != want {
				t.Fatalf("get(%q) = %q, %v; want %q", k, got, ok, want)
			}
			// Every prefix may be read as a list or a structure without panicking.
			for i := 0; i <= len(k); i++ {
				if (i == len(k) || k[i] == '.') && !checked[k[:i]] {
					p := k[:i]
					checked[p] = true
					items, ok, err := fm.items(p)
					if err == nil && ok && items == nil {
						t.Fatalf("items(%q) returned nil for a list that was sent", p)
					}
					fm.stringList(p)
					if fm.sub(p) == nil && i > 0 {
						t.Fatalf("sub(%q) is nil but %q was sent", p, k)
					}
				}
			}
		}
	})
}
