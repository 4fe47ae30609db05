package app

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/connlimit"
	"github.com/sesame-email/sesame/internal/feedback"
)

// apiTLS opens the API's HTTPS listener (--api-tls-addr; nil when off):
// the same handler and limits as the plain listener, its connections
// counted by the same limiter, with the configured certificate or, without
// one, a self-signed certificate made now (logged as a warning: SNS
// subscribers must then be told to trust it).
func (a *App) apiTLS(conns *connlimit.Limiter) (net.Listener, *http.Server, error) {
	if !a.cfg.APITLSOn() {
		return nil, nil, nil
	}
	var cfg *tls.Config
	if a.cfg.APITLSCert != "" {
		cert, err := tls.LoadX509KeyPair(a.cfg.APITLSCert, a.cfg.APITLSKey)
		if err != nil {
			return nil, nil, fmt.Errorf("--api-tls-cert/--api-tls-key: %w", err)
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	} else {
		// The certificate names the host subscribers are given, that of
		// the SNS URLs (--public-url), and the listener's own.
		host, _, _ := net.SplitHostPort(a.cfg.APITLSAddr)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		names := []string{host}
		if u, err := url.Parse(a.SNSPublicURL); err == nil && u.Hostname() != "" {
			names = append([]string{u.Hostname()}, names...)
		}
		var err error
		if cfg, err = feedback.SelfSignedTLS(names[0], time.Now(), names[1:]...); err != nil {
			return nil, nil, fmt.Errorf("api tls: %w", err)
		}
		a.log.Warn("the API's HTTPS listener uses a self-signed certificate made at start: set --api-tls-cert and --api-tls-key, or SNS subscribers that check certificates refuse its SigningCertURL (or give them this certificate to trust; a new one is made at every start)",
			"addr", a.cfg.APITLSAddr, "names", strings.Join(names, ","),
			"certificate", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cfg.Certificates[0].Certificate[0]})))
	}
	cfg.NextProtos = []string{"http/1.1"}
	ln, err := net.Listen("tcp", a.cfg.APITLSAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("api tls listener: %w", err)
	}
	srv := a.apiServer(conns)
	// The limiter knows the TCP connections under the TLS ones.
	srv.ConnState = func(nc net.Conn, s http.ConnState) {
		if tc, ok := nc.(*tls.Conn); ok {
			nc = tc.NetConn()
		}
		conns.ConnState(nc, s)
	}
	return tls.NewListener(conns.Listener(ln), cfg), srv, nil
}
