package template

import (
	"errors"
	"testing"

	"github.com/mailgun/raymond/v2/parser"
)

// FuzzCompileRender feeds hostile templates and data through Compile,
// Render and ParseData: nothing panics, errors have their types, and
// raymond's parser accepts whatever checkSyntax accepts (a template the
// parser refuses after checkSyntax accepted it would leak the parser's
// lexer goroutine).
func FuzzCompileRender(f *testing.F) {
	for _, s := range []struct{ tpl, data string }{
		{"Hello {{name}}", `{"name":"x"}`},
		{"{{#each items}}{{@index}} {{this.n}}{{else}}none{{/each}}", `{"items":[{"n":1},{"n":"<b>"}]}`},
		{"{{#if a}}{{{b}}}{{else if c}}{{d.e}}{{/if}}", `{"a":false,"c":true,"d":{"e":[1,2]}}`},
		{"{{#with u as |x|}}{{x.n}}{{../u.n}}{{/with}}", `{"u":{"n":"k"}}`},
		{"{{lookup a (lookup b 'k')}}{{> p}}", `{"a":{},"b":{"k":"z"}}`},
		{"{{#a}}{{^b}}x{{/b}}{{/a}}{{! c }}{{{{raw}}}}{{y}}{{{{/raw}}}}", `{"a":[1,[2]]}`},
		{"{{#if a}}{{/each}} {{x}}", `{}`},
		{"{{a/../b}} {{@root.x}} {{[a b].c}} {{~x~}}", `{"x":1}`},
	} {
		f.Add(s.tpl, s.data)
	}
	f.Fuzz(func(t *testing.T, tpl, data string) {
		if len(tpl) > 4096 {
			return
		}
		// Only in this direction: raymond refusing a template leaks a
		// goroutine, which is what checkSyntax is there to prevent.
		if checkSyntax(tpl) == nil {
			if _, err := parser.Parse(tpl); err != nil {
				t.Fatalf("checkSyntax accepts %q, raymond refuses it: %v", tpl, err)
			}
		}
		c, err := Compile(Content{Subject: tpl, HTML: tpl})
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("Compile error %T %v", err, err)
			}
			return
		}
		d, err := ParseData("TemplateData", data)
		if err != nil {
			d = map[string]any{"a": []any{"x", map[string]any{"b": true}}, "name": "n"}
		}
		if _, err := c.Render(d); err != nil {
			var re *RenderError
			if !errors.As(err, &re) {
				t.Fatalf("Render error %T %v", err, err)
			}
		}
	})
}
