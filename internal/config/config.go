// Package config owns Sesame's settings: their names, defaults and
// documentation, reading them from command-line flags with SESAME_*
// environment variables as fallbacks (a flag beats its variable, which
// beats the default), and checking them all at once.
package config

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Config is every setting of a Sesame process.
type Config struct {
	APIAddr           string
	DNSAddr           string
	FeedbackAddr      string
	FeedbackRetention time.Duration
	FeedbackTLSCert   string
	FeedbackTLSKey    string
	// SMTP submission (package smtpsubmit): SMTPAddr is the STARTTLS
	// listener, SMTPSAddr the implicit-TLS one ("" or "off" disables
	// either); without SMTPTLSCert/SMTPTLSKey a self-signed certificate
	// is made at start. The limits' zero values mean smtpsubmit's
	// defaults.
	SMTPAddr, SMTPSAddr          string
	SMTPTLSCert, SMTPTLSKey      string
	SMTPMaxMessageBytes          int64
	SMTPMaxRecipients            int
	SMTPMaxConns                 int
	SMTPMaxConnsPerIP            int
	SMTPMaxSession               time.Duration
	SMTPTimeout                  time.Duration
	SMTPDataTimeout              time.Duration
	SMTPAuthDelayAfter           int
	SMTPAuthBlockAfter           int
	SMTPAuthDelay, SMTPAuthBlock time.Duration
	SMTPMaxHeldBytes             int64
	SMTPMaxHeldPerIP             int64
	// The API's HTTPS listener: APITLSAddr "" or "off" disables it;
	// without APITLSCert/APITLSKey a self-signed certificate is made at
	// start.
	APITLSAddr  string
	APITLSCert  string
	APITLSKey   string
	DataDir     string
	DatabaseURL string
	// ImportDir is the only directory CreateImportJob reads files from
	// (--import-dir); "": import jobs are refused.
	ImportDir        string
	Region           string
	ServiceDomain    string
	Resolver         string
	MailFromWindow   time.Duration
	CheckInterval    time.Duration
	CheckConcurrency int
	SPFIPs           IPList
	FeedbackIPs      IPList
	NameServers      string
	NameServerIPs    IPList
	PublicURL        string
	OutboundPort     int
	Relay            string
	HeloName         string
	RetryWindow      time.Duration
	DeliveryWorkers  int
	DeliveryLease    time.Duration
	// SNSAllowPrivateEndpoints lets http/https subscriptions reach
	// loopback, private and link-local addresses (netguard); off, they are
	// refused at Subscribe and at every connection.
	SNSAllowPrivateEndpoints bool
	// ConsoleAdminToken, when set, signs an operator into the web console
	// (/console/) with the right to act as any account; empty: operators
	// cannot sign in, only accounts with their access keys.
	ConsoleAdminToken string
	// MetricsToken, when set, is the bearer token /metrics requires;
	// without it /metrics answers loopback clients only.
	MetricsToken string
	// MetricsMaxDimensionValues bounds the distinct values of one metrics
	// label (a CloudWatch dimension, a from-domain); 0: 1000.
	MetricsMaxDimensionValues int
	// Reputation guardrails (package reputation).
	ReputationWindow      time.Duration
	ReputationMinVolume   int64
	SetPauseBounceRate    float64
	SetPauseComplaintRate float64
	SetPauseMinVolume     int64
	MasterKey             string
	MasterKeyFile         string
	LogLevel              string
	// The API listener's limits; zero values mean the defaults below,
	// but for APIMaxConnsPerIP, where 0 means no per-address cap.
	APIMaxConns       int
	APIMaxConnsPerIP  int
	APIReadTimeout    time.Duration
	APIIdleTimeout    time.Duration
	APIMaxInFlightMiB int
}

// Defaults of the API listener's limits.
const (
	// DefaultAPIMaxConns bounds the API's open connections.
	DefaultAPIMaxConns = 1024
	// DefaultAPIMaxConnsPerIP bounds the API connections open from one
	// address (an IPv6 /64): room for a busy client's connection pool,
	// an eighth of the whole.
	DefaultAPIMaxConnsPerIP = 128
	// DefaultAPIReadTimeout bounds the reading of a whole request: a
	// 56 MiB body (a 40 MB message after base64 and JSON) still arrives at
	// 1.6 Mbit/s, a slow uplink.
	DefaultAPIReadTimeout = 5 * time.Minute
	// DefaultAPIIdleTimeout is how long a keep-alive connection may wait
	// for its next request, as an AWS load balancer's 60 s.
	DefaultAPIIdleTimeout = 60 * time.Second
	// DefaultAPITLSAddr is the API's HTTPS listener: AWS's SNS message
	// validators take only https certificate URLs.
	DefaultAPITLSAddr = ":8443"
	// DefaultAPIMaxInFlightMiB bounds the request bodies held at once.
	DefaultAPIMaxInFlightMiB = 256
)

