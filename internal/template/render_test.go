package template_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/template"
)

// render compiles src as a text part and renders it with the JSON data.
func render(t *testing.T, src, data string) (string, error) {
	t.Helper()
	c, err := template.Compile(template.Content{Text: src})
	if err != nil {
		return "", err
	}
	d, err := template.ParseData("TemplateData", data)
	if err != nil {
		t.Fatalf("data %s: %v", data, err)
	}
	out, err := c.Render(d)
	return out.Text, err
}

// checkRender renders src with data and wants the output want, or the
// RenderError errMsg when it is not empty.
func checkRender(t *testing.T, src, data, want, errMsg string) {
	t.Helper()
	got, err := render(t, src, data)
	if errMsg != "" {
		var re *template.RenderError
		if !errors.As(err, &re) || re.Msg != errMsg {
			t.Fatalf("error = %v (%T), want RenderError %q", err, err, errMsg)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestRender pins SES's Handlebars: what renders, and the sentence of a
// missing attribute.
func TestRender(t *testing.T) {
	const user = `{"name":"Ana","user":{"name":"Ana","city":"Porto","tags":["a","b"]},"items":[{"n":"x","qty":1},{"n":"y","qty":2.50}],"empty":[],"zero":0,"no":false,"nil":null,"html":"<b>&'\"=` + "`" + `</b>","obj":{"b":2,"a":1},"odd key":"odd"}`
	for _, tc := range []struct{ name, src, want, err string }{
		{"variable", "Hello {{name}}!", "Hello Ana!", ""},
		{"spaces in mustache", "{{ name }}", "Ana", ""},
		{"nested", "{{user.name}} from {{user.city}}", "Ana from Porto", ""},
		{"literal segment", "{{[odd key]}}", "odd", ""},
		{"slash path", "{{user/city}}", "Porto", ""},
		{"missing", "Hi {{nobody}}", "", "Attribute 'nobody' is not present in the rendering data."},
		{"missing nested leaf", "{{user.zip}}", "", "Attribute 'user.zip' is not present in the rendering data."},
		{"missing nested parent", "{{account.id}}", "", "Attribute 'account.id' is not present in the rendering data."},
		{"case-sensitive", "{{Name}}", "", "Attribute 'Name' is not present in the rendering data."},
		{"path through a string", "{{name.first}}", "", "Attribute 'name.first' is not present in the rendering data."},
		{"null renders empty", "[{{nil}}]", "[]", ""},
		{"escaped", "{{html}}", "&lt;b&gt;&amp;&#x27;&quot;&#x3D;&#x60;&lt;/b&gt;", ""},
		{"triple unescaped", "{{{html}}}", "<b>&'\"=`</b>", ""},
		{"ampersand unescaped", "{{& html}}", "<b>&'\"=`</b>", ""},
		{"numbers as spelled", "{{items.[1].qty}} {{zero}}", "2.50 0", ""},
		{"array index", "{{user.tags.[0]}}", "a", ""},
		{"array joined", "{{user.tags}}", "a,b", ""},
		{"object", "{{user}}", "[object Object]", ""},
		{"bool", "{{no}}", "false", ""},
		{"if true", "{{#if name}}yes{{/if}}", "yes", ""},
		{"if absent is false", "{{#if nobody}}yes{{else}}no{{/if}}", "no", ""},
		{"if falsy values", "{{#if zero}}1{{/if}}{{#if no}}2{{/if}}{{#if nil}}3{{/if}}{{#if empty}}4{{/if}}{{#if obj}}5{{/if}}", "5", ""},
		{"else if chain", "{{#if no}}a{{else if zero}}b{{else if name}}c{{else}}d{{/if}}", "c", ""},
		{"unless", "{{#unless nobody}}none{{/unless}}{{#unless name}}x{{else}}some{{/unless}}", "nonesome", ""},
		{"missing inside if body", "{{#if name}}{{nobody}}{{/if}}", "", "Attribute 'nobody' is not present in the rendering data."},
		{"missing in untaken branch", "{{#if no}}{{nobody}}{{/if}}ok", "ok", ""},
		{"each", "{{#each items}}{{@index}}:{{n}}x{{qty}}{{#unless @last}}, {{/unless}}{{/each}}", "0:xx1, 1:yx2.50", ""},
		{"each this", "{{#each user.tags}}[{{this}}{{#if @first}}*{{/if}}]{{/each}}", "[a*][b]", ""},
		{"each parent", "{{#each user.tags}}{{../name}}{{/each}}", "AnaAna", ""},
		{"each root", "{{#each user.tags}}{{@root.user.city}}{{/each}}", "PortoPorto", ""},
		{"each item context applies", "{{#each items}}{{name}}{{/each}}", "", "Attribute 'name' is not present in the rendering data."},
		{"each empty else", "{{#each empty}}x{{else}}none{{/each}}", "none", ""},
		{"each absent else", "{{#each nobody}}x{{else}}none{{/each}}", "none", ""},
		{"each object in key order", "{{#each obj}}{{@key}}={{this}};{{/each}}", "a=1;b=2;", ""},
		{"each block params", "{{#each items as |it i|}}{{i}}{{it.n}}{{/each}}", "0x1y", ""},
		{"with", "{{#with user}}{{city}}{{/with}}", "Porto", ""},
		{"with absent else", "{{#with nobody}}x{{else}}none{{/with}}", "none", ""},
		{"section over array", "{{#items}}{{n}}{{/items}}", "xy", ""},
		{"section over object", "{{#user}}{{city}}{{/user}}", "Porto", ""},
		{"inverse section", "{{^empty}}empty{{/empty}}", "empty", ""},
		{"lookup", "{{lookup user \"city\"}}{{#each items}}{{lookup ../user.tags @index}}{{/each}}", "Portoab", ""},
		{"lookup absent is empty", "[{{lookup user \"zip\"}}]", "[]", ""},
		{"lookup sub-expression", "{{#if (lookup user \"city\")}}yes{{/if}}", "yes", ""},
		{"comment", "a{{! not shown }}b{{!-- nor {{this}} --}}c", "abc", ""},
		{"standalone lines stripped", "{{#each user.tags}}\n- {{this}}\n{{/each}}\n", "- a\n- b\n", ""},
		{"whitespace control", "a  {{~name~}}  b", "aAnab", ""},
		{"literal", "{{#if true}}t{{/if}}", "t", ""},
		// log renders nothing, whatever its arguments (Handlebars.js logs them).
		{"log", `a{{log "x" name nobody level="warn"}}b{{log}}c{{{log name}}}d`, "abcd", ""},
		{"log sub-expression is undefined", "{{#if (log 1)}}t{{else}}f{{/if}}", "f", ""},
		// length is JavaScript's: an array's items, a string's UTF-16 code units.
		{"array length", "{{user.tags.length}} {{empty.length}} {{#if items.length}}y{{/if}}{{#if empty.length}}n{{/if}}", "2 0 y", ""},
		{"string length", "{{name.length}} {{html.length}}", "3 12", ""},
		{"length in each", "{{#each items}}{{@index}}/{{../items.length}} {{/each}}", "0/2 1/2 ", ""},
		{"length by lookup", `{{lookup user.tags "length"}}`, "2", ""},
		{"length of an object is its member", "[{{obj.length}}]", "", "Attribute 'obj.length' is not present in the rendering data."},
		{"length of a number", "[{{zero.length}}]", "", "Attribute 'zero.length' is not present in the rendering data."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkRender(t, tc.src, user, tc.want, tc.err)
		})
	}
}

// TestRenderParts pins that every part is rendered, and escaped, alike.
func TestRenderParts(t *testing.T) {
	c, err := template.Compile(template.Content{Subject: "Re: {{s}}", Text: "{{s}}", HTML: "<p>{{s}}</p>{{{s}}}"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Render(map[string]any{"s": "Tom & Jerry"})
	if err != nil {
		t.Fatal(err)
	}
	want := template.Content{Subject: "Re: Tom &amp; Jerry", Text: "Tom &amp; Jerry", HTML: "<p>Tom &amp; Jerry</p>Tom & Jerry"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	// An absent part stays absent.
	c, err = template.Compile(template.Content{HTML: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Render(nil); err != nil || got != (template.Content{HTML: "x"}) {
		t.Errorf("got %+v, %v", got, err)
	}
}

func TestCompileRefuses(t *testing.T) {
	for _, tc := range []struct{ name, src, msg string }{
		{"partial not defined", "{{> footer}}", `partial "footer" is not defined in this part`},
		{"partial defined in a comment only", `{{!-- {{#*inline "p"}}x{{/inline}} --}}{{> p}}`, `partial "p" is not defined`},
		{"partial defined in a raw block only", `{{{{raw}}}}{{#*inline "p"}}x{{/inline}}{{{{/raw}}}}{{> p}}`, `partial "p" is not defined`},
		{"partial defined after an escape only", `\{{#*inline "p"}}x\{{/inline}}{{> p}}`, `partial "p" is not defined`},
		{"partial block", "{{#> layout}}x{{/layout}}", "Unexpected character"},
		{"partial with two arguments", `{{#*inline "p"}}x{{/inline}}{{> p a b}}`, "at most one context argument"},
		{"dynamic partial by a helper", "{{> (whichPartial) }}", `unknown helper "whichPartial"`},
		{"partial argument by a helper", `{{#*inline "p"}}x{{/inline}}{{> p (upper a)}}`, `unknown helper "upper"`},
		{"other decorator", `{{#*foo "p"}}x{{/foo}}`, `unknown decorator "*foo"`},
		{"inline partial named by a path", `{{#*inline p}}x{{/inline}}`, "quoted string"},
		{"inline partial without a name", `{{#*inline}}x{{/inline}}`, "one argument"},
		{"inline partial with else", `{{#*inline "p"}}x{{else}}y{{/inline}}`, "no {{else}}"},
		{"inline partial with block params", `{{#*inline "p" as |x|}}x{{/inline}}`, "no block parameters"},
		{"inline partial unclosed", `{{#*inline "p"}}x`, "end of template"},
		{"inline partial closed by another", `{{#*inline "p"}}x{{/if}}`, "doesn't match"},
		{"unknown helper inside an inline partial", `{{#*inline "p"}}{{upper x}}{{/inline}}`, `unknown helper "upper"`},
		{"inline without the star is a helper", `{{#inline "p"}}x{{/inline}}`, `unknown helper "inline"`},
		{"decorator mustache", `{{* foo}}`, "Unexpected character"},
		{"log as a block", "{{#log a}}x{{/log}}", `"log" is not a block helper`},
		{"log with an unknown sub-expression", "{{log (upper a)}}", `unknown helper "upper"`},
		{"unknown helper", "{{uppercase name}}", `unknown helper "uppercase"`},
		{"unknown block helper", "{{#list items}}x{{/list}}", `unknown helper "list"`},
		{"unknown sub-expression", "{{#if (eq a b)}}x{{/if}}", `unknown helper "eq"`},
		{"hash argument", "{{#each items key=1}}x{{/each}}", "hash arguments"},
		{"if without argument", "{{#if}}x{{/if}}", "takes one argument"},
		{"helper as a variable", "{{each}}", "needs arguments"},
		{"block params on if", "{{#if a as |x|}}x{{/if}}", "block parameters"},
		{"unclosed block", "{{#if a}}x", "end of template"},
		{"mismatched close", "{{#if a}}x{{/each}} {{y}}", "doesn't match"},
		{"unclosed mustache", "Hi {{name", ""},
		{"bad path", "{{a/../b}}", "invalid path"},
		{"too deep", strings.Repeat("{{#if a}}", template.MaxDepth+1) + strings.Repeat("{{/if}}", template.MaxDepth+1), "nested too deeply"},
		{"else-if chain too deep", "{{#if a}}" + strings.Repeat("{{else if a}}", template.MaxDepth) + "{{/if}}", "nested too deeply"},
		{"sub-expressions too deep", "{{lookup " + strings.Repeat("(lookup ", template.MaxDepth+1) + "a b" + strings.Repeat(")", template.MaxDepth+1) + " c}}", "nested too deeply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := template.Compile(template.Content{Subject: "ok", HTML: tc.src})
			var ie *template.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error = %v (%T), want *InvalidError", err, err)
			}
			if !strings.Contains(ie.Msg, "HTML part") || !strings.Contains(ie.Msg, tc.msg) {
				t.Errorf("message %q does not name the part and %q", ie.Msg, tc.msg)
			}
		})
	}
	// An inline template may have 1 MB (a stored one 500 KB: the store's
	// tests).
	inline := template.Content{Text: strings.Repeat("x", template.MaxInlineTemplateBytes/2), HTML: strings.Repeat("x", template.MaxInlineTemplateBytes/2)}
	if _, err := template.Compile(inline); err != nil {
		t.Errorf("inline template of 1 MB: %v", err)
	}
	inline.HTML += "x"
	if _, err := template.Compile(inline); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("template over 1 MB: %v", err)
	}
}

// TestRenderBudgets: hostile templates and data end in a RenderError, not
// in unbounded time or memory.
func TestRenderBudgets(t *testing.T) {
	items := "[" + strings.TrimSuffix(strings.Repeat("1,", 1000), ",") + "]"
	data := `{"a":` + items + `,"s":"` + strings.Repeat("x", 100000) + `"}`
	for _, tc := range []struct{ name, src, msg string }{
		{"iterations", "{{#each a}}{{#each ../a}}{{/each}}{{/each}}", "iterates more than"},
		{"output size", "{{#each a}}{{../s}}{{/each}}", "exceeds"},
		{"steps", "{{#each a}}" + strings.Repeat("{{#if true}}{{/if}}", 5000) + "{{/each}}", "steps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.src, data)
			var re *template.RenderError
			if !errors.As(err, &re) || !strings.Contains(re.Msg, tc.msg) {
				t.Fatalf("error = %v, want RenderError with %q", err, tc.msg)
			}
		})
	}
}

// TestRenderBudgetsData: a statement whose work grows with the data it
// touches (a long string's length, a long number's truth, a large array
// formatted, a large object copied for a partial's hash) is charged for
// it, so that repeating it cannot take MaxSteps times that work.
func TestRenderBudgetsData(t *testing.T) {
	items := "[" + strings.TrimSuffix(strings.Repeat("1,", 1000), ",") + "]"
	big := "[" + strings.TrimSuffix(strings.Repeat("1,", 20000), ",") + "]"
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	var obj strings.Builder
	obj.WriteString("{")
	for i := range 5000 {
		if i > 0 {
			obj.WriteString(",")
		}
		fmt.Fprintf(&obj, `"k%d":0`, i)
	}
	obj.WriteString("}")
	for _, tc := range []struct{ name, src, data string }{
		{"string length", "{{#each a}}{{#if ../s.length}}{{/if}}{{/each}}", `"s":"` + strings.Repeat("x", 100000) + `"`},
		{"number", "{{#each a}}{{#if ../n}}{{/if}}{{/each}}", `"n":1` + strings.Repeat("0", 100000)},
		{"array as a key", "{{#each a}}{{#if (lookup ../this ../big)}}{{/if}}{{/each}}", `"big":` + big},
		{"nested array written", "{{#each a}}{{../deep}}{{/each}}", `"deep":` + deep},
		{"hash copy", `{{#*inline "p"}}{{/inline}}{{#each a}}{{> p ../o x=1}}{{/each}}`, `"o":` + obj.String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.src, `{"a":`+items+`,`+tc.data+`}`)
			var re *template.RenderError
			if !errors.As(err, &re) || !strings.Contains(re.Msg, "steps") {
				t.Fatalf("error = %v, want RenderError on the steps", err)
			}
		})
	}
}

func TestParseData(t *testing.T) {
	for _, tc := range []struct{ data, msg string }{
		{`{"a":1}`, ""},
		{` {"a":{"b":[1,2]}} `, ""},
		{`{"a":1`, "Unable to parse TemplateData (invalid JSON)"},
		{`{"a":1} {}`, "Unable to parse TemplateData (invalid JSON)"},
		{`[1,2]`, "TemplateData: it must be a JSON object"},
		{`"s"`, "TemplateData: it must be a JSON object"},
		{`null`, "TemplateData: it must be a JSON object"},
		{``, "Unable to parse TemplateData (invalid JSON)"},
		{`{"s":"` + strings.Repeat("é", template.MaxDataLen-8) + `"}`, ""},
		{`{"s":"` + strings.Repeat("é", template.MaxDataLen-7) + `"}`, "at most 262144 characters"},
	} {
		_, err := template.ParseData("TemplateData", tc.data)
		if tc.msg == "" {
			if err != nil {
				t.Errorf("%.40q: %v", tc.data, err)
			}
			continue
		}
		var de *template.DataError
		if !errors.As(err, &de) || de.Field != "TemplateData" || !strings.Contains(de.Msg, tc.msg) {
			t.Errorf("%.40q: error = %v, want DataError with %q", tc.data, err, tc.msg)
		}
	}
}

func TestMerge(t *testing.T) {
	def := map[string]any{"a": "default", "b": map[string]any{"x": 1, "z": map[string]any{"p": 1, "q": 2}}, "list": []any{1, 2}, "s": map[string]any{"k": 1}}
	repl := map[string]any{"b": map[string]any{"y": 2, "z": map[string]any{"q": 3}}, "c": "new", "list": []any{3}, "s": "scalar"}
	got := template.Merge(def, repl)
	want := map[string]any{"a": "default", "c": "new", "list": []any{3}, "s": "scalar",
		"b": map[string]any{"x": 1, "y": 2, "z": map[string]any{"p": 1, "q": 3}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Merge = %v\nwant objects merged recursively, arrays and scalars replaced whole: %v", got, want)
	}
	if b := def["b"].(map[string]any); len(b) != 2 || len(b["z"].(map[string]any)) != 2 {
		t.Error("Merge changed the default data")
	}
	if len(def) != 4 || len(repl) != 4 {
		t.Error("Merge changed its arguments")
	}
}

// TestPartials pins inline partials. The outputs are Handlebars.js
// 4.7.10's for the same template and data.
func TestPartials(t *testing.T) {
	const check = `{{#* inline "firstNameCheck"}}{{#if firstName}}{{firstName}}{{else}}Customer{{/if}}{{/inline}}<h1>Hello {{> firstNameCheck}}!</h1>`
	for _, tc := range []struct{ name, src, data, want, err string }{
		// SES's developer guide's example ("Advanced email personalization").
		{"ses example", check, `{"firstName":"Ana"}`, "<h1>Hello Ana!</h1>", ""},
		{"ses example absent", check, `{}`, "<h1>Hello Customer!</h1>", ""},
		{"used before defined", `{{> p}}{{#*inline "p"}}P{{/inline}}`, `{}`, "P", ""},
		{"context argument", `{{#*inline "addr"}}{{city}}{{/inline}}{{> addr user}}`, `{"user":{"city":"Porto"}}`, "Porto", ""},
		{"context argument absent", `{{#*inline "p"}}[{{this}}]{{/inline}}{{> p nobody}}`, `{}`, "[]", ""},
		{"context argument by sub-expression", `{{#*inline "p"}}{{this}}{{/inline}}{{> p (lookup items 1)}}`, `{"items":["a","b"]}`, "b", ""},
		{"data variables of the caller", `{{#*inline "li"}}{{@index}}{{@first}}:{{n}};{{/inline}}{{#each items}}{{> li}}{{#with this}}{{> li}}{{/with}}{{/each}}`, `{"items":[{"n":"x"},{"n":"y"}]}`, "0true:x;0true:x;1false:y;1false:y;", ""},
		{"root", `{{#*inline "p"}}{{@root.name}}{{/inline}}{{#each items}}{{> p}}{{/each}}`, `{"name":"A","items":[1,2]}`, "AA", ""},
		{"hash arguments over the context", `{{#*inline "p"}}{{a}}-{{b}}-{{city}}{{/inline}}{{> p user a=1 b=name}}`, `{"name":"Ana","user":{"city":"Porto","a":0}}`, "1-Ana-Porto", ""},
		{"hash arguments over the current context", `{{#*inline "p"}}{{a}}-{{name}}{{/inline}}{{> p a="x"}}`, `{"name":"Ana"}`, "x-Ana", ""},
		{"hash arguments over an array", `{{#*inline "p"}}{{[0]}}{{k}}{{/inline}}{{> p items k=1}}`, `{"items":["z"]}`, "z1", ""},
		{"escaping", `{{#*inline "p"}}{{v}}{{{v}}}{{/inline}}{{> p}}`, `{"v":"<b>"}`, "&lt;b&gt;<b>", ""},
		{"string and number names", `{{#*inline "my part"}}M{{/inline}}{{#*inline "1"}}one{{/inline}}{{> "my part"}}{{> 1}}`, `{}`, "Mone", ""},
		{"standalone definition and call", "a\n{{#*inline \"p\"}}\nP\n{{/inline}}\nb\n{{> p}}\n", `{}`, "a\nb\nP\n", ""},
		{"standalone call indents", "<ul>\n  {{> li}}\n</ul>\n{{#*inline \"li\"}}\n<li>{{name}}</li>\n<li>2</li>\n{{/inline}}\n", `{"name":"Ana"}`, "<ul>\n  <li>Ana</li>\n  <li>2</li>\n</ul>\n", ""},
		{"indents nest", "  {{> a}}\n{{#*inline \"a\"}}x\n  {{> b}}\ny\n{{/inline}}\n{{#*inline \"b\"}}1\n2\n{{/inline}}\n", `{}`, "  x\n    1\n    2\n  y\n", ""},
		{"whitespace control", `a {{~#*inline "p"~}} P {{~/inline~}} b{{> p}}`, `{}`, "abP", ""},
		{"defined in a block", `{{#each items}}{{#*inline "p"}}[{{n}}]{{/inline}}{{> p}}{{/each}}`, `{"items":[{"n":1},{"n":2}]}`, "[1][2]", ""},
		{"defined in an else", `{{#if no}}{{else}}{{#*inline "p"}}E{{/inline}}{{> p}}{{/if}}`, `{}`, "E", ""},
		{"not in scope outside its block", `{{#each items}}{{#*inline "p"}}[{{n}}]{{/inline}}{{/each}}{{> p}}`, `{"items":[{"n":1}]}`, "", "The partial p could not be found."},
		{"innermost wins", `{{#*inline "p"}}outer{{/inline}}{{#with u}}{{#*inline "p"}}inner{{/inline}}{{> p}}{{/with}}{{> p}}`, `{"u":{}}`, "innerouter", ""},
		{"later wins", `{{#*inline "p"}}1{{/inline}}{{#*inline "p"}}2{{/inline}}{{> p}}`, `{}`, "2", ""},
		{"scope of the caller", `{{#*inline "a"}}{{> b}}{{/inline}}{{#with u}}{{#*inline "b"}}B{{/inline}}{{> a}}{{/with}}`, `{"u":{}}`, "B", ""},
		{"defined in a partial", `{{#*inline "a"}}{{#*inline "b"}}b{{/inline}}a{{> b}}{{/inline}}{{> a}}`, `{}`, "ab", ""},
		{"recursive tree", `{{#*inline "node"}}{{name}}{{#if kids}}({{#each kids}}{{> node}}{{/each}}){{/if}}{{/inline}}{{> node tree}}`, `{"tree":{"name":"r","kids":[{"name":"a","kids":[{"name":"b"}]},{"name":"c"}]}}`, "r(a(b)c)", ""},
		{"dynamic name", `{{#*inline "x"}}X{{/inline}}{{> (lookup . "which")}}`, `{"which":"x"}`, "X", ""},
		{"dynamic name unknown", `{{#*inline "x"}}X{{/inline}}{{> (lookup . "which")}}`, `{"which":"y"}`, "", "The partial y could not be found."},
		{"text that looks like a definition", `{{!-- {{#*inline "p"}} --}}\{{#*inline "q"}}{{{{raw}}}}{{#*inline "r"}}{{{{/raw}}}}{{lookup . "{{#*"}}`, `{"{{#*":"s","raw":true}`, `{{#*inline "q"}}{{#*inline "r"}}s`, ""},
		// Where Handlebars.js renders nothing for an absent value, SES's
		// rule fails the render.
		{"nothing above a partial's context", `{{#*inline "p"}}[{{../name}}]{{/inline}}{{#each items}}{{> p}}{{/each}}`, `{"name":"A","items":[1]}`, "", "Attribute '../name' is not present in the rendering data."},
		{"no block parameters in a partial", `{{#each items as |it|}}{{#*inline "p"}}{{it.n}}{{/inline}}{{> p}}{{/each}}`, `{"items":[{"n":1}]}`, "", "Attribute 'it.n' is not present in the rendering data."},
		{"missing attribute in a partial", `{{#*inline "p"}}{{nobody}}{{/inline}}{{> p}}`, `{}`, "", "Attribute 'nobody' is not present in the rendering data."},
		// A dynamic name comes from the data: the error carries at most
		// 100 bytes of it.
		{"long dynamic name clipped", `{{#*inline "x"}}X{{/inline}}{{> (lookup . "which")}}`, `{"which":"` + strings.Repeat("é", 3000) + `"}`, "",
			"The partial " + strings.Repeat("é", 50) + "... could not be found."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkRender(t, tc.src, tc.data, tc.want, tc.err)
		})
	}
}

// TestPartialScopePerPart: each part is its own template string, so a
// partial defined in one part does not exist in another.
func TestPartialScopePerPart(t *testing.T) {
	def := `{{#*inline "greet"}}Hi {{name}}{{/inline}}`
	c, err := template.Compile(template.Content{Subject: def + "{{> greet}}", HTML: def + "<p>{{> greet}}</p>"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Render(map[string]any{"name": "Ana"})
	if err != nil || got != (template.Content{Subject: "Hi Ana", HTML: "<p>Hi Ana</p>"}) {
		t.Fatalf("got %+v, %v", got, err)
	}
	_, err = template.Compile(template.Content{Subject: "{{> greet}}", HTML: def})
	var ie *template.InvalidError
	if !errors.As(err, &ie) || !strings.Contains(ie.Msg, "subject") || !strings.Contains(ie.Msg, `partial "greet" is not defined`) {
		t.Fatalf("error = %v, want the subject's undefined partial", err)
	}
}

// TestPartialRecursion: a partial that includes itself, directly or
// through another, fails the render with a RenderError long before the
// stack is at risk; bounded recursion renders.
func TestPartialRecursion(t *testing.T) {
	for _, tc := range []struct{ name, src, msg string }{
		{"itself", `{{#*inline "p"}}x{{> p}}{{/inline}}{{> p}}`, "nested more than"},
		{"through another", `{{#*inline "a"}}{{> b}}{{/inline}}{{#*inline "b"}}{{> a}}{{/inline}}{{> a}}`, "nested more than"},
		{"inside blocks", `{{#*inline "p"}}{{#each items}}{{#with this}}{{> p @root}}{{/with}}{{/each}}{{/inline}}{{> p}}`, "nested more than"},
		{"fanning out", `{{#*inline "p"}}{{> p}}{{> p}}{{/inline}}{{> p}}`, "nested more than"},
		{"deepest blocks each time", `{{#*inline "p"}}` + strings.Repeat("{{#with this}}", template.MaxDepth-1) + "{{> p}}" +
			strings.Repeat("{{/with}}", template.MaxDepth-1) + `{{/inline}}{{> p}}`, "nested more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.src, `{"go":true,"items":[1,2]}`)
			var re *template.RenderError
			if !errors.As(err, &re) || !strings.Contains(re.Msg, tc.msg) {
				t.Fatalf("error = %v, want RenderError with %q", err, tc.msg)
			}
		})
	}
	// A tree as deep as MaxPartialDepth renders; one level more does not.
	tree := func(depth int) string {
		return strings.Repeat(`{"kids":[`, depth-1) + `{"kids":[]}` + strings.Repeat(`]}`, depth-1)
	}
	const src = `{{#*inline "node"}}({{#each kids}}{{> node}}{{/each}}){{/inline}}{{> node}}`
	got, err := render(t, src, tree(template.MaxPartialDepth))
	if want := strings.Repeat("(", template.MaxPartialDepth) + strings.Repeat(")", template.MaxPartialDepth); err != nil || got != want {
		t.Fatalf("tree %d deep: %q, %v", template.MaxPartialDepth, got, err)
	}
	if _, err := render(t, src, tree(template.MaxPartialDepth+1)); err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Fatalf("tree %d deep: %v", template.MaxPartialDepth+1, err)
	}
	// Fanning out under the depth bound (4^30 calls) ends on the steps
	// budget.
	_, err = render(t, `{{#*inline "p"}}{{#if kids.length}}{{> p kids.[0]}}{{> p kids.[0]}}{{> p kids.[0]}}{{> p kids.[0]}}{{/if}}{{/inline}}{{> p}}`, tree(30))
	if err == nil || !strings.Contains(err.Error(), "steps") {
		t.Fatalf("fan-out: %v", err)
	}
}
