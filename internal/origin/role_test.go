package origin

import (
	"strings"
	"testing"
)

func TestRoleAddress(t *testing.T) {
	for addr, want := range map[string]string{
		"mailer-daemon@googlemail.com":             "googlemail.com",
		"MAILER-DAEMON@Yahoo.com":                  "yahoo.com",
		"postmaster+ndr@outlook.com":               "outlook.com",
		"staff@hotmail.com":                        "hotmail.com",
		"scomp@aol.net":                            "aol.net",
		"feedback@arf.mail.yahoo.com":              "arf.mail.yahoo.com",
		"complaints@email-abuse.amazonses.com":     "email-abuse.amazonses.com",
		"Abuse@Example.COM.":                       "example.com",
		"fbl@x.test":                               "x.test",
		"feedbackloop@x.test":                      "x.test",
		"arf@x.test":                               "x.test",
		"postmaster@b\u00fccher.example":           "xn--bcher-kva.example",
		"mailer-daemon+a+b@x.test":                 "x.test",
		"postmaster@x.test>":                       "x.test",
		"abuse@abuse@x.test":                       "",
		"eve@outlook.com":                          "",
		"noreply@google.com":                       "",
		"no-reply@google.com":                      "",
		"\"postmaster\"@x.test":                    "",
		"postmaster.x@x.test":                      "",
		"x+postmaster@x.test":                      "",
		"postmaster":                               "",
		"postmaster@":                              "",
		"postmaster@bad..test":                     "",
		"mailer-daemon@" + strings.Repeat("a", 64): "",
		"feedbac\u212a@x.test":                     "", // Kelvin sign: Go's ToLower makes it a k
		"compla\u0130nts@x.test":                   "", // complaİnts
		"ma\u0130ler-daemon@x.test":                "", // dotted capital I: Go's ToLower makes it an i
	} {
		d, ok := roleAddress(addr)
		if got := map[bool]string{true: d}[ok]; got != want {
			t.Errorf("roleAddress(%q) = %q, %v; want role at %q", addr, d, ok, want)
		}
	}
}

// FuzzRoleAddress: roleAddress takes the report's From and envelope
// sender, which the sender writes. It must not panic, and a role address
// must have a normalised domain and a local part from roleNames.
func FuzzRoleAddress(f *testing.F) {
	for _, s := range []string{"postmaster@x.test", "Mailer-Daemon+x@X.Test.", "a@b@c", "@", "", "staff@b\u00fccher.example", "abuse@\x00.test"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		d, ok := roleAddress(addr)
		if !ok {
			return
		}
		if n, err := normDomain(d); err != nil || n != d {
			t.Fatalf("roleAddress(%q): domain %q not normalised (%q, %v)", addr, d, n, err)
		}
		local, _, _ := strings.Cut(strings.ToLower(addr[:strings.LastIndexByte(addr, '@')]), "+")
		if !roleNames[local] || strings.ContainsFunc(local, func(r rune) bool { return r >= 0x80 }) {
			t.Fatalf("roleAddress(%q): local part %q is no role name", addr, local)
		}
	})
}