// Defaults of the SMTP submission settings (those of package smtpsubmit,
// which config does not import).
const (
	DefaultSMTPAddr            = ":2587"
	DefaultSMTPSAddr           = ":2465"
	DefaultSMTPMaxMessageBytes = 40 * 1024 * 1024
	DefaultSMTPMaxRecipients   = 1000
	DefaultSMTPMaxConns        = 500
	DefaultSMTPMaxConnsPerIP   = 50
	DefaultSMTPMaxSession      = time.Hour
	DefaultSMTPTimeout         = 5 * time.Minute
	DefaultSMTPDataTimeout     = 10 * time.Minute
	DefaultSMTPAuthDelayAfter  = 3
	DefaultSMTPAuthBlockAfter  = 10
	DefaultSMTPAuthDelay       = time.Second
	DefaultSMTPAuthBlock       = 15 * time.Minute
	DefaultSMTPMaxHeldBytes    = 512 << 20
	DefaultSMTPMaxHeldPerIP    = 128 << 20
)

// IPList is a comma-separated list of IP addresses (a flag.Value).
type IPList []netip.Addr

func (l *IPList) String() string {
	var s []string
	for _, a := range *l {
		s = append(s, a.String())
	}
	return strings.Join(s, ",")
}

// Set parses a comma-separated list, replacing the current value.
func (l *IPList) Set(v string) error {
	*l = nil
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return fmt.Errorf("%q is not an IP address", f)
		}
		*l = append(*l, a.Unmap())
	}
	return nil
}

// Setting documents one setting.
type Setting struct {
	Flag, Env, Default, Usage string
}

// Scope says which settings a command takes.
type Scope int

// The scopes: storage settings are taken by every command; serve takes all.
const (
	ScopeStorage Scope = iota
	ScopeServe
)

