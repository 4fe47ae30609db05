package linktoken

import (
	"bytes"
	"testing"
)

func TestSignVerify(t *testing.T) {
	k, err := NewKey(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewKey(bytes.Repeat([]byte{2}, 32))
	p := AppendField(AppendField([]byte{1}, "account"), "")
	b := k.Sign("a", p)
	got, ok := k.Verify("a", b)
	if !ok || !bytes.Equal(got, p) {
		t.Fatalf("Verify = %x, %v", got, ok)
	}
	if _, ok := k.Verify("b", b); ok {
		t.Error("verified under another label")
	}
	if _, ok := other.Verify("a", b); ok {
		t.Error("verified under another key")
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x40
		if _, ok := k.Verify("a", c); ok {
			t.Errorf("verified with byte %d altered", i)
		}
	}
	if _, ok := k.Verify("a", b[:MACLen-1]); ok {
		t.Error("verified a short token")
	}
	f1, rest, ok := ReadField(got[1:], 16)
	f2, rest2, ok2 := ReadField(rest, 16)
	if !ok || !ok2 || f1 != "account" || f2 != "" || len(rest2) != 0 {
		t.Errorf("fields = %q %q %v %v %x", f1, f2, ok, ok2, rest2)
	}
	if _, _, ok := ReadField(got[1:], 3); ok {
		t.Error("read a field longer than maxLen")
	}
	if _, err := NewKey(make([]byte, 31)); err == nil {
		t.Error("NewKey took a 31-byte key")
	}
}
