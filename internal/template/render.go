package template

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/mailgun/raymond/v2/ast"
)

// Render fills the template's parts from data. A variable the template
// outputs ({{name}}, {{{name}}}) that is absent from the data is a
// *RenderError with SES's sentence, "Attribute 'name' is not present in
// the rendering data." (a nested path is named as written: 'user.name');
// in the argument of if, unless, each and with an absent value is just
// false or empty, as in Handlebars. {{ }} escapes HTML in every part, as
// Handlebars does; {{{ }}} does not. Exceeding MaxRenderedBytes,
// MaxIterations or MaxSteps is a *RenderError too.
func (t *Compiled) Render(data map[string]any) (c Content, err error) {
	r := &renderer{root: data}
	defer func() {
		// A bug of the walk must fail this render, not the process.
		if p := recover(); p != nil {
			c, err = Content{}, &RenderError{Msg: fmt.Sprintf("Rendering failed: %v", p)}
		}
	}()
	for _, p := range []struct {
		part *part
		dst  *string
	}{{t.subject, &c.Subject}, {t.text, &c.Text}, {t.html, &c.HTML}} {
		if *p.dst, err = r.part(p.part); err != nil {
			return Content{}, err
		}
	}
	return c, nil
}

// renderer is the state of one Render.
type renderer struct {
	root  map[string]any
	out   strings.Builder
	size  int // bytes rendered so far, all parts
	iters int
	steps int

	inlines      map[*ast.Program]map[string]*ast.Program // the part's inline partials
	scopes       []map[string]*ast.Program                // the inline partials in scope, innermost last
	partialDepth int
	indent       string // of the standalone partials being rendered
	lineStart    bool   // the output is at the start of a line, for indent
}

// frame is one context of the walk: the value {{this}} is, the data
// variables (@index, @key, @first, @last) and block parameters in scope.
// parent is the enclosing context, which ../ reaches.
type frame struct {
	ctx    any
	parent *frame
	data   map[string]any
	params map[string]any
}

func renderError(format string, args ...any) error {
	return &RenderError{Msg: fmt.Sprintf(format, args...)}
}

func (r *renderer) part(p *part) (string, error) {
	if p == nil {
		return "", nil
	}
	r.out.Reset()
	r.inlines, r.scopes = p.inlines, nil
	err := r.program(p.prog, &frame{ctx: r.root})
	if r.steps > MaxSteps {
		// Past the budget, costly scans were skipped (charge): whatever
		// the walk ended with, the render failed on its steps.
		err = errSteps()
	}
	if err != nil {
		return "", err
	}
	return r.out.String(), nil
}

func errSteps() error {
	return renderError("Rendering failed: the template takes more than %d steps to render.", MaxSteps)
}

// bytesPerStep is how many bytes of a value scanned (a string's length,
// a number's truth, an array formatted) count as one step.
const bytesPerStep = 16

// charge counts n steps of work that a statement does in proportion to
// the data it touches, so that a template cannot repeat one costly scan
// of large data for each of its MaxSteps statements. It reports whether
// the budget still holds; when it does not, the caller skips the work
// (part then fails the render on its steps).
func (r *renderer) charge(n int) bool {
	r.steps += n
	return r.steps <= MaxSteps
}

func (r *renderer) write(s string) error {
	if r.indent != "" {
		s = r.indentText(s)
	}
	r.size += len(s)
	if r.size > MaxRenderedBytes {
		return renderError("Rendering failed: the rendered template exceeds %d bytes.", MaxRenderedBytes)
	}
	r.out.WriteString(s)
	return nil
}

