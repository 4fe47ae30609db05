package template

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mailgun/raymond/v2/ast"
)

// Inline partials, as SES's developer guide shows them ("Advanced email
// personalization"): a part defines {{#*inline "name"}}...{{/inline}} and
// uses it with {{> name}}, {{> name context}} or {{> name key=value}}.
// SES has no other partials: none can be registered by name, so a
// {{> name}} the part does not define is refused at Compile.
//
// raymond's lexer cannot read the decorator opener {{#*, so compilePart
// first turns the '*' of every real opener into a space (markDecorators,
// checkSyntax): raymond then parses the definition as a block named
// "inline", which checker.collectInline takes out of the program it is in
// and keeps as that program's definitions. A dynamic name, {{> (lookup . "k")}},
// is looked up when rendering: none in scope is a *RenderError, "The
// partial k could not be found.", Handlebars.js's sentence.
//
// Scope is Handlebars.js's: a definition belongs to the program (the part,
// or a block's body, or another partial's body) it is written in, is
// visible in all of that program from its start, and stays visible in
// whatever that program renders, partials included, while it runs; the
// innermost definition of a name wins, and of two in one program the
// later. Each part (subject, text, HTML) is its own template string, so a
// partial defined in the HTML part does not exist in the subject.

// MaxPartialDepth bounds how deep partials render inside one another, so
// a partial that includes itself (directly or through another) fails the
// render cleanly instead of exhausting the stack. Handlebars.js has no
// such bound; it fails only when JavaScript's stack does.
const MaxPartialDepth = 64

const (
	decoratorInline = "inline"
	helperLog       = "log"
)

// markDecorators returns src with the '*' of every candidate decorator
// opener ({{#* or {{~#*) turned into a space, and the candidates' offsets
// (of their "{{"). Which candidates are real openers, and not text of a
// comment, a raw block, an escaped \{{ or a string, only raymond's lexer
// can tell: checkSyntax reports them.
func markDecorators(src string) (string, []int) {
	var cands []int
	b := []byte(nil)
	for i := 0; ; {
		j := strings.Index(src[i:], "{{")
		if j < 0 {
			break
		}
		at := i + j
		k := at + 2
		if k < len(src) && src[k] == '~' {
			k++
		}
		if k+1 < len(src) && src[k] == '#' && src[k+1] == '*' {
			if b == nil {
				b = []byte(src)
			}
			b[k+1] = ' '
			cands = append(cands, at)
		}
		i = at + 1
	}
	if b == nil {
		return src, nil
	}
	return string(b), cands
}

// unmarkDecorators returns src with the '*' of the openers at offsets
// decos (a subset of markDecorators's candidates) turned into a space.
func unmarkDecorators(src string, decos map[int]bool) string {
	if len(decos) == 0 {
		return src
	}
	b := []byte(src)
	for at := range decos {
		k := at + 2
		if b[k] == '~' {
			k++
		}
		b[k+1] = ' '
	}
	return string(b)
}

// part is one compiled part: its program and the inline partials each of
// its programs defines.
type part struct {
	prog    *ast.Program
	inlines map[*ast.Program]map[string]*ast.Program
	tokens  int // in its source
}

// partialRef is a {{> name}} with a static name, checked once the whole
// part has been walked.
type partialRef struct {
	name string
	line int
}

// collectInline takes the inline partial definition b out of the program
// in which it is written and records it there.
func (c *checker) collectInline(in *ast.Program, b *ast.BlockStatement) error {
	e := b.Expression
	line := e.Line
	if e.HelperName() != decoratorInline {
		return fmt.Errorf("line %d: unknown decorator %q (only {{#*inline \"name\"}} exists)", line, "*"+e.Canonical())
	}
	if len(e.Params) != 1 || e.Hash != nil {
		return fmt.Errorf("line %d: an inline partial takes one argument, its quoted name", line)
	}
	name, ok := e.Params[0].(*ast.StringLiteral)
	if !ok {
		return fmt.Errorf("line %d: the name of an inline partial must be a quoted string", line)
	}
	if len(b.Program.BlockParams) > 0 {
		return fmt.Errorf("line %d: an inline partial takes no block parameters", line)
	}
	if b.Inverse != nil {
		return fmt.Errorf("line %d: an inline partial has no {{else}}", line)
	}
	if c.inlines[in] == nil {
		c.inlines[in] = map[string]*ast.Program{}
	}
	c.inlines[in][name.Value] = b.Program // the later of two wins, as in Handlebars.js
	c.defined[name.Value] = true
	return c.walk(b.Program)
}

