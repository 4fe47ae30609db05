package template_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sesame-email/sesame/internal/template"
)

// TestStoreCompileCache: the same content compiles once; other content
// (an updated template) is compiled anew, never served from the old entry.
func TestStoreCompileCache(t *testing.T) {
	s := template.NewStore(nil, nil)
	a := template.Content{Subject: "Hi {{name}}", Text: "Hello {{name}}"}
	t1, err := s.Compile(a)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := s.Compile(a)
	if err != nil {
		t.Fatal(err)
	}
	if t1 != t2 {
		t.Error("the same content was compiled twice")
	}
	b := a
	b.Text = "Bye {{name}}"
	t3, err := s.Compile(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := t3.Render(map[string]any{"name": "Ann"})
	if err != nil || got.Text != "Bye Ann" {
		t.Errorf("updated content rendered %q, %v; want the new text", got.Text, err)
	}
	if _, err := s.Compile(template.Content{Text: "{{#if}}"}); err == nil {
		t.Error("content that does not compile was accepted")
	}
}

// TestStoreCompileInlineSeparate: inline content is cached apart from
// stored templates (filling one cannot flush the other), and the same
// inline content is compiled once.
func TestStoreCompileInlineSeparate(t *testing.T) {
	s := template.NewStore(nil, nil)
	c := template.Content{Text: "Hello {{name}}"}
	stored, err := s.Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	in1, err := s.CompileInline(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	in2, err := s.CompileInline(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	if in1 != in2 {
		t.Error("the same inline content was compiled twice")
	}
	if in1 == stored {
		t.Error("inline content came from the stored templates' cache")
	}
}

// TestCompileInlineWaits: inline content is parsed at most
// MaxInlineTemplateBytes at a time; a caller whose context ends while it
// waits gets its error, and content already compiled needs no wait.
func TestCompileInlineWaits(t *testing.T) {
	s := template.NewStore(nil, nil)
	small := template.Content{Text: "Hello {{name}}"}
	if _, err := s.CompileInline(t.Context(), small); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.CompileInline(ctx, small); err != nil {
		t.Errorf("cached content waited: %v", err)
	}
	if _, err := s.CompileInline(ctx, template.Content{Text: "Bye {{name}}"}); !errors.Is(err, context.Canceled) {
		t.Errorf("a new content with an ended context: %v, want context.Canceled", err)
	}
}