func (r *renderer) program(p *ast.Program, f *frame) error {
	if p == nil {
		return nil
	}
	if defs := r.inlines[p]; defs != nil {
		r.scopes = append(r.scopes, defs)
		defer func() { r.scopes = r.scopes[:len(r.scopes)-1] }()
	}
	for _, n := range p.Body {
		if !r.charge(1) {
			return errSteps()
		}
		var err error
		switch n := n.(type) {
		case *ast.ContentStatement:
			err = r.write(n.Value)
		case *ast.MustacheStatement:
			err = r.mustache(n, f)
		case *ast.BlockStatement:
			err = r.block(n, f)
		case *ast.PartialStatement:
			err = r.partial(n, f)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// mustache writes {{expr}} escaped or {{{expr}}} as it is. Its value must
// be present in the data (lookup's may be absent, as in Handlebars). The
// log helper writes nothing (Handlebars.js logs its arguments to the
// console; here nobody would read them).
func (r *renderer) mustache(n *ast.MustacheStatement, f *frame) error {
	e := n.Expression
	var v any
	if e.HelperName() == helperLog {
		return nil
	}
	if isLookup(e) {
		v = r.expr(e, f)
	} else {
		var ok bool
		if v, ok = r.value(e.Path, f); !ok {
			return renderError("Attribute '%s' is not present in the rendering data.", pathName(e.Path))
		}
	}
	s := r.format(v)
	if !n.Unescaped {
		s = escapeHTML(s)
	}
	return r.write(s)
}

func isLookup(e *ast.Expression) bool {
	return e.HelperName() == helperLookup && len(e.Params) == 2
}

// expr evaluates a helper argument's expression; absent is nil
// (undefined).
func (r *renderer) expr(e *ast.Expression, f *frame) any {
	if e.HelperName() == helperLog {
		return nil
	}
	if isLookup(e) {
		v, _ := r.child(r.param(e.Params[0], f), r.format(r.param(e.Params[1], f)))
		return v
	}
	v, _ := r.value(e.Path, f)
	return v
}

// param evaluates a helper argument: absent is nil (undefined).
func (r *renderer) param(n ast.Node, f *frame) any {
	if s, ok := n.(*ast.SubExpression); ok {
		return r.expr(s.Expression, f)
	}
	v, _ := r.value(n, f)
	return v
}

func pathName(n ast.Node) string {
	if p, ok := n.(*ast.PathExpression); ok {
		return p.Original
	}
	return fmt.Sprint(n)
}

// value evaluates a path or literal; ok is false when a path is absent.
func (r *renderer) value(n ast.Node, f *frame) (any, bool) {
	switch n := n.(type) {
	case *ast.StringLiteral:
		return n.Value, true
	case *ast.BooleanLiteral:
		return n.Value, true
	case *ast.NumberLiteral:
		return json.Number(n.Original), true
	case *ast.PathExpression:
		return r.path(n, f)
	}
	return nil, false
}

// path resolves a path expression in frame f.
func (r *renderer) path(p *ast.PathExpression, f *frame) (any, bool) {
	parts := p.Parts
	var v any
	switch {
	case p.Data:
		if len(parts) == 0 {
			return nil, false
		}
		if parts[0] == "root" {
			v = r.root
		} else {
			found := false
			for g := f; g != nil && !found; g = g.parent {
				v, found = g.data[parts[0]]
			}
			if !found {
				return nil, false
			}
		}
		parts = parts[1:]
	case !p.Scoped && p.Depth == 0 && len(parts) > 0 && hasParam(f, parts[0]):
		for g := f; g != nil; g = g.parent {
			if pv, ok := g.params[parts[0]]; ok {
				v = pv
				break
			}
		}
		parts = parts[1:]
	default:
		g := f
		for range p.Depth {
			if g.parent != nil {
				g = g.parent
			}
		}
		v = g.ctx
	}
	for _, part := range parts {
		if len(part) >= 2 && part[0] == '[' && part[len(part)-1] == ']' {
			part = part[1 : len(part)-1] // a literal segment: items.[0], [first name]
		}
		var ok bool
		if v, ok = r.child(v, part); !ok {
			return nil, false
		}
	}
	return v, true
}

func hasParam(f *frame, name string) bool {
	for g := f; g != nil; g = g.parent {
		if _, ok := g.params[name]; ok {
			return true
		}
	}
	return false
}

// child is v's member key: an object's key, an array's index, or an
// array's or a string's length, as JavaScript has them (a string's in
// UTF-16 code units: "é" is 1, an emoji 2; counting them is charged).
func (r *renderer) child(v any, key string) (any, bool) {
	switch v := v.(type) {
	case map[string]any:
		c, ok := v[key]
		return c, ok
	case string:
		if key == "length" {
			if !r.charge(len(v) / bytesPerStep) {
				return nil, false
			}
			return json.Number(strconv.Itoa(utf16Len(v))), true
		}
	case []any:
		if key == "length" {
			return json.Number(strconv.Itoa(len(v))), true
		}
		i, err := strconv.Atoi(key)
		if err != nil || i < 0 || i >= len(v) {
			return nil, false
		}
		return v[i], true
	}
	return nil, false
}

// block renders a block statement: a built-in block helper or a section.
func (r *renderer) block(b *ast.BlockStatement, f *frame) error {
	e := b.Expression
	name := e.HelperName()
	switch name {
	case helperIf, helperUnless:
		if r.truthy(r.param(e.Params[0], f)) == (name == helperIf) {
			return r.program(b.Program, f)
		}
		return r.program(b.Inverse, f)
	case helperEach:
		return r.each(b, r.param(e.Params[0], f), f)
	case helperWith:
		v := r.param(e.Params[0], f)
		if !r.truthy(v) {
			return r.program(b.Inverse, f)
		}
		g := &frame{ctx: v, parent: f}
		if b.Program != nil && len(b.Program.BlockParams) > 0 {
			g.params = map[string]any{b.Program.BlockParams[0]: v}
		}
		return r.program(b.Program, g)
	}
	// A section: each for arrays, with for objects, if otherwise.
	v, _ := r.value(e.Path, f)
	switch v := v.(type) {
	case []any:
		return r.each(b, v, f)
	case map[string]any:
		return r.program(b.Program, &frame{ctx: v, parent: f})
	}
	if r.truthy(v) {
		return r.program(b.Program, f)
	}
	return r.program(b.Inverse, f)
}

// each renders b's program once per item of an array or object (objects
// in key order: the data's own order is not kept), or b's inverse when
// there is none.
func (r *renderer) each(b *ast.BlockStatement, v any, f *frame) error {
	var bp []string
	if b.Program != nil {
		bp = b.Program.BlockParams
	}
	iter := func(i, n int, key, item any) error {
		r.iters++
		if r.iters > MaxIterations {
			return renderError("Rendering failed: the template iterates more than %d times.", MaxIterations)
		}
		g := &frame{ctx: item, parent: f, data: map[string]any{
			"index": json.Number(strconv.Itoa(i)), "key": key, "first": i == 0, "last": i == n-1,
		}}
		if len(bp) > 0 {
			g.params = map[string]any{bp[0]: item}
			if len(bp) > 1 {
				g.params[bp[1]] = key
			}
		}
		return r.program(b.Program, g)
	}
	switch v := v.(type) {
	case []any:
		if len(v) > 0 {
			for i, item := range v {
				if err := iter(i, len(v), json.Number(strconv.Itoa(i)), item); err != nil {
					return err
				}
			}
			return nil
		}
	case map[string]any:
		if len(v) > 0 {
			keys := slices.Sorted(maps.Keys(v))
			for i, k := range keys {
				if err := iter(i, len(keys), k, v[k]); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return r.program(b.Inverse, f)
}

// truthy is Handlebars's if: false, null, absent, "", 0 and [] are false.
// Reading a number is charged (its spelling may be long).
func (r *renderer) truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	case json.Number:
		if !r.charge(len(v) / bytesPerStep) {
			return false
		}
		x, err := v.Float64()
		return err != nil || x != 0
	case []any:
		return len(v) > 0
	}
	return true
}

// format is a value as Handlebars writes it: JSON numbers as spelled,
// arrays as their items joined by commas (each value visited and each
// byte written charged), objects as [object Object].
func (r *renderer) format(v any) string {
	a, ok := v.([]any)
	if !ok {
		return format(v)
	}
	if r.steps > MaxSteps {
		return ""
	}
	var b strings.Builder
	n := formatArray(&b, a)
	r.charge(n + b.Len()/bytesPerStep)
	return b.String()
}

// formatArray writes a's items to b joined by commas, nested arrays
// flattened as JavaScript's Array.prototype.toString does; n is how
// many values it visited.
func formatArray(b *strings.Builder, a []any) (n int) {
	for i, item := range a {
		n++
		if i > 0 {
			b.WriteByte(',')
		}
		if sub, ok := item.([]any); ok {
			n += formatArray(b, sub)
		} else {
			b.WriteString(format(item))
		}
	}
	return n
}

// format is a value other than an array as Handlebars writes it.
func format(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	case map[string]any:
		return "[object Object]"
	}
	return fmt.Sprint(v)
}

// htmlEscaper escapes as Handlebars's escapeExpression does.
var htmlEscaper = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#x27;", "`", "&#x60;", "=", "&#x3D;",
)

func escapeHTML(s string) string { return htmlEscaper.Replace(s) }

// utf16Len is s's length in UTF-16 code units, JavaScript's String length.
func utf16Len(s string) int {
	n := 0
	for _, c := range s {
		n += utf16.RuneLen(c)
	}
	return n
}
