// Package app is Sesame's composition root: the only package that reads
// config.Config. It opens the database, builds every component with its
// options, wires the hooks between them (a new identity wakes the DNS
// checker), runs the listeners and loops under one context, and stops
// them in order. The admin commands of the binary live here too, since
// they need the same stores.
package app

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/authdns"
	"github.com/sesame-email/sesame/internal/capture"
	"github.com/sesame-email/sesame/internal/config"
	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/connlimit"
	"github.com/sesame-email/sesame/internal/console"
	"github.com/sesame-email/sesame/internal/contact"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/deliver"
	"github.com/sesame-email/sesame/internal/dkim"
	sesdns "github.com/sesame-email/sesame/internal/dns"
	"github.com/sesame-email/sesame/internal/dnscheck"
	"github.com/sesame-email/sesame/internal/event"
	"github.com/sesame-email/sesame/internal/feedback"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/masterkey"
	"github.com/sesame-email/sesame/internal/metrics"
	"github.com/sesame-email/sesame/internal/notify"
	"github.com/sesame-email/sesame/internal/origin"
	"github.com/sesame-email/sesame/internal/publish"
	"github.com/sesame-email/sesame/internal/push"
	"github.com/sesame-email/sesame/internal/queue"
	"github.com/sesame-email/sesame/internal/reputation"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/send"
	"github.com/sesame-email/sesame/internal/sesapi"
	"github.com/sesame-email/sesame/internal/sesv1"
	"github.com/sesame-email/sesame/internal/sesv2"
	"github.com/sesame-email/sesame/internal/sns"
	"github.com/sesame-email/sesame/internal/stage"
	"github.com/sesame-email/sesame/internal/stats"
	"github.com/sesame-email/sesame/internal/suppression"
	"github.com/sesame-email/sesame/internal/template"
	"github.com/sesame-email/sesame/internal/track"
	"github.com/sesame-email/sesame/internal/unsub"
	"github.com/sesame-email/sesame/internal/verifytemplate"
)

// App is an opened Sesame: database and records, ready to serve or to
// answer admin commands.
type App struct {
	cfg         config.Config
	log         *slog.Logger
	DB          *db.DB
	Accounts    *account.Store
	Identities  *identity.Store
	Queue       *queue.Queue
	Sender      *send.Sender
	Suppression *suppression.Store
	Feedback    *feedback.Processor
	// Reputation is the reputation guard: it judges accounts' and
	// configuration sets' bounce and complaint rates after the publisher's
	// batches.
	Reputation *reputation.Guard
	// ConfigSets are the configuration sets and their event destinations.
	ConfigSets *configset.Store
	// CustomVerification is the custom verification email templates and
	// their sending (SendCustomVerificationEmail).
	CustomVerification *verifytemplate.Store
	// Templates are the email templates (v1 and v2 share them).
	Templates *template.Store
	// Contacts are the contact lists and their contacts; Imports the
	// import jobs and their worker.
	Contacts *contact.Store
	Imports  *contact.Imports
	// Unsub issues and honours the unsubscribe links of mail sent with
	// ListManagementOptions.
	Unsub *unsub.Service
	// Track rewrites tracked mail and serves its pixel and links.
	Track *track.Service
	// Topics is the SNS-compatible service; nil for admin commands (it
	// holds the signing key).
	Topics *sns.Store
	// Stats are the send statistics (GetSendStatistics,
	// BatchGetMetricData, the reputation guard's rates).
	Stats *stats.Store
	// Metrics are the Prometheus metrics served at /metrics.
	Metrics *metrics.Metrics

	mailer *notify.Mailer
	// Push is the queue of HTTP/HTTPS notifications (SNS subscriptions).
	Push *push.Queue
	// SNSPublicURL is the base of the URLs in SNS messages
	// (config.Config.SNSPublicURL): sns.Options.PublicURL.
	SNSPublicURL string

	serviceKey *dkim.Key // signs Sesame's own mail; nil for admin commands
	box        *seal.Box // the master key's: seals the API's self-signed TLS key

	mu        sync.Mutex
	checker   *dnscheck.Checker
	deliverer *deliver.Worker
	notifier  *notify.Notifier
	publisher *publish.Publisher
	judged    judged // see published
	// console is the web console, built once for both API listeners (one
	// sign-in limit per client address); see withConsole.
	consoleOnce sync.Once
	console     *console.Console
	consoleErr  error
	stages      *stage.Timer // the send path's time per stage, on /metrics

	// devDNS, set by Dev, replaces the DNS server's ListenAndServe with
	// the development DNS's, which answers the service zone through the
	// authoritative server it is given.
	devDNS func(*authdns.Server) (func(ctx context.Context, addr string, started func(string)) error, error)
	// devCaptured, set by Dev, is the captured mail the console shows.
	devCaptured *capture.Store
}

