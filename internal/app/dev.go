package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/authdns"
	"github.com/sesame-email/sesame/internal/capture"
	"github.com/sesame-email/sesame/internal/config"
	"github.com/sesame-email/sesame/internal/devdns"
	sesdns "github.com/sesame-email/sesame/internal/dns"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/sigv4"
)

// The fixed settings of `sesame dev`. The access key is public: the
// development account is for local use only, and every listener of
// `sesame dev` is bound to 127.0.0.1.
const (
	DevDefaultPort     = 7700
	DevAccountName     = "dev"
	DevAccessKeyID     = "AKIASESAMEDEVLOCAL01"
	DevSecretAccessKey = "SesameDevSecretForLocalUseOnly0000000000"
	DevRegion          = "us-east-1"
	DevServiceDomain   = "sesame.localhost"
	// DevCaptureHost is the MX host the development DNS gives every
	// recipient domain: the capture MX (RFC 6761: .localhost names are
	// loopback).
	DevCaptureHost = "capture.localhost"
	// DevDataDir is where the state is kept unless --memory.
	DevDataDir = "./sesame-dev"
	// DevCheckInterval is the checker's interval in dev: identities
	// verify within seconds.
	DevCheckInterval = 2 * time.Second
)

// The listeners of `sesame dev`, as offsets from its port N.
const (
	devAPI      = 0 // SES v1, v2 and SNS over HTTP
	devSMTP     = 1 // SMTP submission, STARTTLS
	devSMTPS    = 2 // SMTP submission, implicit TLS
	devDNS      = 3 // the development DNS (UDP and TCP)
	devFeedback = 4 // the feedback MX
	devCapture  = 5 // the capture MX
	// DevPorts is how many ports from N `sesame dev` uses.
	DevPorts = 6
)

// DevOptions configure Dev.
type DevOptions struct {
	// Port is N: the API's port, the others follow (see DevPorts); 0
	// means DevDefaultPort.
	Port int
	// DataDir holds the SQLite database; "" means DevDataDir. Ignored
	// with Memory.
	DataDir string
	// Memory keeps the state in a temporary directory removed at exit.
	Memory bool
	// Out receives the settings to paste and one line per captured
	// message.
	Out io.Writer
	// Logger; nil: warnings and errors to stderr.
	Logger *slog.Logger
	// Ready, if not nil, is told the settings once every listener is up.
	Ready func(DevSettings)
	// Now is the clock of the captured messages' times; nil: time.Now.
	Now func() time.Time
}

// DevSettings are what a client of `sesame dev` needs.
type DevSettings struct {
	Endpoint            string // http://127.0.0.1:N
	AccessKeyID, Secret string
	Region              string
	SMTPHost            string
	SMTPPort, SMTPSPort int
	SMTPUser            string
	SMTPPassword        string
	DNS                 string // host:port of the development DNS
	Capture             string // host:port of the capture MX
	DataDir             string // the state's directory
	Memory              bool   // DataDir is temporary, removed at exit
	// App is the running Sesame (tests reach its stores through it).
	App *App
	// Captured are the captured messages.
	Captured *capture.Store
	// AccountID is the development account's.
	AccountID string
}

// DevConfig is the configuration `sesame dev` runs Sesame with: every
// listener on 127.0.0.1 from port o.Port, the development DNS as the
// resolver, the capture MX as every recipient's MX, a short check
// interval, the service SPF record authorising 127.0.0.1. The rest are
// serve's defaults (environment variables are not read: no configuration).
func DevConfig(o DevOptions, dataDir string) (config.Config, error) {
	var cfg config.Config
	fs := cfg.FlagSet("sesame dev", config.ScopeServe, io.Discard)
	if err := fs.Parse(nil); err != nil {
		return cfg, err
	}
	n, err := o.port()
	if err != nil {
		return cfg, err
	}
	at := func(off int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n+off)) }
	loopback := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	cfg.APIAddr, cfg.SMTPAddr, cfg.SMTPSAddr, cfg.DNSAddr, cfg.FeedbackAddr = at(devAPI), at(devSMTP), at(devSMTPS), at(devDNS), at(devFeedback)
	cfg.APITLSAddr = "off"
	cfg.PublicURL = "http://" + at(devAPI)
	cfg.DataDir, cfg.DatabaseURL = dataDir, ""
	cfg.Region, cfg.ServiceDomain = DevRegion, DevServiceDomain
	cfg.Resolver = at(devDNS)
	cfg.OutboundPort = n + devCapture
	cfg.Relay = ""
	cfg.CheckInterval = DevCheckInterval
	cfg.SPFIPs, cfg.FeedbackIPs, cfg.NameServerIPs = loopback, loopback, loopback
	cfg.SNSAllowPrivateEndpoints = true // webhooks of a local app are on loopback
	return cfg, cfg.Validate()
}

