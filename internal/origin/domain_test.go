package origin

import (
	"errors"
	"net"
	"slices"
	"testing"

	"github.com/sesame-email/sesame/internal/dns"
)

func TestSignerAliasesStaySmall(t *testing.T) {
	if got := signerAliases["google.com"]; !slices.Equal(got, []string{"googlemail.com"}) {
		t.Errorf("google.com aliases = %q", got)
	}
	if got := signerAliases["yahoodns.net"]; !slices.Equal(got, []string{"yahoo.com", "arf.mail.yahoo.com"}) {
		t.Errorf("yahoodns.net aliases = %q", got)
	}
	// Domains where anyone can have an address or a tenant must never be
	// a provider's alias.
	for p, as := range signerAliases {
		for _, a := range as {
			if a == "gmail.com" || a == "onmicrosoft.com" || a == "outlook.com" || a == "hotmail.com" {
				t.Errorf("%s has alias %s, where anybody can sign", p, a)
			}
		}
	}
	if len(signerAliases) != 2 {
		t.Errorf("%d providers in the alias table; document any new one", len(signerAliases))
	}
}

func TestNormDomain(t *testing.T) {
	for in, want := range map[string]string{
		"Recipient.Example.": "recipient.example",
		" x.test ":           "x.test",
		"_dmarc.x.test":      "_dmarc.x.test",
		"Bücher.Example":     "xn--bcher-kva.example",
	} {
		if got, err := normDomain(in); err != nil || got != want {
			t.Errorf("normDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".", "a..b", "-a.test", "a-.test", "a b.test", "[192.0.2.1]", "a\u200b\u0000.test", "a.test..", string(make([]byte, 254))} {
		if got, err := normDomain(in); err == nil {
			t.Errorf("normDomain(%q) = %q, want an error", in, got)
		}
	}
}

func TestNetErrorForSPF(t *testing.T) {
	var de *net.DNSError
	if err := netError("x.test", dns.ErrNotFound); !errors.As(err, &de) || !de.IsNotFound || de.IsTemporary {
		t.Errorf("not found: %#v", err)
	}
	if err := netError("x.test", &dns.LookupError{Name: "x.test.", Type: "TXT", Rcode: "SERVFAIL"}); !errors.As(err, &de) || de.IsNotFound || !de.IsTemporary {
		t.Errorf("SERVFAIL: %#v", err)
	}
	if err := netError("x.test", errBudget); !errors.As(err, &de) || de.IsNotFound || de.IsTemporary {
		t.Errorf("budget: %#v", err)
	}
	if netError("x.test", nil) != nil {
		t.Error("nil error mapped to an error")
	}
}