// FlagSet returns a flag set bound to c, with defaults filled in.
func (c *Config) FlagSet(name string, scope Scope, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.DataDir, "data-dir", "./data", "directory of the SQLite database (used unless --database-url is set)")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL (postgres://user@host:5432/db); replaces --data-dir")
	fs.StringVar(&c.MasterKey, "master-key", "", "secret that seals DKIM private keys and access-key secrets at rest")
	fs.StringVar(&c.MasterKeyFile, "master-key-file", "", "file holding the master key (default with SQLite: <data-dir>/master.key, created on first start)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	if scope == ScopeServe {
		// The admin commands read these from the database, where serve
		// stores them, so they always match the running server.
		fs.StringVar(&c.Region, "region", "us-east-1", "the region this deployment serves (SigV4 credential scope, host names)")
		fs.StringVar(&c.ServiceDomain, "service-domain", "sesame.localhost", "the DNS zone Sesame is authoritative for (DKIM keys, feedback host, default MAIL FROM)")
		fs.StringVar(&c.PublicURL, "public-url", "", "public base URL of the API, used in verification links and SNS messages (default http://<api-addr>; in SNS messages https://<api-tls-addr> when that listener is on)")
		fs.StringVar(&c.APIAddr, "api-addr", ":8080", "address of the SES API listener (v1 Query and v2 REST-JSON)")
		fs.StringVar(&c.APITLSAddr, "api-tls-addr", DefaultAPITLSAddr, "address of the API's HTTPS listener, serving the same API and the SNS links (SigningCertURL, SubscribeURL, UnsubscribeURL) (\"off\" disables it)")
		fs.StringVar(&c.APITLSCert, "api-tls-cert", "", "PEM certificate (chain) of the API's HTTPS listener (default: a self-signed one for the --public-url host, kept in the database, with a warning)")
		fs.StringVar(&c.APITLSKey, "api-tls-key", "", "PEM private key of --api-tls-cert")
		fs.IntVar(&c.APIMaxConns, "api-max-conns", DefaultAPIMaxConns, "open connections the API holds at once; a newcomer over it closes the oldest connection that has sent nothing, is still sending a request's head or is idle, or is closed itself when all are busy")
		fs.IntVar(&c.APIMaxConnsPerIP, "api-max-conns-per-ip", DefaultAPIMaxConnsPerIP, "open API connections from one IP address (IPv6: one /64), enforced as --api-max-conns; 0: no per-address cap (raise it, or use 0, behind a proxy: every client then has its address)")
		fs.DurationVar(&c.APIReadTimeout, "api-read-timeout", DefaultAPIReadTimeout, "longest time to receive one API request, body included")
		fs.DurationVar(&c.APIIdleTimeout, "api-idle-timeout", DefaultAPIIdleTimeout, "how long an idle keep-alive API connection stays open")
		fs.IntVar(&c.APIMaxInFlightMiB, "api-max-inflight-mib", DefaultAPIMaxInFlightMiB, "MiB of request bodies the API holds at once (at least the 56 MiB body limit); requests beyond wait, then are throttled")
		fs.StringVar(&c.DNSAddr, "dns-addr", ":8053", "address of the authoritative DNS server, UDP and TCP (\"off\" disables it)")
		fs.StringVar(&c.FeedbackAddr, "feedback-addr", ":2525", "address of the feedback MX (SMTP) taking bounces and complaints, feedback-smtp.<region>.<service-domain>; port 25 in production (\"off\" disables it)")
		fs.DurationVar(&c.FeedbackRetention, "feedback-retention", 30*24*time.Hour, "how long after sending a message bounces and complaints about it are taken")
		fs.StringVar(&c.FeedbackTLSCert, "feedback-tls-cert", "", "PEM certificate (chain) for the feedback MX's STARTTLS (default: a self-signed one made at start)")
		fs.StringVar(&c.FeedbackTLSKey, "feedback-tls-key", "", "PEM private key of --feedback-tls-cert")
		fs.StringVar(&c.SMTPAddr, "smtp-addr", DefaultSMTPAddr, "address of the SMTP submission listener with STARTTLS (SES's email-smtp endpoint; port 587 in production) (\"off\" disables it)")
		fs.StringVar(&c.SMTPSAddr, "smtps-addr", DefaultSMTPSAddr, "address of the SMTP submission listener with implicit TLS (port 465 in production) (\"off\" disables it)")
		fs.StringVar(&c.SMTPTLSCert, "smtp-tls-cert", "", "PEM certificate (chain) of the SMTP submission listeners, read again on SIGHUP (default: a self-signed one made at start, with a warning)")
		fs.StringVar(&c.SMTPTLSKey, "smtp-tls-key", "", "PEM private key of --smtp-tls-cert, read again on SIGHUP")
		fs.Int64Var(&c.SMTPMaxMessageBytes, "smtp-max-message-bytes", DefaultSMTPMaxMessageBytes, "largest message SMTP submission takes, in bytes (552 beyond it; SES's limit is 40 MB)")
		fs.IntVar(&c.SMTPMaxRecipients, "smtp-max-recipients", DefaultSMTPMaxRecipients, "RCPT commands SMTP submission takes per message (452 beyond); more than 50 recipients are refused at the end of DATA with SES's reply")
		fs.IntVar(&c.SMTPMaxConns, "smtp-max-conns", DefaultSMTPMaxConns, "open SMTP submission connections, both listeners each (421 beyond)")
		fs.IntVar(&c.SMTPMaxConnsPerIP, "smtp-max-conns-per-ip", DefaultSMTPMaxConnsPerIP, "open SMTP submission connections from one client network (an IPv4 /24, an IPv6 /64) (421 beyond)")
		fs.DurationVar(&c.SMTPMaxSession, "smtp-max-session", DefaultSMTPMaxSession, "longest life of one SMTP submission connection, however busy")
		fs.DurationVar(&c.SMTPTimeout, "smtp-timeout", DefaultSMTPTimeout, "longest wait for an SMTP submission command, or for the client to read a reply")
		fs.DurationVar(&c.SMTPDataTimeout, "smtp-data-timeout", DefaultSMTPDataTimeout, "longest time to receive one message's DATA")
		fs.IntVar(&c.SMTPAuthDelayAfter, "smtp-auth-delay-after", DefaultSMTPAuthDelayAfter, "failed SMTP AUTH attempts from one address (an IPv6 /64) after which each further attempt is delayed")
		fs.IntVar(&c.SMTPAuthBlockAfter, "smtp-auth-block-after", DefaultSMTPAuthBlockAfter, "failed SMTP AUTH attempts from one address after which it is refused for --smtp-auth-block")
		fs.DurationVar(&c.SMTPAuthDelay, "smtp-auth-delay", DefaultSMTPAuthDelay, "delay of an SMTP AUTH attempt per failure beyond --smtp-auth-delay-after (at most ten times this)")
		fs.DurationVar(&c.SMTPAuthBlock, "smtp-auth-block", DefaultSMTPAuthBlock, "how long an address with --smtp-auth-block-after failed AUTH attempts is refused")
		fs.Int64Var(&c.SMTPMaxHeldBytes, "smtp-max-held-bytes", DefaultSMTPMaxHeldBytes, "bytes of messages SMTP submission holds in memory at once, both listeners together, beyond each connection's first 64 KiB; a message that finds no room within 10s gets 452 4.3.1 (the client retries)")
		fs.Int64Var(&c.SMTPMaxHeldPerIP, "smtp-max-held-per-ip", DefaultSMTPMaxHeldPerIP, "of --smtp-max-held-bytes, those from one client network (an IPv4 /24, an IPv6 /64); at least --smtp-max-message-bytes")
		fs.StringVar(&c.Resolver, "resolver", "", "DNS resolver host:port for checking customers' records (default: the system's, from /etc/resolv.conf)")
		fs.DurationVar(&c.MailFromWindow, "mail-from-window", 72*time.Hour, "how long Pending/TemporaryFailure may last before Failed")
		fs.DurationVar(&c.CheckInterval, "check-interval", 5*time.Minute, "time between two DNS checks of an identity")
		fs.IntVar(&c.CheckConcurrency, "check-concurrency", 16, "identities checked at once")
		fs.Var(&c.SPFIPs, "spf-ip", "comma-separated IPs published in the service SPF record (<service-domain> TXT v=spf1 ip4:...)")
		fs.Var(&c.FeedbackIPs, "feedback-ip", "comma-separated IPs of the feedback host feedback-smtp.<region>.<service-domain>")
		fs.StringVar(&c.NameServers, "ns", "", "comma-separated name server host names of the service domain (default ns1.<service-domain>)")
		fs.Var(&c.NameServerIPs, "ns-ip", "comma-separated IPs of in-zone name servers")
		fs.IntVar(&c.OutboundPort, "outbound-smtp-port", 25, "port of recipients' MX hosts for delivery")
		fs.StringVar(&c.ImportDir, "import-dir", "", "the only directory CreateImportJob may read contact and suppression list files from, given as file:///<path> or /<path> inside it (default off: import jobs are refused); failures files go to <data-dir>/import-failures, which must not be inside it")
		fs.StringVar(&c.Relay, "relay", "", "smart host host:port: deliver everything through it instead of looking up MX hosts")
		fs.StringVar(&c.HeloName, "helo-name", "", "EHLO name for delivery (default: <region>.<service-domain>)")
		fs.DurationVar(&c.RetryWindow, "retry-window", 14*time.Hour, "how long temporary delivery failures are retried before a bounce")
		fs.IntVar(&c.DeliveryWorkers, "delivery-workers", 16, "concurrent deliveries")
		fs.BoolVar(&c.SNSAllowPrivateEndpoints, "sns-allow-private-endpoints", false, "let SNS http/https subscriptions reach loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16, the metadata address) and other special-purpose addresses; off, such endpoints are refused at Subscribe and at every connection")
		fs.StringVar(&c.ConsoleAdminToken, "console-admin-token", "", "token that signs an operator into the web console (/console/ on the API listeners) as any account; empty: only accounts' access keys sign in")
		fs.StringVar(&c.MetricsToken, "metrics-token", "", "bearer token that /metrics requires (Authorization: Bearer <token>); without it /metrics answers loopback clients only")
		fs.IntVar(&c.MetricsMaxDimensionValues, "metrics-max-dimension-values", 1000, "distinct values one metrics label (a CloudWatch dimension, a from-domain) keeps; more are counted as \"other\", with a warning")
		fs.DurationVar(&c.ReputationWindow, "reputation-window", 7*24*time.Hour, "how far back the bounce and complaint rates of accounts and configuration sets look")
		fs.Int64Var(&c.ReputationMinVolume, "reputation-min-volume", 500, "fewest sends in --reputation-window for an account's rates to be judged")
		fs.Float64Var(&c.SetPauseBounceRate, "set-pause-bounce-rate", 0, "bounce rate (0.05 is 5%) that pauses a configuration set with ReputationMetricsEnabled and no threshold of its own; 0: off")
		fs.Float64Var(&c.SetPauseComplaintRate, "set-pause-complaint-rate", 0, "complaint rate (0.001 is 0.1%) that pauses such a configuration set; 0: off")
		fs.Int64Var(&c.SetPauseMinVolume, "set-pause-min-volume", 0, "fewest sends through a configuration set for its threshold to be judged; 0: --reputation-min-volume")
		fs.DurationVar(&c.DeliveryLease, "delivery-lease", 5*time.Minute, "how long a node holds the recipients it is delivering; a crashed node's are delivered by another (or by itself after a restart) once it expires")
	}
	return fs
}

