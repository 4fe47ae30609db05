package track

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"mime/quotedprintable"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// fakeLink is a linker whose URLs say what they track.
func fakeLink(link, tags string) string {
	return "https://t.example.test/c?u=" + base64.RawURLEncoding.EncodeToString([]byte(link)) + "&g=" + tags
}

func TestRewriteHTML(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"http and https", `<p><a href="https://a.example.test/x?y=1&amp;z=2">A</a> <a class=b href='http://b.example.test'>B</a></p>`,
			`<p><a href="` + htmlAttr(fakeLink("https://a.example.test/x?y=1&z=2", "")) + `">A</a> <a class="b" href="` + htmlAttr(fakeLink("http://b.example.test", "")) + `">B</a></p>`},
		{"not tracked", `<a href="mailto:x@example.test">m</a><a href="tel:+1">t</a><a href="#top">a</a><a href="/rel">r</a><a href="javascript:alert(1)">j</a><a name=x>n</a>`,
			`<a href="mailto:x@example.test">m</a><a href="tel:+1">t</a><a href="#top">a</a><a href="/rel">r</a><a href="javascript:alert(1)">j</a><a name=x>n</a>`},
		{"no-track", `<a ses:no-track href="https://a.example.test/">A</a>`, `<a href="https://a.example.test/">A</a>`},
		{"tags", `<a href="https://a.example.test/" ses:tags="campaign:spring; pos:top;bad tag:x;x:">A</a>`,
			`<a href="` + htmlAttr(fakeLink("https://a.example.test/", "campaign:spring;pos:top")) + `">A</a>`},
		{"uppercase", `<A HREF="HTTPS://A.example.test/">A</A>`, `<a href="` + htmlAttr(fakeLink("HTTPS://A.example.test/", "")) + `">A</A>`},
		{"in script", `<script>var s = '<a href="https://a.example.test/">';</script>`, `<script>var s = '<a href="https://a.example.test/">';</script>`},
		{"in comment", `<!-- <a href="https://a.example.test/"> -->`, `<!-- <a href="https://a.example.test/"> -->`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := string(rewriteHTML([]byte(c.in), fakeLink, "")); got != c.want {
				t.Errorf("rewriteHTML\n got %s\nwant %s", got, c.want)
			}
		})
	}
}

func htmlAttr(s string) string { return html.EscapeString(s) }

func TestPixel(t *testing.T) {
	const px = `<img src="p">`
	for in, want := range map[string]string{
		"<html><body><p>x</p></body></html>": "<html><body><p>x</p>" + px + "</body></html>",
		"<p>x</p></html>":                    "<p>x</p>" + px + "</html>",
		"<p>x</p>":                           "<p>x</p>" + px,
		"<p>x</p><a href='https://a.test/'>": "<p>x</p><a href='https://a.test/'>" + px, // no linker: the link stays
	} {
		if got := string(rewriteHTML([]byte(in), nil, px)); got != want {
			t.Errorf("rewriteHTML(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRewriteMessage: only text/html parts are touched, in a multipart
// message, through their transfer encodings.
func TestRewriteMessage(t *testing.T) {
	htmlBody := `<html><body><a href="https://a.example.test/?q=` + strings.Repeat("x", 100) + `">A</a></body></html>`
	var qp bytes.Buffer
	w := quotedprintable.NewWriter(&qp)
	w.Write([]byte(htmlBody))
	w.Close()
	b64 := base64.StdEncoding.EncodeToString([]byte(htmlBody))
	msg := "From: a@example.test\r\nTo: b@example.test\r\nSubject: hi\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
		"--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n" +
		"--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee https://a.example.test/\r\n" +
		"--inner\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + qp.String() + "\r\n" +
		"--inner--\r\n" +
		"--outer\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64 + "\r\n" +
		"--outer\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n" +
		"--outer--\r\n"
	n := 0
	out := rewriteMessage([]byte(msg), func(h []byte) []byte {
		n++
		if string(h) != htmlBody {
			t.Errorf("html part %d decoded as %q", n, h)
		}
		return rewriteHTML(h, fakeLink, "<img>")
	})
	if n != 2 {
		t.Fatalf("%d HTML parts rewritten, want 2", n)
	}
	s := string(out)
	if !strings.HasPrefix(s, "From: a@example.test\r\nTo: b@example.test\r\nSubject: hi\r\n") || !strings.Contains(s, "see https://a.example.test/\r\n") || !strings.Contains(s, "\r\n\r\nAAEC\r\n") {
		t.Errorf("untouched parts changed:\n%s", s)
	}
	// Read it back: both HTML parts carry the tracked link and the pixel.
	back := 0
	rewriteMessage(out, func(h []byte) []byte {
		back++
		if !strings.Contains(string(h), "https://t.example.test/c?u=") || !strings.Contains(string(h), "<img></body>") {
			t.Errorf("part %d reads back as %q", back, h)
		}
		return h
	})
	if back != 2 {
		t.Errorf("%d HTML parts read back", back)
	}

	plain := []byte("From: a@example.test\r\nContent-Type: text/plain\r\n\r\nhttps://a.example.test/\r\n")
	if got := rewriteMessage(plain, func(h []byte) []byte { t.Error("called for text/plain"); return h }); &got[0] != &plain[0] {
		t.Error("a message without HTML was copied")
	}
}

// TestLongLines: a 7bit HTML part whose lines grow past 998 octets
// becomes quoted-printable.
func TestLongLines(t *testing.T) {
	var links strings.Builder
	for i := range 20 {
		fmt.Fprintf(&links, `<a href="https://a.example.test/%d">x</a>`, i)
	}
	msg := "From: a@example.test\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + links.String() + "\r\n"
	out := string(rewriteMessage([]byte(msg), func(h []byte) []byte { return rewriteHTML(h, fakeLink, "") }))
	if !strings.Contains(out, "Content-Transfer-Encoding: quoted-printable\r\n") {
		t.Fatalf("not re-encoded:\n%.300s", out)
	}
	for l := range strings.SplitSeq(out, "\r\n") {
		if len(l) > 998 {
			t.Fatalf("line of %d octets", len(l))
		}
	}
}

func TestParseTags(t *testing.T) {
	for in, want := range map[string]string{
		"":                              "",
		"a:b":                           "a:b",
		" a : b ;c:d;":                  "a:b;c:d",
		"a:b:c;d e:f;g:h":               "g:h",
		"x:" + strings.Repeat("v", 257): "",
		"a:1;a:2":                       "a:1;a:2",
	} {
		if got := parseTags(in); got != want {
			t.Errorf("parseTags(%q) = %q, want %q", in, got, want)
		}
	}
	if got := LinkTags("a:1;a:2;b:3"); len(got) != 2 || len(got["a"]) != 2 || got["b"][0] != "3" {
		t.Errorf("LinkTags = %v", got)
	}
}
