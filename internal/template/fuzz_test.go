package template

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mailgun/raymond/v2/parser"
)

// checkAgreement does what compilePart does before parsing and fails t
// when raymond's parser refuses a source checkSyntax accepted: that would
// leak the parser's lexer goroutine, which is what checkSyntax is there to
// prevent. Only in this direction.
func checkAgreement(t *testing.T, tpl string) {
	t.Helper()
	marked, cands := markDecorators(tpl)
	decos, _, err := checkSyntax(marked, cands)
	if err != nil {
		return
	}
	final := unmarkDecorators(tpl, decos)
	if len(decos) < len(cands) {
		// A {{#* that is text, not an opener, keeps its '*' without
		// changing how the rest lexes.
		if again, _, err := checkSyntax(final, cands); err != nil || len(again) != len(decos) {
			t.Fatalf("%q: the openers %v lex differently once the others keep their '*': %v, %v", tpl, decos, again, err)
		}
	}
	if _, err := parser.Parse(final); err != nil {
		t.Fatalf("checkSyntax accepts %q, raymond refuses it: %v", final, err)
	}
}

// compileRender compiles tpl as two parts and renders it: nothing panics
// and errors have their types.
func compileRender(t *testing.T, tpl string, d map[string]any) {
	t.Helper()
	c, err := Compile(Content{Subject: tpl, HTML: tpl})
	if err != nil {
		var ie *InvalidError
		if !errors.As(err, &ie) {
			t.Fatalf("Compile error %T %v", err, err)
		}
		return
	}
	if _, err := c.Render(d); err != nil {
		var re *RenderError
		if !errors.As(err, &re) {
			t.Fatalf("Render error %T %v", err, err)
		}
	}
}

var fuzzData = map[string]any{"a": []any{"x", map[string]any{"b": true}}, "name": "n", "items": []any{map[string]any{"n": "i"}, "s"}}

// FuzzCompileRender feeds hostile templates and data through Compile,
// Render and ParseData: nothing panics, errors have their types, and
// raymond's parser accepts whatever checkSyntax accepts.
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
		{`{{#*inline "p"}}<{{n}}>{{/inline}}{{#each a}}{{> p}}{{> p n=@index}}{{/each}}`, `{"a":[{"n":1},{"n":2}]}`},
		{`{{#* inline "t"}}{{#each c}}{{> t}}{{/each}}{{/inline}}{{> t}}{{> (lookup . "k") x}}`, `{"c":[{"c":[]}],"k":"t"}`},
		{`{{!-- {{#*inline "c"}} --}}\{{#*inline "e"}}{{{{r}}}}{{#*inline "r"}}{{{{/r}}}}{{x "{{#*"}}`, `{}`},
		{"  {{~#*inline 'p'}}\n{{a.length}}{{log a x=1}}{{/inline}}\n  {{> p}}\n", `{"a":"héllo"}`},
	} {
		f.Add(s.tpl, s.data)
	}
	f.Fuzz(func(t *testing.T, tpl, data string) {
		if len(tpl) > 4096 {
			return
		}
		checkAgreement(t, tpl)
		d, err := ParseData("TemplateData", data)
		if err != nil {
			d = fuzzData
		}
		compileRender(t, tpl, d)
	})
}

// partialPieces are what FuzzPartials builds templates of: inline partial
// definitions (nested, recursive, in blocks), calls (static, dynamic,
// with a context and hash arguments), and the text that only looks like
// a definition (comments, raw blocks, escapes, strings).
var partialPieces = []string{
	`{{#*inline "a"}}`, `{{#* inline "b"}}`, `{{~#*inline "a"~}}`, `{{/inline}}`,
	`{{> a}}`, `{{> b}}`, `{{> a items}}`, `{{> b n=name}}`, `{{> (lookup . "which")}}`, "  {{> a}}\n",
	`{{#each items}}`, `{{/each}}`, `{{#if name}}`, `{{else}}`, `{{/if}}`, `{{#with a}}`, `{{/with}}`,
	`{{name}}`, `{{n}}`, `{{items.length}}`, `{{name.length}}`, `{{log name}}`, `{{@index}}`, `{{../name}}`,
	`{{!-- {{#*inline "a"}} --}}`, `\{{#*inline "c"}}`, `{{{{raw}}}}{{#*inline "d"}}{{{{/raw}}}}`, `{{lookup . "{{#*"}}`,
	"x", "\n", "{{", "}}", "{{#*", `"`,
}

// FuzzPartials builds templates from partialPieces, one piece a byte, so
// the fuzzer explores inline partials' structure rather than their
// spelling: nothing panics, errors have their types, raymond agrees with
// checkSyntax, and recursion ends in a RenderError.
func FuzzPartials(f *testing.F) {
	f.Add([]byte{0, 4, 3, 4})
	f.Add([]byte{0, 10, 4, 11, 3, 4, 5})
	f.Add([]byte{1, 5, 6, 3, 0, 17, 3, 9, 24, 25, 26, 27})
	f.Add([]byte{2, 8, 3, 1, 7, 19, 3, 12, 4, 14, 9, 15, 18})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 256 {
			return
		}
		var b strings.Builder
		for _, op := range ops {
			b.WriteString(partialPieces[int(op)%len(partialPieces)])
		}
		tpl := b.String()
		checkAgreement(t, tpl)
		compileRender(t, tpl, map[string]any{"name": "n", "which": "a", "items": []any{map[string]any{"n": 1}, map[string]any{"n": "<2>"}}, "a": map[string]any{"n": 3}})
	})
}

// TestNoGoroutineLeak compiles and renders the fuzz seeds and broken
// templates many times: raymond's lexer goroutines all end.
func TestNoGoroutineLeak(t *testing.T) {
	tpls := []string{
		`{{#*inline "p"}}{{/inline}}{{> p}}`, `{{#*inline "p"}}{{/if}}`, `{{#*inline p}}x{{/inline}}`,
		`{{#*inline "p"}}`, `{{> q}}`, `{{!-- {{#*inline "c"}} --}}{{#*inline "c"}}{{x`, `{{#*`, `{{* x}}`,
		`{{#*inline "a"}}{{> a}}{{/inline}}{{> a}}`, `\{{#*inline "e"}}{{/inline}}`,
	}
	before := runtime.NumGoroutine()
	for range 20 {
		for _, tpl := range tpls {
			compileRender(t, tpl, fuzzData)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Fatalf("%d goroutines after %d compiles, %d before", n, 20*len(tpls), before)
	}
}
