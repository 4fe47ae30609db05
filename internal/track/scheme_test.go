package track

import (
	"regexp"
	"testing"

	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/send"
)

// TestRewriteSchemes: where the pixel and the links of a message point.
// Under a CustomRedirectDomain, HttpsPolicy decides the scheme (REQUIRE:
// https for all; REQUIRE_OPEN_ONLY: https for the pixel, a link keeps its
// own; OPTIONAL: a link keeps its own, the pixel the public URL's).
// Without one, they are on Sesame's public listener, which serves only
// the public URL's scheme on its port: an https link of a deployment (or
// `sesame dev`) whose public URL is http must not become a link to
// https://<that http port>.
func TestRewriteSchemes(t *testing.T) {
	const msg = "Content-Type: text/html\r\n\r\n<a href=\"http://a.example.test/\">A</a><a href=\"https://b.example.test/\">B</a></body>"
	custom := func(policy string) *configset.TrackingOptions {
		return &configset.TrackingOptions{CustomRedirectDomain: "track.example.test", HTTPSPolicy: policy}
	}
	for _, c := range []struct {
		name, public         string
		opts                 *configset.TrackingOptions
		pixel, plain, secure string // the pixel's base and the http and https links'
	}{
		{"http public URL", "http://127.0.0.1:7700", nil, "http://127.0.0.1:7700", "http://127.0.0.1:7700", "http://127.0.0.1:7700"},
		{"http public URL, REQUIRE", "http://127.0.0.1:7700", &configset.TrackingOptions{HTTPSPolicy: configset.HTTPSRequire},
			"http://127.0.0.1:7700", "http://127.0.0.1:7700", "http://127.0.0.1:7700"},
		{"https public URL with a path", "https://sesame.example.test:8443/mail/", nil,
			"https://sesame.example.test:8443/mail", "https://sesame.example.test:8443/mail", "https://sesame.example.test:8443/mail"},
		{"custom OPTIONAL", "http://sesame.example.test", custom(configset.HTTPSOptional), "http://track.example.test", "http://track.example.test", "https://track.example.test"},
		{"custom default policy", "https://sesame.example.test", custom(""), "https://track.example.test", "http://track.example.test", "https://track.example.test"},
		{"custom REQUIRE_OPEN_ONLY", "http://sesame.example.test", custom(configset.HTTPSRequireOpenOnly), "https://track.example.test", "http://track.example.test", "https://track.example.test"},
		{"custom REQUIRE", "http://sesame.example.test", custom(configset.HTTPSRequire), "https://track.example.test", "https://track.example.test", "https://track.example.test"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := New(Options{DB: &db.DB{}, Codec: testCodec(t), PublicURL: c.public}) // Rewrite reads no database
			if err != nil {
				t.Fatal(err)
			}
			out, err := s.Rewrite(send.Tracking{AccountID: "111111111111", MessageID: "m1", ConfigurationSet: "news", Open: true, Click: true, Options: c.opts}, []byte(msg))
			if err != nil {
				t.Fatal(err)
			}
			got := urlsIn.FindAllStringSubmatch(string(out), -1)
			if len(got) != 3 {
				t.Fatalf("%d tracking URLs in\n%s", len(got), out)
			}
			for i, want := range []string{c.plain + ClickPath, c.secure + ClickPath, c.pixel + OpenPath} {
				if got[i][1] != want {
					t.Errorf("URL %d at %q, want %q", i, got[i][1], want)
				}
			}
		})
	}
}

var urlsIn = regexp.MustCompile(`(?:href|src)="([^"?]*)\?t=`)