// Dev runs `sesame dev` until ctx ends: Sesame with DevConfig, the
// development account, the development DNS and the capture MX.
func Dev(ctx context.Context, o DevOptions) error {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	n, err := o.port()
	if err != nil {
		return err
	}
	dir := o.DataDir
	if o.Memory {
		tmp, err := os.MkdirTemp("", "sesame-dev-*")
		if err != nil {
			return fmt.Errorf("--memory: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if dir == "" {
		dir = DevDataDir
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	cfg, err := DevConfig(o, dir)
	if err != nil {
		return err
	}
	a, err := Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	acct, err := a.devAccount(ctx)
	if err != nil {
		return err
	}
	store, err := capture.NewStore(capture.StoreOptions{DB: a.DB, Now: o.Now})
	if err != nil {
		return err
	}
	a.devCaptured = store
	resolver := &sesdns.Client{Servers: []string{cfg.Resolver}}
	goResolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, cfg.Resolver)
	}}
	var printMu sync.Mutex
	mx, err := capture.NewServer(capture.ServerOptions{
		Hostname: DevCaptureHost,
		Verifier: &capture.Verifier{Resolver: resolver, SPF: goResolver},
		Store:    store,
		Sent: func(ctx context.Context, id string) (string, bool, error) {
			m, err := a.Queue.Lookup(ctx, id)
			switch {
			case err == nil:
				return m.AccountID, true, nil
			case errors.Is(err, queue.ErrNotFound):
				return "", false, nil
			default:
				return "", false, err
			}
		},
		Captured: func(m *capture.Message) {
			printMu.Lock()
			defer printMu.Unlock()
			fmt.Fprintln(o.Out, CapturedLine(m))
		},
		Logger: log.With("component", "capture"),
	})
	if err != nil {
		return err
	}
	captureAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.OutboundPort))
	ln, err := net.Listen("tcp", captureAddr)
	if err != nil {
		return fmt.Errorf("capture MX: %w", err)
	}
	a.devDNS = func(ds *authdns.Server) (func(context.Context, string, func(string)) error, error) {
		s, err := devdns.New(devdns.Options{Zone: cfg.ServiceDomain, Service: ds, CaptureHost: DevCaptureHost,
			CaptureIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
			Records:    func(ctx context.Context) ([]devdns.Record, error) { return a.devRecords(ctx, acct.ID) },
			Logger:     log.With("component", "devdns")})
		if err != nil {
			return nil, err
		}
		return s.ListenAndServe, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	mxDone := make(chan error, 1)
	go func() { mxDone <- mx.Serve(ctx, ln) }()
	settings := DevSettings{
		Endpoint: cfg.PublicURL, AccessKeyID: DevAccessKeyID, Secret: DevSecretAccessKey, Region: cfg.Region,
		SMTPHost: "127.0.0.1", SMTPPort: n + devSMTP, SMTPSPort: n + devSMTPS,
		SMTPUser: DevAccessKeyID, SMTPPassword: sigv4.SMTPPassword(DevSecretAccessKey, cfg.Region),
		DNS: cfg.Resolver, Capture: captureAddr, App: a, Captured: store, AccountID: acct.ID,
	}
	settings.DataDir, settings.Memory = dir, o.Memory
	err = a.Serve(ctx, func(Ready) {
		printMu.Lock()
		WriteDevSettings(o.Out, settings)
		printMu.Unlock()
		if o.Ready != nil {
			o.Ready(settings)
		}
	})
	cancel()
	if mxErr := <-mxDone; err == nil && mxErr != nil {
		err = fmt.Errorf("capture MX: %w", mxErr)
	}
	return err
}

// port is N, checked.
func (o DevOptions) port() (int, error) {
	n := cmp.Or(o.Port, DevDefaultPort)
	if n < 1 || n+DevPorts-1 > 65535 {
		return 0, fmt.Errorf("--port %d: use 1 to %d (sesame dev uses %d ports from it)", n, 65535-DevPorts+1, DevPorts)
	}
	return n, nil
}

