package app

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sesame-email/sesame/internal/config"
	"github.com/sesame-email/sesame/internal/feedback"
	"github.com/sesame-email/sesame/internal/smtpserve"
	"github.com/sesame-email/sesame/internal/smtpsubmit"
)

// submission is the SMTP submission role: its server and listeners.
type submission struct {
	srv                *smtpsubmit.Server
	starttls, implicit net.Listener // nil when off
	certs              *smtpserve.CertFiles
}

// smtpSetting is the settings row where serve records the submission
// endpoints, for `sesame account smtp-credentials`.
const smtpSetting = "smtp_endpoints"

// smtpEndpoints is that row's JSON: the listener addresses as configured
// ("off" or "" when off).
type smtpEndpoints struct {
	StartTLS string `json:"starttls"`
	TLS      string `json:"tls"`
}

// smtpHost is the host name SMTP clients are given: that of the public URL.
func (a *App) smtpHost() string {
	if u, err := url.Parse(a.cfg.PublicURLOrDefault()); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "localhost"
}

// openSubmission opens the SMTP submission listeners (--smtp-addr,
// --smtps-addr); nil when both are off.
func (a *App) openSubmission(ctx context.Context) (sub *submission, err error) {
	cfg := a.cfg
	if err := a.storeSMTPEndpoints(ctx); err != nil {
		return nil, err
	}
	if !config.ListenerOn(cfg.SMTPAddr) && !config.ListenerOn(cfg.SMTPSAddr) {
		return nil, nil
	}
	host := a.smtpHost()
	sub = &submission{}
	var tlsConfig *tls.Config
	if cfg.SMTPTLSCert != "" {
		if sub.certs, err = smtpserve.LoadCertFiles(cfg.SMTPTLSCert, cfg.SMTPTLSKey); err != nil {
			return nil, fmt.Errorf("--smtp-tls-cert/--smtp-tls-key: %w", err)
		}
		tlsConfig = sub.certs.TLSConfig()
	} else {
		names := []string{host, "localhost"}
		for _, addr := range []string{cfg.SMTPAddr, cfg.SMTPSAddr} {
			if h, _, err := net.SplitHostPort(addr); err == nil && h != "" && h != "0.0.0.0" && h != "::" && !slices.Contains(names, h) {
				names = append(names, h)
			}
		}
		if tlsConfig, err = feedback.SelfSignedTLS(host, time.Now(), names[1:]...); err != nil {
			return nil, fmt.Errorf("smtp tls: %w", err)
		}
		a.log.Warn("SMTP submission uses a self-signed certificate made at start: set --smtp-tls-cert and --smtp-tls-key, or clients that check certificates (most do) refuse it",
			"names", strings.Join(names, ","),
			"certificate", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsConfig.Certificates[0].Certificate[0]})))
	}
	sub.srv, err = smtpsubmit.New(smtpsubmit.Options{Sender: a.Sender, Secret: a.Accounts.Secret, Region: cfg.Region, Hostname: host, TLSConfig: tlsConfig,
		MaxMessageBytes: cfg.SMTPMaxMessageBytes, MaxRecipients: cfg.SMTPMaxRecipients, MaxConns: cfg.SMTPMaxConns, MaxConnsPerIP: cfg.SMTPMaxConnsPerIP,
		MaxSession: cfg.SMTPMaxSession, Timeout: cfg.SMTPTimeout, DataTimeout: cfg.SMTPDataTimeout,
		AuthDelayAfter: cfg.SMTPAuthDelayAfter, AuthBlockAfter: cfg.SMTPAuthBlockAfter, AuthDelay: cfg.SMTPAuthDelay, AuthBlock: cfg.SMTPAuthBlock,
		MaxHeldBytes: cfg.SMTPMaxHeldBytes, MaxHeldPerIP: cfg.SMTPMaxHeldPerIP,
		Logger: a.log.With("component", "smtp")})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			sub.close()
		}
	}()
	if config.ListenerOn(cfg.SMTPAddr) {
		if sub.starttls, err = net.Listen("tcp", cfg.SMTPAddr); err != nil {
			return nil, fmt.Errorf("smtp listener: %w", err)
		}
	}
	if config.ListenerOn(cfg.SMTPSAddr) {
		if sub.implicit, err = net.Listen("tcp", cfg.SMTPSAddr); err != nil {
			return nil, fmt.Errorf("smtps listener: %w", err)
		}
	}
	return sub, nil
}

// storeSMTPEndpoints records the listener addresses for the admin
// commands.
func (a *App) storeSMTPEndpoints(ctx context.Context) error {
	b, _ := json.Marshal(smtpEndpoints{StartTLS: a.cfg.SMTPAddr, TLS: a.cfg.SMTPSAddr})
	return a.DB.SetSetting(ctx, smtpSetting, string(b))
}

// run serves the listeners under run (App.Serve's), and reloads the
// certificate files on SIGHUP.
func (s *submission) run(ctx context.Context, a *App, run func(name string, f func() error)) {
	if s == nil {
		return
	}
	if s.starttls != nil {
		run("smtp", func() error { return s.srv.Serve(ctx, s.starttls, false) })
	}
	if s.implicit != nil {
		run("smtps", func() error { return s.srv.Serve(ctx, s.implicit, true) })
	}
	if s.certs != nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		run("smtp-tls-reload", func() error {
			defer signal.Stop(hup)
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-hup:
					if err := s.certs.Reload(); err != nil {
						a.log.Error("SMTP TLS certificate not reloaded; the one in use stays", "err", err)
					} else {
						a.log.Info("SMTP TLS certificate reloaded", "cert", a.cfg.SMTPTLSCert)
					}
				}
			}
		})
	}
}

// addrs returns the bound addresses ("" for a listener that is off).
func (s *submission) addrs() (starttls, implicit string) {
	if s == nil {
		return "", ""
	}
	if s.starttls != nil {
		starttls = s.starttls.Addr().String()
	}
	if s.implicit != nil {
		implicit = s.implicit.Addr().String()
	}
	return starttls, implicit
}

// close closes listeners that were never served.
func (s *submission) close() {
	if s == nil {
		return
	}
	for _, ln := range []net.Listener{s.starttls, s.implicit} {
		if ln != nil {
			ln.Close()
		}
	}
}
