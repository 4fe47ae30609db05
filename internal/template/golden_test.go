package template_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"path/filepath"
	"testing"

	"github.com/sesame-email/sesame/internal/template"
	"github.com/sesame-email/sesame/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// TestRenderGolden renders whole emails — subject, text and HTML — as a
// templated send does (the entry's data merged over the default data) and
// compares them with testdata/golden/<case>.json, which holds the template
// and the data beside what they render to, or the RenderError's sentence.
// Rewrite with go test -update, then read the diff.
func TestRenderGolden(t *testing.T) {
	receipt := template.Content{
		Subject: "Your order {{order.id}}, {{customer.name}}",
		Text: "Hello {{customer.name}},\n\n{{#each order.items}}{{@index}}. {{title}} x{{qty}}{{#if gift}} (gift){{/if}}\n{{/each}}" +
			"{{#unless order.paid}}Payment is still due.\n{{else}}Paid, thank you.\n{{/unless}}" +
			"{{#if customer.address}}Ships to {{customer.address.city}}.{{else}}Pick it up in store.{{/if}}\n",
		HTML: "<h1>Hello {{customer.name}}</h1>\n<ul>\n{{#each order.items}}  <li class=\"{{#if @last}}last{{/if}}\">{{title}} &times; {{qty}}</li>\n{{else}}  <li>Nothing</li>\n{{/each}}</ul>\n" +
			"<p>{{{footer}}}</p>\n<p>{{note}}</p>\n",
	}
	for _, c := range []struct {
		name           string
		content        template.Content
		defaults, data string
	}{
		{"receipt", receipt,
			`{"footer":"<a href=\"https://shop.example.test/help\">Help</a>","note":"","customer":{"name":"Friend"}}`,
			`{"customer":{"name":"Ana <ana@example.test> & \"co\"","address":{"city":"Porto"}},"note":"5' < 6\" = true` + "`" + `",` +
				`"order":{"id":"A-17","paid":false,"items":[{"title":"Tea & Biscuits","qty":2},{"title":"<Mug>","qty":1,"gift":true}]}}`},
		{"receipt-defaults", receipt, // the default name, no address, no items, paid
			`{"footer":"<b>Shop</b>","note":"n","customer":{"name":"Friend"}}`,
			`{"customer":{},"order":{"id":"B-2","paid":true,"items":[]}}`},
		{"missing-variable", receipt, `{}`, `{"customer":{"name":"Ana"},"order":{"id":"C-3","items":[]}}`},
		{"missing-in-each", receipt, `{"footer":"","note":""}`,
			`{"customer":{"name":"Ana"},"order":{"id":"D-4","paid":true,"items":[{"title":"Tea","qty":1},{"title":"Mug"}]}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			compiled, err := template.Compile(c.content)
			if err != nil {
				t.Fatal(err)
			}
			def, err := template.ParseData("DefaultTemplateData", c.defaults)
			if err != nil {
				t.Fatal(err)
			}
			data, err := template.ParseData("ReplacementTemplateData", c.data)
			if err != nil {
				t.Fatal(err)
			}
			out := struct {
				Template          template.Content
				DefaultData, Data json.RawMessage
				Rendered          *template.Content `json:",omitempty"`
				Error             string            `json:",omitempty"`
			}{Template: c.content, DefaultData: json.RawMessage(c.defaults), Data: json.RawMessage(c.data)}
			rendered, err := compiled.Render(template.Merge(def, data))
			var re *template.RenderError
			switch {
			case errors.As(err, &re):
				out.Error = re.Msg
			case err != nil:
				t.Fatal(err)
			default:
				out.Rendered = &rendered
			}
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false) // the golden files show the markup as it is
			if err := enc.Encode(out); err != nil {
				t.Fatal(err)
			}
			testkit.CheckJSONGolden(t, filepath.Join("testdata", "golden", c.name+".json"), b.Bytes(), *update)
		})
	}
}