// EnvName is the environment variable for a flag: SESAME_ and the flag
// name upper-cased with '-' as '_'.
func EnvName(flagName string) string {
	return "SESAME_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args into c: flags first, then SESAME_* variables for the
// flags not given, then Validate.
func (c *Config) Parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", EnvName(f.Name), err))
			}
		}
	})
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return c.Validate()
}

// Validate checks the settings and reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.DatabaseURL == "" && c.DataDir == "" {
		bad("--data-dir or --database-url is required")
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		bad("--database-url must be a postgres:// URL")
	}
	if c.Region != "" && !validLabel(c.Region) {
		bad("--region %q must be a DNS label such as us-east-1", c.Region)
	}
	if c.ServiceDomain != "" && !validDomain(c.ServiceDomain) {
		bad("--service-domain %q must be a domain name such as sesame.example.net", c.ServiceDomain)
	}
	for _, a := range []struct{ name, v string }{{"--api-addr", c.APIAddr}, {"--resolver", c.Resolver}, {"--relay", c.Relay}} {
		if a.v == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			bad("%s %q must be host:port", a.name, a.v)
		}
	}
	for _, a := range []struct{ name, v string }{{"--dns-addr", c.DNSAddr}, {"--feedback-addr", c.FeedbackAddr}, {"--api-tls-addr", c.APITLSAddr},
		{"--smtp-addr", c.SMTPAddr}, {"--smtps-addr", c.SMTPSAddr}} {
		if !ListenerOn(a.v) {
			continue
		}
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			bad("%s %q must be host:port or off", a.name, a.v)
		}
	}
	if c.APIAddr != "" {
		if c.MailFromWindow <= 0 {
			bad("--mail-from-window must be positive")
		}
		if c.CheckInterval <= 0 {
			bad("--check-interval must be positive")
		}
		if c.CheckConcurrency < 1 {
			bad("--check-concurrency must be at least 1")
		}
		if c.OutboundPort < 1 || c.OutboundPort > 65535 {
			bad("--outbound-smtp-port must be a port number")
		}
		if c.FeedbackRetention <= 0 {
			bad("--feedback-retention must be positive")
		} else if c.FeedbackRetention < c.RetryWindow {
			bad("--feedback-retention (%s) must be at least --retry-window (%s): a message delivered late still gets bounces", c.FeedbackRetention, c.RetryWindow)
		}
		if (c.APITLSCert == "") != (c.APITLSKey == "") {
			bad("--api-tls-cert and --api-tls-key go together")
		}
		if (c.FeedbackTLSCert == "") != (c.FeedbackTLSKey == "") {
			bad("--feedback-tls-cert and --feedback-tls-key go together")
		}
		if (c.SMTPTLSCert == "") != (c.SMTPTLSKey == "") {
			bad("--smtp-tls-cert and --smtp-tls-key go together")
		}
		if c.SMTPMaxMessageBytes < 0 || c.SMTPMaxRecipients < 0 || c.SMTPMaxConns < 0 || c.SMTPMaxConnsPerIP < 0 || c.SMTPMaxSession < 0 ||
			c.SMTPTimeout < 0 || c.SMTPDataTimeout < 0 || c.SMTPAuthDelayAfter < 0 || c.SMTPAuthBlockAfter < 0 || c.SMTPAuthDelay < 0 || c.SMTPAuthBlock < 0 ||
			c.SMTPMaxHeldBytes < 0 || c.SMTPMaxHeldPerIP < 0 {
			bad("the --smtp-* limits must not be negative")
		}
		if msg, perIP, all := cmp.Or(c.SMTPMaxMessageBytes, DefaultSMTPMaxMessageBytes), cmp.Or(c.SMTPMaxHeldPerIP, DefaultSMTPMaxHeldPerIP),
			cmp.Or(c.SMTPMaxHeldBytes, DefaultSMTPMaxHeldBytes); msg > perIP || perIP > all {
			bad("--smtp-max-message-bytes (%d) must not exceed --smtp-max-held-per-ip (%d), nor that --smtp-max-held-bytes (%d)", msg, perIP, all)
		}
		if c.SMTPAuthBlockAfter > 0 && c.SMTPAuthBlockAfter < c.SMTPAuthDelayAfter {
			bad("--smtp-auth-block-after (%d) must be at least --smtp-auth-delay-after (%d)", c.SMTPAuthBlockAfter, c.SMTPAuthDelayAfter)
		}
		if c.RetryWindow <= 0 {
			bad("--retry-window must be positive")
		}
		if c.DeliveryWorkers < 1 {
			bad("--delivery-workers must be at least 1")
		}
		if c.DeliveryLease < time.Second {
			bad("--delivery-lease must be at least 1s")
		}
		if c.ReputationWindow < time.Minute {
			bad("--reputation-window must be at least 1m")
		}
		if c.ReputationMinVolume < 1 {
			bad("--reputation-min-volume must be at least 1")
		}
		if c.SetPauseMinVolume < 0 {
			bad("--set-pause-min-volume must be 0 (--reputation-min-volume) or more")
		}
		for _, r := range []struct {
			name string
			v    float64
		}{{"--set-pause-bounce-rate", c.SetPauseBounceRate}, {"--set-pause-complaint-rate", c.SetPauseComplaintRate}} {
			if r.v < 0 || r.v > 1 {
				bad("%s %g must be between 0 and 1 (0.05 is 5%%; 0 is off)", r.name, r.v)
			}
		}
		if c.APIMaxConns < 1 {
			bad("--api-max-conns must be at least 1")
		}
		if c.APIMaxConnsPerIP < 0 {
			bad("--api-max-conns-per-ip must be 0 (no cap) or more")
		}
		if c.APIReadTimeout < time.Second {
			bad("--api-read-timeout must be at least 1s")
		}
		if c.APIIdleTimeout < 100*time.Millisecond {
			bad("--api-idle-timeout must be at least 100ms")
		}
		if c.APIMaxInFlightMiB < 1 {
			bad("--api-max-inflight-mib must be at least 1")
		}
	}
	for _, n := range c.NameServerList() {
		if !validDomain(n) {
			bad("--ns %q is not a host name", n)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("--log-level %q must be debug, info, warn or error", c.LogLevel)
	}
	return errors.Join(errs...)
}

