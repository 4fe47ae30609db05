package template_test

import (
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
	in1, err := s.CompileInline(c)
	if err != nil {
		t.Fatal(err)
	}
	in2, err := s.CompileInline(c)
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
