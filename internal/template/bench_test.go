package template_test

import (
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/template"
)

// BenchmarkRender: one render of a typical order mail (the bulk path
// compiles once and renders per entry).
func BenchmarkRender(b *testing.B) {
	benchRender(b, template.Content{Subject: "Order {{order.id}} for {{name}}",
		Text: "Hi {{name}},\n{{#each items}}- {{name}} x{{qty}}\n{{/each}}{{#if note}}{{note}}{{/if}}",
		HTML: "<p>Hi {{name}},</p><ul>{{#each items}}<li>{{name}} &times; {{qty}}</li>{{/each}}</ul>" + strings.Repeat("<p>footer</p>", 50)})
}

const benchData = `{"name":"Ana","order":{"id":"A-1"},"items":[{"name":"tea","qty":2},{"name":"cake","qty":1},{"name":"jam","qty":3}],"note":""}`

// benchRender compiles c once and renders it with benchData per loop.
func benchRender(b *testing.B, c template.Content) {
	t, err := template.Compile(c)
	if err != nil {
		b.Fatal(err)
	}
	d, err := template.ParseData("TemplateData", benchData)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := t.Render(d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompile: checkSyntax and raymond's parser over a 500 KB
// template, the largest SES allows.
func BenchmarkCompile(b *testing.B) {
	html := strings.Repeat("<p>{{#if a}}{{b.c}}{{else}}x{{/if}}</p>\n", template.MaxTemplateBytes/45)
	for b.Loop() {
		if _, err := template.Compile(template.Content{HTML: html}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderPartials: the order mail with its rows as an inline
// partial, standalone (so indented) and called per item.
func BenchmarkRenderPartials(b *testing.B) {
	benchRender(b, template.Content{Subject: "Order {{order.id}} for {{name}}",
		Text: "{{#*inline \"row\"}}\n- {{name}} x{{qty}}\n{{/inline}}\nHi {{name}},\n{{#each items}}\n  {{> row}}\n{{/each}}\n",
		HTML: "{{#*inline \"row\"}}<li>{{name}} &times; {{qty}}</li>{{/inline}}<p>Hi {{name}},</p><ul>{{#each items}}{{> row}}{{/each}}</ul>" + strings.Repeat("<p>footer</p>", 50)})
}
