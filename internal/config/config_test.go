package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseFlagsEnvDefaults(t *testing.T) {
	env := map[string]string{
		"SESAME_REGION":         "eu-west-1",
		"SESAME_CHECK_INTERVAL": "30s",
		"SESAME_SPF_IP":         "192.0.2.1, 2001:db8::1",
		"SESAME_API_ADDR":       "127.0.0.1:1",
	}
	var c Config
	fs := c.FlagSet("serve", ScopeServe, io.Discard)
	err := c.Parse(fs, []string{"--api-addr", "127.0.0.1:9999", "--service-domain", "mail.example.net"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.APIAddr != "127.0.0.1:9999" { // the flag beats the variable
		t.Errorf("APIAddr = %q", c.APIAddr)
	}
	if c.Region != "eu-west-1" || c.CheckInterval != 30*time.Second || c.ServiceDomain != "mail.example.net" {
		t.Errorf("config = %+v", c)
	}
	if c.MailFromWindow != 72*time.Hour || c.DataDir != "./data" || c.FeedbackAddr != ":2525" || c.FeedbackRetention != 30*24*time.Hour {
		t.Errorf("defaults not applied: %+v", c)
	}
	if c.APIMaxConns != DefaultAPIMaxConns || c.APIMaxConnsPerIP != DefaultAPIMaxConnsPerIP || c.APIReadTimeout != DefaultAPIReadTimeout || c.APIIdleTimeout != DefaultAPIIdleTimeout || c.APIMaxInFlightMiB != DefaultAPIMaxInFlightMiB {
		t.Errorf("API limits not defaulted: %+v", c)
	}
	if c.SPFIPs.String() != "192.0.2.1,2001:db8::1" {
		t.Errorf("SPFIPs = %s", c.SPFIPs.String())
	}
}

func TestValidateReportsEverything(t *testing.T) {
	var c Config
	fs := c.FlagSet("serve", ScopeServe, io.Discard)
	err := c.Parse(fs, []string{"--region", "US EAST", "--service-domain", "nodots", "--resolver", "8.8.8.8", "--check-interval", "0s", "--log-level", "loud",
		"--feedback-addr", "2525", "--feedback-retention", "0s", "--feedback-tls-cert", "cert.pem",
		"--api-max-conns", "0", "--api-max-conns-per-ip", "-1", "--api-read-timeout", "10ms", "--api-idle-timeout", "0s", "--api-max-inflight-mib", "0"}, func(string) string { return "" })
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []string{"--region", "--service-domain", "--resolver", "--check-interval", "--log-level", "--feedback-addr", "--feedback-retention", "--feedback-tls-cert",
		"--api-max-conns must", "--api-max-conns-per-ip", "--api-read-timeout", "--api-idle-timeout", "--api-max-inflight-mib"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %s", err, s)
		}
	}
	var c2 Config
	fs = c2.FlagSet("serve", ScopeServe, io.Discard)
	if err := c2.Parse(fs, nil, func(k string) string {
		if k == "SESAME_SPF_IP" {
			return "not-an-ip"
		}
		return ""
	}); err == nil || !strings.Contains(err.Error(), "SESAME_SPF_IP") {
		t.Errorf("bad env value: %v", err)
	}
}

func TestSNSPublicURL(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{APIAddr: ":8080", APITLSAddr: ":8443"}, "https://localhost:8443"},
		{Config{APIAddr: ":8080", APITLSAddr: "sns.example:443"}, "https://sns.example:443"},
		{Config{APIAddr: ":8080", APITLSAddr: "off"}, "http://localhost:8080"},
		{Config{APIAddr: ":8080", APITLSAddr: ":8443", PublicURL: "https://mail.example/"}, "https://mail.example"},
	} {
		if got := c.cfg.SNSPublicURL(); got != c.want {
			t.Errorf("%+v: SNSPublicURL = %q; want %q", c.cfg, got, c.want)
		}
	}
}

// TestSMTPHeldBytes: the submission server's memory bounds default to
// 512 MiB and 128 MiB, are read from SESAME_* variables, and a share per
// client network below the message size limit (or above the whole) is
// refused.
func TestSMTPHeldBytes(t *testing.T) {
	parse := func(args []string, env map[string]string) (Config, error) {
		var c Config
		return c, c.Parse(c.FlagSet("serve", ScopeServe, io.Discard), args, func(k string) string { return env[k] })
	}
	c, err := parse(nil, nil)
	if err != nil || c.SMTPMaxHeldBytes != 512<<20 || c.SMTPMaxHeldPerIP != 128<<20 {
		t.Fatalf("defaults: %d, %d, %v", c.SMTPMaxHeldBytes, c.SMTPMaxHeldPerIP, err)
	}
	c, err = parse(nil, map[string]string{"SESAME_SMTP_MAX_HELD_BYTES": "1073741824", "SESAME_SMTP_MAX_HELD_PER_IP": "67108864"})
	if err != nil || c.SMTPMaxHeldBytes != 1<<30 || c.SMTPMaxHeldPerIP != 64<<20 {
		t.Fatalf("from the environment: %d, %d, %v", c.SMTPMaxHeldBytes, c.SMTPMaxHeldPerIP, err)
	}
	for _, args := range [][]string{
		{"--smtp-max-held-per-ip", "1000000"},                                         // below the 40 MB message limit
		{"--smtp-max-held-bytes", "100000000", "--smtp-max-held-per-ip", "200000000"}, // above the whole
		{"--smtp-max-held-bytes", "-1"},
	} {
		if _, err := parse(args, nil); err == nil || !strings.Contains(err.Error(), "--smtp-max-held") {
			t.Errorf("%v: %v", args, err)
		}
	}
}
