package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/connlimit"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/feedback"
	"github.com/sesame-email/sesame/internal/seal"
)

// apiTLS opens the API's HTTPS listener (--api-tls-addr; nil when off):
// the same handler and limits as the plain listener, its connections
// counted by the same limiter, with the configured certificate or, without
// one, the self-signed certificate kept in the database (selfSignedAPICert;
// logged as a warning: SNS subscribers must then be told to trust it).
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
		cert, err := selfSignedAPICert(context.Background(), a.DB, a.box, names, time.Now())
		if err != nil {
			return nil, nil, fmt.Errorf("api tls: %w", err)
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		a.log.Warn("the API's HTTPS listener uses a self-signed certificate (kept in the database): set --api-tls-cert and --api-tls-key, or SNS subscribers that check certificates refuse its SigningCertURL unless given this certificate to trust",
			"addr", a.cfg.APITLSAddr, "names", strings.Join(names, ","),
			"certificate", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})))
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

// apiTLSSetting is the settings row of the API's self-signed certificate.
const apiTLSSetting = "api_tls_self_signed"

// storedTLS is the JSON of that row.
type storedTLS struct {
	Key  string `json:"key"`  // base64 of the sealed PKCS #8 DER key
	Cert string `json:"cert"` // base64 of the certificate's DER
}

// selfSignedAPICert returns the API listener's self-signed certificate for
// names, kept in the settings table (its key sealed with the master key)
// so that subscribers told to trust it keep trusting it across restarts
// and every node of a cluster serves the same one. A new one is made, and
// stored, when none is, when the stored one does not name every one of
// names (--public-url changed) or when it expires within 30 days.
func selfSignedAPICert(ctx context.Context, d *db.DB, box *seal.Box, names []string, now time.Time) (tls.Certificate, error) {
	aad := []byte(apiTLSSetting)
	load := func(v string) (tls.Certificate, bool) {
		var st storedTLS
		if json.Unmarshal([]byte(v), &st) != nil {
			return tls.Certificate{}, false
		}
		sealed, err1 := base64.StdEncoding.DecodeString(st.Key)
		der, err2 := base64.StdEncoding.DecodeString(st.Cert)
		if err1 != nil || err2 != nil {
			return tls.Certificate{}, false
		}
		keyDER, err := box.Open(sealed, aad)
		if err != nil {
			return tls.Certificate{}, false
		}
		key, err1 := x509.ParsePKCS8PrivateKey(keyDER)
		cert, err2 := x509.ParseCertificate(der)
		if err1 != nil || err2 != nil || now.After(cert.NotAfter.AddDate(0, 0, -30)) {
			return tls.Certificate{}, false
		}
		for _, n := range names {
			if cert.VerifyHostname(n) != nil {
				return tls.Certificate{}, false
			}
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, true
	}
	v, ok, err := d.Setting(ctx, apiTLSSetting)
	if err != nil {
		return tls.Certificate{}, err
	}
	if ok {
		if c, ok := load(v); ok {
			return c, nil
		}
	}
	fresh, err := feedback.SelfSignedTLS(names[0], now, names[1:]...)
	if err != nil {
		return tls.Certificate{}, err
	}
	c := fresh.Certificates[0]
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	b, _ := json.Marshal(storedTLS{Key: base64.StdEncoding.EncodeToString(box.Seal(keyDER, aad)), Cert: base64.StdEncoding.EncodeToString(c.Certificate[0])})
	if !ok {
		// The first node of a cluster to start makes it for all.
		if v, err = d.InitSetting(ctx, apiTLSSetting, string(b)); err != nil {
			return tls.Certificate{}, err
		}
		if stored, ok := load(v); ok {
			return stored, nil
		}
	}
	if err := d.SetSetting(ctx, apiTLSSetting, string(b)); err != nil {
		return tls.Certificate{}, err
	}
	return c, nil
}