// NameServerList returns --ns split, or nil.
func (c *Config) NameServerList() []string {
	var out []string
	for _, n := range strings.Split(c.NameServers, ",") {
		if n = strings.TrimSuffix(strings.TrimSpace(n), "."); n != "" {
			out = append(out, strings.ToLower(n))
		}
	}
	return out
}

func validLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validDomain(s string) bool {
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	labels := strings.Split(s, ".")
	if len(labels) < 2 || len(s) > 253 {
		return false
	}
	for _, l := range labels {
		if !validLabel(l) {
			return false
		}
	}
	return true
}

// ListenerOn reports whether a listener address that may be off (""
// or "off") is on.
func ListenerOn(addr string) bool { return addr != "" && addr != "off" }

// APITLSOn reports whether the API's HTTPS listener is on.
func (c *Config) APITLSOn() bool { return ListenerOn(c.APITLSAddr) }

// SNSPublicURL is the base of the URLs in SNS messages: --public-url, or
// https:// and the HTTPS listener's address when it is on, or http:// and
// the API address. Call it before the public URL is defaulted (the
// verification links' default stays http).
func (c *Config) SNSPublicURL() string {
	if c.PublicURL != "" || !c.APITLSOn() {
		return c.PublicURLOrDefault()
	}
	host, port, err := net.SplitHostPort(c.APITLSAddr)
	if err != nil {
		return "https://localhost:8443"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "https://" + net.JoinHostPort(host, port)
}

// PublicURLOrDefault is --public-url, or http:// and the API address.
func (c *Config) PublicURLOrDefault() string {
	if c.PublicURL != "" {
		return strings.TrimSuffix(c.PublicURL, "/")
	}
	host, port, err := net.SplitHostPort(c.APIAddr)
	if err != nil {
		return "http://localhost:8080"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
