package template

import (
	"fmt"

	"github.com/mailgun/raymond/v2/ast"
	"github.com/mailgun/raymond/v2/parser"
)

// The helpers SES's Handlebars has and Sesame renders: the block helpers
// if, unless, each and with, lookup in mustaches and sub-expressions, and
// log, which renders nothing. Any other helper name with arguments is
// refused at Compile.
const (
	helperIf     = "if"
	helperUnless = "unless"
	helperEach   = "each"
	helperWith   = "with"
	helperLookup = "lookup"
)

// Compiled is a parsed template, safe for concurrent Render calls (bulk
// sends compile once and render per entry).
type Compiled struct {
	subject, text, html *part // nil for an absent part
	weight              int   // memory it holds, estimated (tokenBytes)
}

// tokenBytes estimates the memory a compiled part holds per token of its
// source, beyond the source itself: raymond's tree holds up to about 80
// bytes per token (measured: 24 MB for 500 KB of "{{a}}"), a template of
// dense tags fifty times its size.
const tokenBytes = 128

// part names for messages.
const (
	partSubject = "subject"
	partText    = "text part"
	partHTML    = "HTML part"
)

// Compile parses the template's parts. A part that does not parse, uses a
// partial it does not define or an unknown helper, nests deeper than
// MaxDepth, or a template larger than MaxInlineTemplateBytes is an
// *InvalidError naming the part. Stored templates are held to
// MaxTemplateBytes before (Store.Create and Update).
func Compile(c Content) (*Compiled, error) {
	if c.Size() > MaxInlineTemplateBytes {
		return nil, &InvalidError{Msg: fmt.Sprintf("Template is too large: %d bytes (at most %d).", c.Size(), MaxInlineTemplateBytes)}
	}
	var t Compiled
	for _, p := range []struct {
		name string
		src  string
		dst  **part
	}{{partSubject, c.Subject, &t.subject}, {partText, c.Text, &t.text}, {partHTML, c.HTML, &t.html}} {
		if p.src == "" {
			continue
		}
		pt, err := compilePart(p.src)
		if err != nil {
			return nil, &InvalidError{Msg: fmt.Sprintf("Invalid template: %s: %v", p.name, err)}
		}
		*p.dst = pt
		t.weight += len(p.src) + tokenBytes*pt.tokens
	}
	return &t, nil
}

// compilePart parses one part and checks it uses only what SES has.
func compilePart(src string) (pt *part, err error) {
	defer func() {
		if r := recover(); r != nil {
			pt, err = nil, fmt.Errorf("parse error: %v", r)
		}
	}()
	marked, cands := markDecorators(src)
	decos, tokens, err := checkSyntax(marked, cands)
	if err != nil {
		return nil, err
	}
	if len(decos) < len(cands) {
		// Some {{#* were text (a comment's, a raw block's, a string's):
		// they keep their '*', so check the source the parser will read.
		marked = unmarkDecorators(src, decos)
		if _, _, err := checkSyntax(marked, nil); err != nil {
			return nil, err
		}
	}
	prog, err := parser.Parse(marked)
	if err != nil {
		return nil, err
	}
	c := &checker{decos: decos, inlines: map[*ast.Program]map[string]*ast.Program{}, defined: map[string]bool{}}
	if err := c.walk(prog); err != nil {
		return nil, err
	}
	if err := c.checkRefs(); err != nil {
		return nil, err
	}
	return &part{prog: prog, inlines: c.inlines, tokens: tokens}, nil
}

// checker is the state of the walk that checks a parsed part: the
// offsets of its inline partial definitions (checkSyntax's), the
// definitions found, and the static partial names used.
type checker struct {
	decos   map[int]bool
	inlines map[*ast.Program]map[string]*ast.Program
	defined map[string]bool
	refs    []partialRef
}

// walk checks a program: no decorators but inline partials (which it takes
// out of the program's body), partials the part defines, only the
// helpers Sesame renders, with the arguments they take.
func (c *checker) walk(p *ast.Program) error {
	if p == nil {
		return nil
	}
	body := p.Body[:0]
	for _, s := range p.Body {
		var err error
		switch n := s.(type) {
		case *ast.PartialStatement:
			err = c.checkPartial(n)
		case *ast.MustacheStatement:
			err = checkExpr(n.Expression, false)
		case *ast.BlockStatement:
			if c.decos[n.Pos] {
				if err := c.collectInline(p, n); err != nil {
					return err
				}
				continue // defined, not rendered where it is written
			}
			if err = checkBlock(n); err == nil {
				if err = c.walk(n.Program); err == nil {
					err = c.walk(n.Inverse)
				}
			}
		}
		if err != nil {
			return err
		}
		body = append(body, s)
	}
	p.Body = body
	return nil
}

// checkExpr checks a mustache's or sub-expression's expression.
func checkExpr(e *ast.Expression, sub bool) error {
	name := e.HelperName()
	if name == helperLog {
		if err := checkParams(e.Params); err != nil {
			return err
		}
		return checkHash(e.Hash)
	}
	if len(e.Params) == 0 && e.Hash == nil && !sub {
		switch name {
		case helperIf, helperUnless, helperEach, helperWith, helperLookup:
			return fmt.Errorf("line %d: helper %q needs arguments", e.Line, name)
		}
		return nil
	}
	if name != helperLookup {
		return fmt.Errorf("line %d: unknown helper %q", e.Line, e.Canonical())
	}
	if len(e.Params) != 2 || e.Hash != nil {
		return fmt.Errorf("line %d: helper \"lookup\" takes two arguments", e.Line)
	}
	return checkParams(e.Params)
}

// checkParams checks the sub-expressions among params.
func checkParams(params []ast.Node) error {
	for _, p := range params {
		if s, ok := p.(*ast.SubExpression); ok {
			if err := checkExpr(s.Expression, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkBlock checks a block's helper and arguments. A block without
// arguments whose name is not a helper is a section ({{#items}}...{{/items}}),
// which Handlebars renders as each, with or if by the value's kind.
func checkBlock(b *ast.BlockStatement) error {
	e := b.Expression
	name := e.HelperName()
	if b.Program != nil && len(b.Program.BlockParams) > 0 && name != helperEach && name != helperWith {
		return fmt.Errorf("line %d: block parameters (as |...|) are only supported on each and with", e.Line)
	}
	if e.Hash != nil {
		return fmt.Errorf("line %d: hash arguments are not supported (%s)", e.Line, e.Canonical())
	}
	switch name {
	case helperLog:
		return fmt.Errorf("line %d: helper %q is not a block helper", e.Line, name)
	case helperIf, helperUnless, helperEach, helperWith:
		if len(e.Params) != 1 {
			return fmt.Errorf("line %d: helper %q takes one argument", e.Line, name)
		}
		return checkParams(e.Params)
	}
	if len(e.Params) > 0 {
		return fmt.Errorf("line %d: unknown helper %q", e.Line, e.Canonical())
	}
	if _, ok := e.Path.(*ast.PathExpression); !ok {
		return fmt.Errorf("line %d: a block must name a helper or a value", e.Line)
	}
	return nil
}
