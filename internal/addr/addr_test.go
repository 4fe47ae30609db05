package addr

import (
	"errors"
	"strings"
	"testing"
)

func TestDomain(t *testing.T) {
	ok := []struct{ in, want string }{
		{"example.com", "example.com"},
		{"Example.COM.", "example.com"},
		{"bounce.mail.example.test", "bounce.mail.example.test"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"BÜCHER.example", "xn--bcher-kva.example"},
		{"a-b.c-d.example", "a-b.c-d.example"},
		{strings.Repeat("a", 63) + ".example", strings.Repeat("a", 63) + ".example"},
	}
	for _, c := range ok {
		got, err := Domain(c.in)
		if err != nil || got != c.want {
			t.Errorf("Domain(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	long := strings.Repeat(strings.Repeat("a", 60)+".", 4) + "example" // 251 chars
	if _, err := Domain(long); err != nil {
		t.Errorf("Domain(251 chars) = %v", err)
	}
	bad := []struct{ in, rule string }{
		{"", "empty"},
		{"example", "two labels"},
		{"exa mple.com", "only letters"},
		{"-a.example", "hyphen"},
		{"a-.example", "hyphen"},
		{"a..example", "empty labels"},
		{".example.com", "empty labels"},
		{"ex_ample.com", "contains"},
		{strings.Repeat("a", 64) + ".example", "longer than 63"},
		{strings.Repeat(strings.Repeat("a", 62)+".", 4) + "example", "at most 253"},
		{"example.123", "all digits"},
		{"a@b.example", "only letters"},
		{"xn--a.example", "internationalised"},
	}
	for _, c := range bad {
		_, err := Domain(c.in)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.rule) {
			t.Errorf("Domain(%q) error = %v; want one mentioning %q", c.in, err, c.rule)
		}
	}
}

func TestParseAddress(t *testing.T) {
	a, err := ParseAddress("Jane.Doe+tag@Bücher.Example")
	if err != nil || a.Local != "Jane.Doe+tag" || a.Domain != "xn--bcher-kva.example" || a.String() != "Jane.Doe+tag@xn--bcher-kva.example" {
		t.Fatalf("ParseAddress = %+v, %v", a, err)
	}
	bad := []struct{ in, rule string }{
		{"nobody", "needs an @"},
		{"nobody@", "domain after"},
		{"@example.com", "local part"},
		{"a b@example.com", "not allowed"},
		{".a@example.com", "dot"},
		{"a..b@example.com", "dot"},
		{strings.Repeat("x", 65) + "@example.com", "64"},
		{"a@example", "two labels"},
		{"ü@example.com", "not allowed"},
	}
	for _, c := range bad {
		_, err := ParseAddress(c.in)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.rule) {
			t.Errorf("ParseAddress(%q) error = %v; want one mentioning %q", c.in, err, c.rule)
		}
	}
}

func TestIsSubdomain(t *testing.T) {
	cases := []struct {
		child, parent string
		want          bool
	}{
		{"bounce.example.com", "example.com", true},
		{"a.b.example.com", "example.com", true},
		{"example.com", "example.com", false},
		{"badexample.com", "example.com", false},
		{"example.org", "example.com", false},
	}
	for _, c := range cases {
		if got := IsSubdomain(c.child, c.parent); got != c.want {
			t.Errorf("IsSubdomain(%q, %q) = %v", c.child, c.parent, got)
		}
	}
}

func FuzzDomain(f *testing.F) {
	for _, s := range []string{"example.com", "bücher.example", "a..b", "-x.y", "xn--a.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Domain(s)
		if err != nil {
			return
		}
		// A valid result is stable and within the limits.
		if d2, err := Domain(d); err != nil || d2 != d {
			t.Fatalf("Domain(%q) = %q, but Domain(%q) = %q, %v", s, d, d, d2, err)
		}
		if len(d) > MaxDomainLength || strings.ToLower(d) != d {
			t.Fatalf("Domain(%q) = %q breaks the rules", s, d)
		}
	})
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"a@example.com", "x+y@bücher.example", "@", "a@@b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		if b, err := ParseAddress(a.String()); err != nil || b != a {
			t.Fatalf("ParseAddress(%q) = %v, reparse = %v, %v", s, a, b, err)
		}
	})
}
