package console

import (
	"strings"
	"testing"
)

// FuzzWalk: any bytes a captured message may hold are walked without a
// panic, and every attachment listed can be downloaded.
func FuzzWalk(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nbody\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b\r\nContent-Disposition: attachment; filename=\"../a\"\r\nContent-Transfer-Encoding: base64\r\n\r\nYQ==\r\n--b--\r\n"))
	f.Add([]byte("Content-Type: text/plain; charset=unknown-8\r\nContent-Transfer-Encoding: x-unknown\r\n\r\n\xff\xfe"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p := walk(raw)
		if len(p.Attachments) != len(p.data) {
			t.Fatalf("%d attachments, %d bodies", len(p.Attachments), len(p.data))
		}
		for _, a := range p.Attachments {
			name := safeFilename(a.Filename, a.N)
			if name == "" || strings.ContainsAny(name, "/\\\"\r\n") || name == "." || name == ".." {
				t.Fatalf("unsafe file name %q from %q", name, a.Filename)
			}
		}
	})
}
