package sns

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // crypto.SHA1
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/seal"
)

// settingKey is the settings row holding the signing key (sealed) and its
// certificate.
const settingKey = "sns_signing_key"

// keyAAD binds the sealed key to its use.
var keyAAD = []byte("sesame sns signing key")

// storedKey is the JSON of the settings row.
type storedKey struct {
	Key  string `json:"key"`  // base64 of the sealed PKCS #8 DER key
	Cert string `json:"cert"` // base64 of the certificate's DER
}

// signer signs messages with the deployment's key.
type signer struct {
	key     *rsa.PrivateKey
	cert    *x509.Certificate
	certPEM []byte
	id      string // hex, names the certificate file
	tokens  []byte // HMAC key of unsubscribe tokens
}

// loadSigner reads the signing key, making and storing one first when the
// deployment has none (the first node to store one wins).
func loadSigner(ctx context.Context, d *db.DB, box *seal.Box, bits int, now func() time.Time) (*signer, error) {
	v, ok, err := d.Setting(ctx, settingKey)
	if err != nil {
		return nil, fmt.Errorf("sns: %w", err)
	}
	if !ok {
		fresh, err := makeKey(box, bits, now())
		if err != nil {
			return nil, err
		}
		if v, err = d.InitSetting(ctx, settingKey, fresh); err != nil {
			return nil, fmt.Errorf("sns: %w", err)
		}
	}
	var sk storedKey
	if err := json.Unmarshal([]byte(v), &sk); err != nil {
		return nil, fmt.Errorf("sns: stored signing key: %w", err)
	}
	sealed, err := base64.StdEncoding.DecodeString(sk.Key)
	if err != nil {
		return nil, fmt.Errorf("sns: stored signing key: %w", err)
	}
	der, err := box.Open(sealed, keyAAD)
	if err != nil {
		return nil, fmt.Errorf("sns: open signing key: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("sns: signing key: %w", err)
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("sns: signing key is a %T, not RSA", k)
	}
	certDER, err := base64.StdEncoding.DecodeString(sk.Cert)
	if err != nil {
		return nil, fmt.Errorf("sns: stored certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("sns: stored certificate: %w", err)
	}
	sum := sha256.Sum256(certDER)
	tk := sha256.Sum256(append([]byte("sesame sns unsubscribe tokens\n"), der...))
	return &signer{
		key:     key,
		cert:    cert,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}),
		id:      hex.EncodeToString(sum[:16]),
		tokens:  tk[:],
	}, nil
}

// makeKey makes a key and its self-signed certificate, as stored.
func makeKey(box *seal.Box, bits int, now time.Time) (string, error) {
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return "", fmt.Errorf("sns: make signing key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Sesame Simple Notification Service signing key", Organization: []string{"Sesame"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(30, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", fmt.Errorf("sns: make signing certificate: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(storedKey{
		Key:  base64.StdEncoding.EncodeToString(box.Seal(der, keyAAD)),
		Cert: base64.StdEncoding.EncodeToString(certDER),
	})
	return string(b), err
}

// certPath is the path of the certificate: AWS's file name, which
// validators expect to end in .pem.
func (g *signer) certPath() string {
	return "/sns/SimpleNotificationService-" + g.id + ".pem"
}

// sign returns the base64 signature of a message whose string to sign is
// sts: SignatureVersion "1" is SHA1withRSA, "2" SHA256withRSA.
func (g *signer) sign(version, sts string) (string, error) {
	h, err := signatureHash(version)
	if err != nil {
		return "", err
	}
	d := h.New()
	d.Write([]byte(sts))
	sig, err := rsa.SignPKCS1v15(nil, g.key, h, d.Sum(nil))
	if err != nil {
		return "", fmt.Errorf("sns: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// signatureHash is the digest of a SignatureVersion: "1" SHA1withRSA, "2"
// SHA256withRSA.
func signatureHash(version string) (crypto.Hash, error) {
	switch version {
	case "1":
		return crypto.SHA1, nil
	case "2":
		return crypto.SHA256, nil
	}
	return 0, fmt.Errorf("sns: unknown SignatureVersion %q", version)
}

// unsubscribeToken is the token of a subscription's UnsubscribeURL: an
// HMAC of its ARN, so it is bound to that subscription and unguessable
// without the deployment's key.
func (g *signer) unsubscribeToken(subARN string) string {
	m := hmac.New(sha256.New, g.tokens)
	m.Write([]byte(subARN))
	return hex.EncodeToString(m.Sum(nil))
}

func (g *signer) validUnsubscribeToken(subARN, token string) bool {
	return hmac.Equal([]byte(g.unsubscribeToken(subARN)), []byte(strings.ToLower(token)))
}

// StringToSign returns SNS's string to sign of a message's JSON fields:
// for each key that takes part, in order, "Key\nvalue\n". Notification:
// Message, MessageId, Subject (when present), Timestamp, TopicArn, Type;
// SubscriptionConfirmation and UnsubscribeConfirmation: Message,
// MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type.
func StringToSign(m map[string]string) string {
	keys := []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	if m["Type"] == TypeNotification {
		keys = []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	}
	var b strings.Builder
	for _, k := range keys {
		v, ok := m[k]
		if !ok {
			continue
		}
		b.WriteString(k)
		b.WriteByte('\n')
		b.WriteString(v)
		b.WriteByte('\n')
	}
	return b.String()
}

// serveCert serves the signing certificate (PEM).
func (s *Store) serveCert(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/x-x509-ca-cert")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(s.signer.certPEM)
}
