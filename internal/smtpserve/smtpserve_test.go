package smtpserve

import "testing"

func TestClientNetwork(t *testing.T) {
	for ip, want := range map[string]string{
		"192.0.2.77":           "192.0.2.0/24",
		"::ffff:192.0.2.77":    "192.0.2.0/24",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2::9":      "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
		"not an address":       "not an address",
		"":                     "",
	} {
		if got := ClientNetwork(ip); got != want {
			t.Errorf("ClientNetwork(%q) = %q; want %q", ip, got, want)
		}
	}
}