// devAccount returns the development account, creating it, or restoring
// (or activating again) its fixed key, as needed; it is out of the sandbox with generous quotas.
func (a *App) devAccount(ctx context.Context) (*account.Account, error) {
	acct, err := a.Accounts.Find(ctx, DevAccountName)
	switch {
	case errors.Is(err, account.ErrNotFound):
		acct, _, err = a.Accounts.Create(ctx, account.CreateOptions{Name: DevAccountName, AccessKeyID: DevAccessKeyID, SecretAccessKey: DevSecretAccessKey})
		if err != nil {
			return nil, fmt.Errorf("development account: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("development account: %w", err)
	default:
		if _, owner, err := a.Accounts.Secret(ctx, DevAccessKeyID); err != nil || owner != acct.ID {
			// Deactivated (serve asks for that, refuseDevKey): active again.
			err := a.Accounts.SetKeyActive(ctx, acct.ID, DevAccessKeyID, true)
			if errors.Is(err, account.ErrUnknownKey) {
				_, err = a.Accounts.AddKey(ctx, acct.ID, DevAccessKeyID, DevSecretAccessKey)
			}
			if err != nil {
				return nil, fmt.Errorf("development account's key: %w", err)
			}
		}
	}
	if err := a.Accounts.SetProduction(ctx, acct.ID, -1, 1000); err != nil {
		return nil, fmt.Errorf("development account: %w", err)
	}
	return a.Accounts.Get(ctx, acct.ID)
}

// devRecords are the records Sesame asks the development account to
// publish for its identities (identity.Store.Records), for the
// development DNS.
func (a *App) devRecords(ctx context.Context, accountID string) ([]devdns.Record, error) {
	var out []devdns.Record
	after := ""
	for {
		ids, more, err := a.Identities.List(ctx, accountID, identity.ListOptions{After: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, i := range ids {
			recs, err := a.Identities.Records(ctx, i)
			if err != nil {
				return nil, err
			}
			for _, r := range recs {
				out = append(out, devdns.Record{Name: r.Name, Type: r.Type, Value: r.Value, Priority: r.Priority})
			}
			after = i.Name
		}
		if !more {
			return out, nil
		}
	}
}

// WriteDevSettings writes what `sesame dev` prints at start: the lines to
// paste, the SMTP settings and the console's address.
//
// The console is signed into with the printed access key ID and secret,
// not a one-time sign-in link: those credentials are fixed and public
// already (they sign API requests from any local process), so a link
// would protect nothing more, while it would add a second credential that
// travels in URLs (browser history, terminal scrollback) and code to get
// right. Every listener is on 127.0.0.1.
func WriteDevSettings(w io.Writer, s DevSettings) {
	state := s.DataDir + " (SQLite, kept between runs)"
	if s.Memory {
		state = "in memory (a temporary directory, removed at exit)"
	}
	fmt.Fprintf(w, `Sesame dev: a local SES on 127.0.0.1, for local use only (the credentials below are public).

Paste into your shell:
  export AWS_ENDPOINT_URL_SES=%[1]s
  export AWS_ENDPOINT_URL_SESV2=%[1]s
  export AWS_ENDPOINT_URL_SNS=%[1]s
  export AWS_ACCESS_KEY_ID=%[2]s
  export AWS_SECRET_ACCESS_KEY=%[3]s
  export AWS_REGION=%[4]s
  export AWS_DEFAULT_REGION=%[4]s

SMTP      host %[5]s, port %[6]d (STARTTLS) or %[7]d (TLS), self-signed certificate
          user %[8]s
          password %[9]s
DNS       %[10]s answers for your identities' domains: they verify within seconds
Capture   %[11]s takes every message instead of its recipients' servers
State     %[12]s
Console   %[1]s/console/
          sign in with the access key ID and secret above; every captured
          message is there whole under "Captured mail"

Captured mail, one line per message:
`, s.Endpoint, s.AccessKeyID, s.Secret, s.Region, s.SMTPHost, s.SMTPPort, s.SMTPSPort, s.SMTPUser, s.SMTPPassword, s.DNS, s.Capture, state)
}

// CapturedLine is the line `sesame dev` prints for a captured message.
func CapturedLine(m *capture.Message) string {
	from := m.From
	if from == "" {
		from = "<" + m.MailFrom + ">"
	}
	return fmt.Sprintf("%s  from %s  to %s  subject %q  %s", m.ReceivedAt.Local().Format("15:04:05"), from, strings.Join(m.Recipients, ", "), m.Subject, m.Verdicts)
}

// refuseDevKey keeps `sesame serve` from running with the development
// account's access key active: its secret is public (every `sesame dev`
// prints it), and serve's listeners are not only on loopback, so serving
// a database `sesame dev` made would let anyone send as that account.
func (a *App) refuseDevKey(ctx context.Context) error {
	secret, accountID, err := a.Accounts.Secret(ctx, DevAccessKeyID)
	switch {
	case errors.Is(err, account.ErrUnknownKey):
		return nil // absent or inactive
	case err != nil:
		return err
	case secret != DevSecretAccessKey:
		return nil // an operator's own key under that id: not the public one
	}
	return fmt.Errorf("access key %s of account %s is the public key of 'sesame dev' (its secret is printed by every sesame dev): "+
		"serve does not run with it active; deactivate it ('sesame account keys %s --deactivate %s') or remove it first",
		DevAccessKeyID, accountID, accountID, DevAccessKeyID)
}