// Open opens the database (migrating it, once a master key check it
// already holds has passed) and builds the records.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	opts := db.Options{URL: cfg.DatabaseURL, Logger: log}
	if cfg.DatabaseURL == "" {
		opts.DataDir = cfg.DataDir
	}
	opts.BeforeMigrate = func(ctx context.Context, d *db.DB) error {
		return masterkey.CheckBeforeMigrate(ctx, d, masterKeyOptions(cfg, log, d))
	}
	d, err := db.Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	return OpenDB(cfg, log, d)
}

// OpenDB builds an App over an open database, which it takes over (Close
// closes it).
func OpenDB(cfg config.Config, log *slog.Logger, d *db.DB) (a *App, err error) {
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	box, err := masterkey.Open(context.Background(), d, masterKeyOptions(cfg, log, d))
	if err != nil {
		return nil, err
	}
	snsURL := cfg.SNSPublicURL() // before the public URL's http default
	if err = deploymentSettings(context.Background(), d, &cfg, log); err != nil {
		return nil, err
	}
	a = &App{cfg: cfg, log: log, DB: d, Accounts: account.New(d, box, nil), SNSPublicURL: snsURL, box: box, stages: &stage.Timer{}}
	a.Templates = template.NewStore(d, nil)
	if cfg.APIAddr != "" {
		if a.serviceKey, err = serviceKey(context.Background(), d, box); err != nil {
			d.Close()
			return nil, err
		}
	}
	a.Queue, err = queue.New(queue.Options{DB: d, Notify: a.kickDelivery})
	if err != nil {
		return nil, err
	}
	serviceDomain := strings.ToLower(strings.TrimSuffix(cfg.ServiceDomain, "."))
	// Verification mail is queued with the change that issues its link,
	// within the account's quota and rate (the Sender's, built below).
	mailer, err := notify.NewMailer(notify.MailerOptions{Queue: a.Queue, Region: cfg.Region, ServiceDomain: serviceDomain, Sign: a.signSystem})
	if err != nil {
		return nil, err
	}
	a.Identities, err = identity.New(identity.Options{
		DB: d, Seal: box, Region: cfg.Region, ServiceDomain: serviceDomain,
		Logger:    log.With("component", "identity"),
		VerifyURL: cfg.PublicURL,
		Changed:   a.kick,
		Mail:      mailer.QueueTx,
		Admit: func(ctx context.Context, accountID string, n int) (func(bool), error) {
			return a.Sender.Admit(ctx, accountID, n)
		},
	})
	if err != nil {
		return nil, err
	}
	a.Suppression, err = suppression.New(suppression.Options{DB: d})
	if err != nil {
		return nil, err
	}
	if err = a.openEvents(d, box, mailer, a.Identities.ServiceDomain()); err != nil {
		return nil, err
	}
	if err = a.openContacts(d, cfg, box, snsURL); err != nil {
		return nil, err
	}
	if err = a.openTracking(d, box, snsURL); err != nil {
		return nil, err
	}
	a.Sender, err = send.New(send.Options{Identities: a.Identities, Accounts: a.Accounts, Queue: a.Queue,
		Region: cfg.Region, ServiceDomain: a.Identities.ServiceDomain(), Logger: log.With("component", "send"),
		Suppressed: a.Suppression.Suppressed, ConfigurationSet: a.ConfigSets.Get, Stages: a.stages, Lists: a.Unsub.Lists(),
		Track: a.Track.Rewrite})
	if err != nil {
		return nil, err
	}
	a.CustomVerification, err = verifytemplate.New(verifytemplate.Options{DB: d, Identities: a.Identities, Accounts: a.Accounts, Sender: a.Sender,
		Logger: log.With("component", "verifytemplate")})
	if err != nil {
		return nil, err
	}
	a.mailer = mailer
	ro := reputation.Options{DB: d, Logger: log.With("component", "reputation"),
		Window: cfg.ReputationWindow, MinVolume: cfg.ReputationMinVolume, SetMinVolume: cfg.SetPauseMinVolume,
		SetBounceRate: cfg.SetPauseBounceRate, SetComplaintRate: cfg.SetPauseComplaintRate,
		PauseAccount:  func(ctx context.Context, id string) error { return a.Accounts.SetSendingEnabled(ctx, id, false) },
		ResumeAccount: func(ctx context.Context, id string) error { return a.Accounts.SetSendingEnabled(ctx, id, true) },
		Notify:        a.notifyOwner,
	}
	a.reputationHooks(&ro)
	if a.Reputation, err = reputation.New(ro); err != nil {
		return nil, err
	}
	if a.publisher, err = a.newPublisher(); err != nil {
		return nil, err
	}
	a.Feedback, err = feedback.NewProcessor(feedback.Options{DB: d, Queue: a.Queue, Region: cfg.Region, ServiceDomain: a.Identities.ServiceDomain(),
		Logger:     log.With("component", "feedback"),
		Suppress:   a.suppress,
		Forwarding: a.feedbackForwarding,
		Sign:       a.signSystem,
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// masterKeyOptions says where the master key of cfg comes from, for the
// database d.
func masterKeyOptions(cfg config.Config, log *slog.Logger, d *db.DB) masterkey.Options {
	mk := masterkey.Options{Key: cfg.MasterKey, File: cfg.MasterKeyFile, Sealed: sealedSamples(d), Logger: log}
	if cfg.DatabaseURL == "" {
		mk.DefaultFile = filepath.Join(cfg.DataDir, "master.key")
	}
	return mk
}

// serviceDKIMSelector is the selector of the key Sesame signs its own mail
// with: d=<service domain>, published by the DNS server at
// sesame._domainkey.<service domain>.
const serviceDKIMSelector = "sesame"

// serviceKeySetting is the settings row of the service DKIM key, sealed
// with itself as the additional data.
const serviceKeySetting = "service_dkim_key"

// serviceKey returns the service domain's DKIM key, creating it (RSA-2048,
// sealed in the settings table) on the first start; the first node of a
// cluster to start makes it for all.
func serviceKey(ctx context.Context, d *db.DB, box *seal.Box) (*dkim.Key, error) {
	const name = serviceKeySetting
	aad := []byte(name)
	v, ok, err := d.Setting(ctx, name)
	if err != nil {
		return nil, err
	}
	if !ok {
		k, err := dkim.Generate(dkim.RSA, 2048)
		if err != nil {
			return nil, err
		}
		der, err := k.MarshalPrivate()
		if err != nil {
			return nil, err
		}
		if v, err = d.InitSetting(ctx, name, base64.StdEncoding.EncodeToString(box.Seal(der, aad))); err != nil {
			return nil, err
		}
	}
	sealed, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("service DKIM key: %w", err)
	}
	der, err := box.Open(sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("service DKIM key (is this the master key it was sealed with?): %w", err)
	}
	return dkim.ParsePrivate(der)
}

// sealedSamples returns values sealed in d, for masterkey.Options.Sealed:
// first the service DKIM key, which only serve seals (so only with the
// server's key), then every access key's secret, which admin commands
// seal too (before key checks, possibly with a key file of their own).
// Identities' DKIM keys are sealed by the server alone.
func sealedSamples(d *db.DB) func(ctx context.Context) ([]seal.Sealed, error) {
	return func(ctx context.Context) ([]seal.Sealed, error) {
		var out []seal.Sealed
		v, ok, err := d.Setting(ctx, serviceKeySetting)
		if err != nil {
			return nil, err
		}
		if b, err := base64.StdEncoding.DecodeString(v); ok && err == nil {
			out = append(out, seal.Sealed{What: "the service DKIM key", Value: b, AAD: []byte(serviceKeySetting)})
		}
		keys, err := account.SealedSecrets(ctx, d)
		return append(out, keys...), err
	}
}

// signSystem DKIM-signs Sesame's own mail with the service domain's key
// (d=<service domain>); without one (admin commands) it returns msg.
func (a *App) signSystem(msg []byte) ([]byte, error) {
	if a.serviceKey == nil {
		return msg, nil
	}
	return dkim.Sign(msg, []dkim.Signer{{Domain: a.Identities.ServiceDomain(), Selector: serviceDKIMSelector, Key: a.serviceKey}}, dkim.SignOptions{})
}

// suppress is the feedback processor's suppression: the account's list,
// for the reasons of the configuration set the message was sent with when
// its SuppressionOptions override the account's (a deleted set no longer
// does).
func (a *App) suppress(ctx context.Context, tx *db.Tx, accountID, set, address string, reason suppression.Reason, messageID, feedbackID string) (bool, error) {
	var reasons []string
	if set != "" {
		st, err := configset.GetIn(ctx, tx, accountID, set)
		switch {
		case err == nil:
			reasons = st.SuppressedReasons
		case !errors.Is(err, configset.ErrNotFound):
			return false, err
		}
	}
	return a.Suppression.Record(ctx, tx, accountID, address, reason, messageID, feedbackID, reasons)
}

// feedbackForwarding reports whether the identity mails bounces and
// complaints to the sender; a deleted identity does not.
func (a *App) feedbackForwarding(ctx context.Context, q db.Querier, accountID, name string) (bool, error) {
	i, err := a.Identities.GetIn(ctx, q, accountID, name)
	if errors.Is(err, identity.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return i.FeedbackForwarding, nil
}

// The deployment settings serve stores for the admin commands.
var settings = []struct {
	name string
	get  func(*config.Config) *string
	def  string
}{
	{"region", func(c *config.Config) *string { return &c.Region }, "us-east-1"},
	{"service_domain", func(c *config.Config) *string { return &c.ServiceDomain }, "sesame.localhost"},
	{"public_url", func(c *config.Config) *string { return &c.PublicURL }, ""},
}

// deploymentSettings fills the region, service domain and public URL: a
// server (APIAddr set) stores its own, warning when they change what an
// earlier start published; an admin command reads what the server stored.
func deploymentSettings(ctx context.Context, d *db.DB, cfg *config.Config, log *slog.Logger) error {
	serving := cfg.APIAddr != ""
	if serving && cfg.PublicURL == "" {
		cfg.PublicURL = cfg.PublicURLOrDefault()
	}
	for _, s := range settings {
		v := s.get(cfg)
		stored, ok, err := d.Setting(ctx, s.name)
		if err != nil {
			return err
		}
		switch {
		case serving:
			if ok && stored != *v && s.name != "public_url" {
				log.Warn("deployment setting changed since the last start: customers' DNS records that name the old value stop working", "setting", s.name, "was", stored, "now", *v)
			}
			if err := d.SetSetting(ctx, s.name, *v); err != nil {
				return err
			}
		case ok:
			*v = stored
		default:
			*v = s.def
		}
	}
	return nil
}

// Close closes the database.
func (a *App) Close() error { return a.DB.Close() }

func (a *App) kick() {
	a.mu.Lock()
	c, n := a.checker, a.notifier
	a.mu.Unlock()
	if c != nil {
		c.Kick()
	}
	if n != nil {
		n.Kick()
	}
	a.kickDelivery() // a change may have queued a verification mail
}

func (a *App) kickDelivery() {
	a.mu.Lock()
	w := a.deliverer
	a.mu.Unlock()
	if w != nil {
		w.Kick()
	}
}

// Ready is told the bound addresses once Serve is listening.
type Ready struct {
	API      string
	APITLS   string // the API's HTTPS listener; "" when it is off
	DNS      string // "" when the DNS server is off
	Feedback string // the feedback MX; "" when it is off
	SMTP     string // SMTP submission with STARTTLS; "" when it is off
	SMTPS    string // SMTP submission with implicit TLS; "" when it is off
}

// Serve runs every role until ctx ends: the SES API, the authoritative DNS
// server and the DNS checker. ready, if not nil, is called once the
// listeners are up.
func (a *App) Serve(ctx context.Context, ready func(Ready)) error {
	cfg := a.cfg
	if a.devDNS == nil { // serve, not sesame dev
		if err := a.refuseDevKey(ctx); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	resolver, err := a.resolver()
	if err != nil {
		return err
	}
	checker, err := dnscheck.New(dnscheck.Options{
		Store: a.Identities, Resolver: resolver, Logger: a.log.With("component", "dnscheck"),
		Interval: cfg.CheckInterval, Window: cfg.MailFromWindow, Concurrency: cfg.CheckConcurrency,
		Poll:  min(cfg.CheckInterval, 10*time.Second),
		Lease: a.lease("dnscheck"),
	})
	if err != nil {
		return err
	}
	helo := cfg.HeloName
	if helo == "" {
		helo = a.Identities.DefaultMailFromDomain()
	}
	deliverer, err := deliver.New(deliver.Options{
		Queue: a.Queue, Resolver: resolver, Logger: a.log.With("component", "deliver"),
		Port: cfg.OutboundPort, Relay: cfg.Relay, HeloName: helo, RetryWindow: cfg.RetryWindow, Workers: cfg.DeliveryWorkers, Lease: cfg.DeliveryLease,
		SimulatorDomains: send.DefaultSimulatorDomains(a.Identities.ServiceDomain()),
		OnFeedback:       a.Feedback.Delivered,
		Policy:           a.deliveryPolicy,
		Stages:           a.stages,
	})
	if err != nil {
		return err
	}
	notifier, err := notify.New(notify.Options{Identities: a.Identities, Accounts: a.Accounts, Queue: a.Queue, Sign: a.signSystem,
		Region: cfg.Region, ServiceDomain: a.Identities.ServiceDomain(), Logger: a.log.With("component", "notify"),
		Poll: min(cfg.CheckInterval, 5*time.Second)})
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.checker = checker
	a.deliverer = deliverer
	a.notifier = notifier
	a.mu.Unlock()

	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("api listener: %w", err)
	}
	apiConns := connlimit.New(connlimit.Options{Max: cmp.Or(cfg.APIMaxConns, config.DefaultAPIMaxConns), PerAddr: cfg.APIMaxConnsPerIP,
		FirstByte: apiFirstByteTimeout, ActiveOnState: true, Logger: a.log.With("component", "api")})
	ln = apiConns.Listener(ln)
	// The feedback MX (bounces and complaints), when on.
	var (
		fs           *feedback.Server
		fln          net.Listener
		feedbackAddr string
	)
	if config.ListenerOn(cfg.FeedbackAddr) {
		host := "feedback-smtp." + cfg.Region + "." + a.Identities.ServiceDomain()
		var tlsConfig *tls.Config
		tlsConfig, err = feedbackTLS(cfg, host)
		if err == nil {
			fs, err = feedback.NewServer(feedback.ServerOptions{Processor: a.Feedback,
				Hostname: host, Retention: cfg.FeedbackRetention, TLSConfig: tlsConfig,
				Origin:      &origin.Checker{Resolver: resolver, Own: []string{a.Identities.ServiceDomain()}},
				Unsubscribe: a.Unsub,
				Logger:      a.log.With("component", "feedback-smtp")})
		}
		if err == nil {
			fln, err = net.Listen("tcp", cfg.FeedbackAddr)
		}
		if err != nil {
			ln.Close()
			return fmt.Errorf("feedback listener: %w", err)
		}
		feedbackAddr = fln.Addr().String()
	}
	srv := a.apiServer(apiConns)
	tln, tsrv, err := a.apiTLS(apiConns)
	// closeListeners closes the API and feedback listeners opened so far,
	// when the start fails.
	closeListeners := func() {
		for _, l := range []net.Listener{ln, fln, tln} {
			if l != nil {
				l.Close()
			}
		}
	}
	if err != nil {
		closeListeners()
		return err
	}
	sub, err := a.openSubmission(ctx)
	if err != nil {
		closeListeners()
		return err
	}

	var (
		wg   sync.WaitGroup
		errs = make(chan error, 16) // room for every run below (14) to fail at once: wg.Wait must not wait on a send
	)
	run := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if v := recover(); v != nil {
					errs <- fmt.Errorf("%s: panic: %v", name, v)
					cancel()
				}
			}()
			if err := f(); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	dnsReady := make(chan string, 1)
	if config.ListenerOn(cfg.DNSAddr) {
		ds, err := a.DNSServer()
		if err != nil {
			closeListeners()
			sub.close()
			return err
		}
		serveDNS := ds.ListenAndServe
		if a.devDNS != nil { // sesame dev: its DNS answers the service zone through ds
			if serveDNS, err = a.devDNS(ds); err != nil {
				closeListeners()
				sub.close()
				return err
			}
		}
		run("dns", func() error {
			return serveDNS(ctx, cfg.DNSAddr, func(addr string) { dnsReady <- addr })
		})
	} else {
		dnsReady <- ""
		if a.serviceKey != nil {
			// Someone else serves the zone: it must publish the key.
			if rec, err := a.serviceKey.Record(); err == nil {
				a.log.Warn("the DNS server is off: publish Sesame's own DKIM key in the service domain's zone, or its mail fails DKIM",
					"name", serviceDKIMSelector+"._domainkey."+a.Identities.ServiceDomain(), "type", "TXT", "value", rec)
			}
		}
	}
	run("api", func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	if tln != nil {
		run("api-tls", func() error {
			if err := tsrv.Serve(tln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	if fln != nil {
		run("feedback", func() error { return fs.Serve(ctx, fln) })
	}
	sub.run(ctx, a, run)
	run("dnscheck", func() error { return checker.Run(ctx) })
	run("deliver", func() error { return deliverer.Run(ctx) })
	run("notify", func() error { return notifier.Run(ctx) })
	run("prune", func() error { return a.pruneLoop(ctx, 10*time.Minute) })
	run("publish", func() error { return a.publisher.Run(ctx) })
	run("push", func() error { return a.Push.Run(ctx) })
	run("imports", func() error { return a.Imports.Run(ctx) })

	select {
	case addr := <-dnsReady:
		var apiTLS string
		if tln != nil {
			apiTLS = tln.Addr().String()
		}
		smtpAddr, smtpsAddr := sub.addrs()
		a.log.Info("sesame serving", "api", ln.Addr().String(), "api_tls", apiTLS, "dns", addr, "feedback", feedbackAddr, "smtp", smtpAddr, "smtps", smtpsAddr,
			"region", cfg.Region, "service_domain", cfg.ServiceDomain, "database", a.DB.Dialect.String(), "rsa_signer", dkim.RSABackend)
		if ready != nil {
			ready(Ready{API: ln.Addr().String(), APITLS: apiTLS, DNS: addr, Feedback: feedbackAddr, SMTP: smtpAddr, SMTPS: smtpsAddr})
		}
	case <-ctx.Done():
	}
	<-ctx.Done()
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	srv.Shutdown(sctx)
	if tsrv != nil {
		tsrv.Shutdown(sctx)
	}
	wg.Wait()
	close(errs)
	var all []error
	for e := range errs {
		all = append(all, e)
	}
	return errors.Join(all...)
}

// feedbackTLS is the feedback MX's STARTTLS configuration: the configured
// certificate, else a self-signed one for host.
func feedbackTLS(cfg config.Config, host string) (*tls.Config, error) {
	if cfg.FeedbackTLSCert == "" {
		return feedback.SelfSignedTLS(host, time.Now())
	}
	cert, err := tls.LoadX509KeyPair(cfg.FeedbackTLSCert, cfg.FeedbackTLSKey)
	if err != nil {
		return nil, fmt.Errorf("--feedback-tls-cert/--feedback-tls-key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// pruneLoop forgets, every interval, what the queue no longer needs
// (messages older than the feedback retention window, old quota buckets),
// on one node at a time.
func (a *App) pruneLoop(ctx context.Context, interval time.Duration) error {
	lease := a.lease("prune")
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if ok, err := lease(ctx); err != nil || !ok {
			continue // another node prunes, or the database is away: next time
		}
		now := time.Now()
		// Messages, and the events published about them, are kept for the
		// feedback window.
		feedbackCutoff := now.Add(-cmp.Or(a.cfg.FeedbackRetention, feedback.DefaultRetention))
		p, err := a.Queue.Prune(ctx, feedbackCutoff)
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.Error("pruning the queue failed", "err", err)
		case p.Messages > 0 || p.SendCounts > 0:
			a.log.Info("queue pruned", "messages", p.Messages, "send_count_buckets", p.SendCounts)
		}
		// Published events go with their messages (a late bounce within the
		// feedback window still shows beside them); unpublished never.
		if n, err := event.Prune(ctx, a.DB, feedbackCutoff); err != nil && ctx.Err() == nil {
			a.log.Error("pruning the published events failed", "err", err)
		} else if n > 0 {
			a.log.Info("published events pruned", "rows", n)
		}
		if n, err := a.Stats.Prune(ctx, now.Add(-statsRetention)); err != nil && ctx.Err() == nil {
			a.log.Error("pruning the send statistics failed", "err", err)
		} else if n > 0 {
			a.log.Info("send statistics pruned", "rows", n)
		}
	}
}

// resolver is the configured resolver, or the system's.
func (a *App) resolver() (sesdns.Resolver, error) {
	if a.cfg.Resolver != "" {
		return &sesdns.Client{Servers: []string{a.cfg.Resolver}}, nil
	}
	servers, err := sesdns.SystemServers()
	if err != nil {
		return nil, fmt.Errorf("no --resolver given and the system's resolvers are unknown: %w", err)
	}
	return &sesdns.Client{Servers: servers}, nil
}

// lease returns the checker's cluster lease (one node at a time checks).
func (a *App) lease(name string) func(ctx context.Context) (bool, error) {
	host, _ := os.Hostname()
	holder := fmt.Sprintf("%s/%d/%s", host, os.Getpid(), sesapi.NewRequestID())
	return func(ctx context.Context) (bool, error) {
		return a.DB.AcquireLease(ctx, name, holder, time.Now(), 2*time.Minute)
	}
}

// DNSServer builds the authoritative DNS server for the service domain.
func (a *App) DNSServer() (*authdns.Server, error) {
	var rec []string
	if a.serviceKey != nil {
		r, err := a.serviceKey.Record()
		if err != nil {
			return nil, err
		}
		rec = dkim.SplitTXT(r)
	}
	return authdns.New(authdns.Options{
		Zone: a.cfg.ServiceDomain, Region: a.cfg.Region,
		ServiceDKIMSelector: serviceDKIMSelector, ServiceDKIMRecord: rec,
		NameServers: a.cfg.NameServerList(), NameServerIPs: a.cfg.NameServerIPs,
		SPFIPs: a.cfg.SPFIPs, FeedbackIPs: a.cfg.FeedbackIPs,
		Logger: a.log.With("component", "authdns"),
		// Over the caps a newcomer closes a silent or idle connection
		// (an answer makes one idle) instead of waiting in the backlog;
		// silent ones are closed by the server after 2 s.
		TCPConns: connlimit.New(connlimit.Options{Max: authdns.DefaultMaxTCPConns, PerAddr: dnsMaxTCPConnsPerIP, IdleOnWrite: true,
			Logger: a.log.With("component", "authdns")}).Listener,
		DKIMRecords: func(ctx context.Context, token string) ([]string, error) {
			recs, err := a.Identities.DKIMRecords(ctx, token)
			if errors.Is(err, identity.ErrNotFound) {
				return nil, fmt.Errorf("%w: %s", authdns.ErrNoSuchKey, token)
			}
			return recs, err
		},
	})
}

// dnsMaxTCPConnsPerIP bounds the DNS server's TCP connections from one
// address: a busy resolver's, and no more.
const dnsMaxTCPConnsPerIP = 32

// The API server's fixed limits.
const (
	apiFirstByteTimeout = 3 * time.Second  // a connection silent this long is closed
	apiHeaderTimeout    = 10 * time.Second // SDKs send their 1-3 KB of headers at once
	apiHandlerTime      = time.Minute      // to answer, once the body is in
	apiMaxHeaderBytes   = 64 << 10
)

// apiServer is the API's http.Server, reporting its connections' states
// to conns: a request's headers must arrive within apiHeaderTimeout and
// the whole request within --api-read-timeout (sesapi also holds a body to
// a minimum rate); the answer must be written within apiHandlerTime more
// (http.Server's WriteTimeout runs from the end of the headers, so it
// covers the body); an idle keep-alive connection is closed after
// --api-idle-timeout.
func (a *App) apiServer(conns *connlimit.Limiter) *http.Server {
	read := a.apiReadTimeout()
	return &http.Server{Handler: a.APIHandler(), ConnState: conns.ConnState,
		ReadHeaderTimeout: apiHeaderTimeout, ReadTimeout: read, WriteTimeout: read + apiHandlerTime,
		IdleTimeout: cmp.Or(a.cfg.APIIdleTimeout, config.DefaultAPIIdleTimeout), MaxHeaderBytes: apiMaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
}

// apiReadTimeout is --api-read-timeout, or its default.
func (a *App) apiReadTimeout() time.Duration {
	return cmp.Or(a.cfg.APIReadTimeout, config.DefaultAPIReadTimeout)
}

// APIHandler is the SES API with its public pages and the web console
// (/console/).
func (a *App) APIHandler() http.Handler {
	api := a.sesAPI()
	h, err := a.withConsole(api)
	if err != nil { // the console's embedded templates do not parse: a build defect, caught by its tests
		a.log.Error("the web console is off", "err", err)
		return api
	}
	return h
}

// sesAPI is the SES API with its public pages.
func (a *App) sesAPI() http.Handler {
	return sesapi.New(sesapi.Options{
		Accounts: a.Accounts,
		Region:   a.cfg.Region,
		V1: sesv1.New(sesv1.Options{Identities: a.Identities, Accounts: a.Accounts, Queue: a.Queue, Sender: a.Sender, CustomVerification: a.CustomVerification,
			ConfigSets: a.ConfigSets, Topics: a.topicsV1(), SendStatistics: a.Stats.SendStatistics, EnforcementStatus: a.Reputation.Status,
			Templates: a.Templates,
			Logger:    a.log.With("component", "sesv1")}),
		V2: sesv2.New(sesv2.Options{Identities: a.Identities, Accounts: a.Accounts, Queue: a.Queue, Sender: a.Sender, Suppression: a.Suppression, CustomVerification: a.CustomVerification,
			ConfigSets: a.ConfigSets, MetricData: a.Stats.MetricData, EnforcementStatus: a.Reputation.Status,
			Templates: a.Templates, Contacts: a.Contacts, Imports: a.Imports,
			Logger: a.log.With("component", "sesv2")}),
		SNS:    a.snsHandler(),
		Public: a.publicHandlers(),
		Logger: a.log.With("component", "api"),

		MaxInFlight: int64(a.cfg.APIMaxInFlightMiB) << 20, // 0: sesapi's default
		BodyTimeout: a.apiReadTimeout(),
	})
}

// VerifyHandler is the page an address verification link opens: GET
// /verify?token=... marks the address verified. A custom verification
// link (SendCustomVerificationEmail) redirects (303 See Other) to its
// template's SuccessRedirectionURL once the address is verified, and to
// its FailureRedirectionURL when the link has expired; only an error on
// Sesame's side shows Sesame's own page.
func VerifyHandler(ids *identity.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		page := func(status int, title, msg string) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(status)
			fmt.Fprintf(w, "<!doctype html><title>%s</title><h1>%s</h1><p>%s</p>\n", html.EscapeString(title), html.EscapeString(title), html.EscapeString(msg))
		}
		token := r.URL.Query().Get("token")
		l, _, err := ids.ConfirmCustomLink(r.Context(), token)
		switch {
		case err == nil:
			http.Redirect(w, r, l.SuccessURL, http.StatusSeeOther)
			return
		case errors.Is(err, identity.ErrExpired) && l != nil:
			http.Redirect(w, r, l.FailureURL, http.StatusSeeOther)
			return
		case !errors.Is(err, identity.ErrNotFound):
			page(http.StatusInternalServerError, "Verification failed", "Something went wrong on our side. Try the link again later.")
			return
		}
		i, err := ids.ConfirmAddress(r.Context(), token)
		switch {
		case err == nil:
			page(http.StatusOK, "Congratulations!", "You have successfully verified "+i.Name+". You can now send email from this address.")
		case errors.Is(err, identity.ErrExpired):
			page(http.StatusGone, "Verification link expired", "This link has expired. Ask for a new verification email (VerifyEmailIdentity or CreateEmailIdentity).")
		case errors.Is(err, identity.ErrNotFound):
			page(http.StatusNotFound, "Unknown verification link", "This verification link is not valid. Check that you copied the whole link.")
		default:
			page(http.StatusInternalServerError, "Verification failed", "Something went wrong on our side. Try the link again later.")
		}
	})
}
