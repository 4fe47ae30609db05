package track

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// FuzzRewriteHTML: hostile HTML never panics the rewriter, its output
// still parses, every tracked link is a genuine token that decodes back
// to the http(s) URL it was issued for, in order, and no ses: attribute
// survives on an <a>.
func FuzzRewriteHTML(f *testing.F) {
	for _, s := range []string{
		`<a href="https://a.example.test/">x</a>`,
		`<a href='javascript:alert(1)' ses:tags="a:b">`,
		`<a href="https://a.test/" onclick="x" ses:no-track>`,
		`<a href="https://a.test/?"'><script>">`,
		`<a href=https://a.test/ title="</a><img src=x onerror=alert(1)>">`,
		`<a <a href="http://a.test/"`,
		`<a href="http://a.test/`,
		`<textarea><a href="http://a.test/"></textarea>`,
		`<body><a href="HTTP://A.TEST/&quot;&gt;">x</body>`,
		`<svg><a href="https://a.test/"/></svg>`,
		`<a href="https://a.test/" "=x '=y <=z>`,
	} {
		f.Add(s)
	}
	c := testCodec(f)
	f.Fuzz(func(t *testing.T, in string) {
		var issued []string
		link := func(u, tags string) string {
			s := "https://t.example.test/t/c?t=" + c.Encode(Token{Click: true, AccountID: "1", MessageID: "m", ConfigurationSet: "s", Link: u, Tags: tags})
			issued = append(issued, u)
			return s
		}
		out := rewriteHTML([]byte(in), link, `<img alt="" src="https://t.example.test/t/o?t=x">`)
		z := html.NewTokenizer(bytes.NewReader(out))
		found := 0
		for {
			tt := z.Next()
			if tt == html.ErrorToken {
				break
			}
			if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
				continue
			}
			tok := z.Token()
			if tok.Data != "a" {
				continue
			}
			for _, a := range tok.Attr {
				if strings.HasPrefix(a.Key, "ses:") {
					t.Fatalf("attribute %s kept in %q", a.Key, out)
				}
				if a.Key == "href" && strings.HasPrefix(a.Val, "https://t.example.test/t/c?t=") {
					got, err := c.Decode(strings.TrimPrefix(a.Val, "https://t.example.test/t/c?t="))
					if err != nil {
						t.Fatalf("tracked link %q does not decode: %v", a.Val, err)
					}
					if _, ok := trackable(got.Link); !ok || got.Link != issued[found] {
						t.Fatalf("tracked link %d decodes to %q, issued %q", found, got.Link, issued[found])
					}
					found++
				}
			}
		}
		if found != len(issued) {
			t.Fatalf("%d links issued, %d found as <a href> in the output %q", len(issued), found, out)
		}
	})
}