// checkPartial checks a {{> name}}: a static name is known once the part
// is walked; a dynamic one, {{> (expr)}}, only when rendering.
func (c *checker) checkPartial(n *ast.PartialStatement) error {
	if len(n.Params) > 1 {
		return fmt.Errorf("line %d: a partial takes at most one context argument", n.Line)
	}
	if err := checkParams(n.Params); err != nil {
		return err
	}
	if err := checkHash(n.Hash); err != nil {
		return err
	}
	if s, ok := n.Name.(*ast.SubExpression); ok {
		return checkExpr(s.Expression, true)
	}
	name, ok := ast.HelperNameStr(n.Name)
	if !ok {
		return fmt.Errorf("line %d: a partial needs a name", n.Line)
	}
	c.refs = append(c.refs, partialRef{name, n.Line})
	return nil
}

// checkRefs refuses a static partial name the part defines nowhere.
func (c *checker) checkRefs() error {
	for _, r := range c.refs {
		if !c.defined[r.name] {
			return fmt.Errorf("line %d: partial %q is not defined in this part (SES has only inline partials, {{#*inline %q}}...{{/inline}})", r.line, r.name, r.name)
		}
	}
	return nil
}

func checkHash(h *ast.Hash) error {
	if h == nil {
		return nil
	}
	for _, p := range h.Pairs {
		if err := checkParams([]ast.Node{p.Val}); err != nil {
			return err
		}
	}
	return nil
}

// partial renders {{> name ...}}: the innermost definition of name in
// scope, with the context argument (or the current context) overlaid by
// the hash arguments, and the caller's @index, @key, @first and @last.
// As in Handlebars.js, nothing is above a partial's context (../ reaches
// no value) and no block parameter is in scope in it.
func (r *renderer) partial(n *ast.PartialStatement, f *frame) error {
	var name string
	if s, ok := n.Name.(*ast.SubExpression); ok {
		name = r.format(r.expr(s.Expression, f))
	} else {
		name, _ = ast.HelperNameStr(n.Name)
	}
	var body *ast.Program
	found := false
	for i := len(r.scopes) - 1; i >= 0 && !found; i-- {
		body, found = r.scopes[i][name]
	}
	if !found {
		return renderError("The partial %s could not be found.", clipName(name))
	}
	if r.partialDepth >= MaxPartialDepth {
		return renderError("Rendering failed: partials are nested more than %d deep (does %s include itself?).", MaxPartialDepth, clipName(name))
	}
	r.partialDepth++
	defer func() { r.partialDepth-- }()

	ctx := f.ctx
	if len(n.Params) == 1 {
		ctx = r.param(n.Params[0], f)
	}
	if n.Hash != nil {
		ctx = r.withHash(ctx, n.Hash, f)
	}
	g := &frame{ctx: ctx, parent: &frame{}, data: callerData(f)}
	if n.Indent == "" {
		return r.program(body, g)
	}
	// A standalone partial indents every line it renders as its tag was
	// (write does it), but an empty last line.
	indent := r.indent
	r.indent, r.lineStart = indent+n.Indent, true
	defer func() { r.indent = indent }()
	return r.program(body, g)
}

// withHash is a partial's context with its hash arguments: Handlebars.js
// copies the context's own properties (an object's members, an array's
// indexes) and sets the hash's on top; another context (a string, a
// number) contributes nothing here. Each property copied is charged a
// step.
func (r *renderer) withHash(ctx any, h *ast.Hash, f *frame) map[string]any {
	m := map[string]any{}
	switch v := ctx.(type) {
	case map[string]any:
		if r.charge(len(v)) {
			maps.Copy(m, v)
		}
	case []any:
		if !r.charge(len(v)) {
			break
		}
		for i, item := range v {
			m[strconv.Itoa(i)] = item
		}
	}
	for _, p := range h.Pairs {
		m[p.Key] = r.param(p.Val, f)
	}
	return m
}

// callerData is the data variables in scope at a partial's call.
func callerData(f *frame) map[string]any {
	for g := f; g != nil; g = g.parent {
		if g.data != nil {
			return g.data
		}
	}
	return nil
}

// indentText is s with r.indent before every line that has something
// (a standalone partial's indentation, as Handlebars.js indents: every
// line of the partial's output, but an empty last one).
func (r *renderer) indentText(s string) string {
	var b strings.Builder
	for s != "" {
		if r.lineStart {
			b.WriteString(r.indent)
			r.lineStart = false
		}
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i+1])
		s = s[i+1:]
		r.lineStart = true
	}
	return b.String()
}

// maxNameInError bounds a partial's name in an error: a dynamic name comes
// from the data (up to 256 KB), and the error lands in the API's answer
// and in the Rendering Failure event.
const maxNameInError = 100

// clipName returns name, cut to maxNameInError bytes (at a rune boundary)
// with "..." when longer.
func clipName(name string) string {
	if len(name) <= maxNameInError {
		return name
	}
	cut := maxNameInError
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut] + "..."
}
