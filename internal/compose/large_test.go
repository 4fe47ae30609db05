package compose_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/compose"
)

// TestLargeInputs checks that big subjects, headers and bodies go through
// both doors (folding and encoding are linear; a quadratic step would make
// this test take minutes).
func TestLargeInputs(t *testing.T) {
	cases := []compose.Simple{
		{From: "a@example.com", Subject: strings.Repeat("word ", 400000)},
		{From: "a@example.com", Subject: strings.Repeat("wörd ", 100000)},
		{From: "a@example.com", Subject: strings.Repeat("日本語", 100000), SubjectCharset: "ISO-2022-JP"},
		{From: "a@example.com", Text: strings.Repeat("Grüße aus Köln\n", 500000), HTML: strings.Repeat("日本語", 1000000)},
		{From: "a@example.com", Headers: []compose.Header{{"X-A", strings.Repeat("\"a b\" ", 150)}}},
	}
	for i, s := range cases {
		start := time.Now()
		m, err := compose.Build(s, fixedOptions())
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		checkWire(t, m.Bytes)
		checkNormalForm(t, m.Bytes)
		t.Logf("case %d: %d bytes in %v", i, len(m.Bytes), time.Since(start))
	}
}
