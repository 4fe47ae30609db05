package track

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/compose"
	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/send"
)

// typicalHTML is a newsletter of about 20 KB: 40 paragraphs with a link
// each, a few images, a no-track link and tagged links.
func typicalHTML() string {
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html><html><head><meta charset="utf-8"><style>p{margin:0 0 1em}</style></head><body><table width="600"><tr><td>`)
	for i := 0; b.Len() < 20<<10; i++ {
		fmt.Fprintf(&b, `<p style="font-family:Arial,sans-serif;font-size:14px">Paragraph %d of this week's news, with enough words to look like real copy in a real newsletter. `+
			`<a href="https://www.example.test/articles/%d?utm_source=news&amp;utm_medium=email" ses:tags="article:a%d;pos:p%d">Read more</a></p>`, i, i, i, i)
		if i%10 == 0 {
			fmt.Fprintf(&b, `<img src="https://cdn.example.test/img/%d.png" width="600" alt="">`, i)
		}
	}
	b.WriteString(`<p><a ses:no-track href="https://www.example.test/prefs">Preferences</a> <a href="mailto:help@example.test">Help</a></p></td></tr></table></body></html>`)
	return b.String()
}

// BenchmarkRewrite: one typical 20 KB HTML message (composed as Sesame
// composes a Simple message: multipart/alternative, quoted-printable)
// rewritten for opens and clicks.
func BenchmarkRewrite(b *testing.B) {
	h := typicalHTML()
	m, err := compose.Build(compose.Simple{From: "news@example.test", To: []string{"bob@example.org"},
		Subject: "News", Text: "This week's news.", HTML: h}, compose.Options{MessageID: "m1", Domain: "us-east-1.sesame.example.test"})
	if err != nil {
		b.Fatal(err)
	}
	s := &Service{opts: Options{Codec: testCodec(b)}, public: &url.URL{Scheme: "https", Host: "sesame.example.test"}}
	tr := send.Tracking{AccountID: "123456789012", MessageID: "0100019a1b2c3d4e-5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c-000000", ConfigurationSet: "news",
		Open: true, Click: true, Options: &configset.TrackingOptions{HTTPSPolicy: configset.HTTPSRequire}}
	out, _ := s.Rewrite(tr, m.Bytes)
	if len(out) == len(m.Bytes) {
		b.Fatal("nothing rewritten")
	}
	b.SetBytes(int64(len(h)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Rewrite(tr, m.Bytes); err != nil {
			b.Fatal(err)
		}
	}
}
