package template

import (
	"fmt"

	"github.com/mailgun/raymond/v2/ast"
	"github.com/mailgun/raymond/v2/parser"
)

// The helpers SES's Handlebars has and Sesame renders: the block helpers
// if, unless, each and with, and lookup in mustaches and sub-expressions.
// Any other helper name with arguments is refused at Compile.
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
	subject, text, html *ast.Program // nil for an absent part
}

// part names for messages.
const (
	partSubject = "subject"
	partText    = "text part"
	partHTML    = "HTML part"
)

// Compile parses the template's parts. A part that does not parse, uses a
// partial or an unknown helper, nests deeper than MaxDepth, or a template
// larger than MaxInlineTemplateBytes is an *InvalidError naming the part.
// Stored templates are held to MaxTemplateBytes before (Store.Create and
// Update).
func Compile(c Content) (*Compiled, error) {
	if c.Size() > MaxInlineTemplateBytes {
		return nil, &InvalidError{Msg: fmt.Sprintf("Template is too large: %d bytes (at most %d).", c.Size(), MaxInlineTemplateBytes)}
	}
	var t Compiled
	for _, p := range []struct {
		name string
		src  string
		dst  **ast.Program
	}{{partSubject, c.Subject, &t.subject}, {partText, c.Text, &t.text}, {partHTML, c.HTML, &t.html}} {
		if p.src == "" {
			continue
		}
		prog, err := compilePart(p.src)
		if err != nil {
			return nil, &InvalidError{Msg: fmt.Sprintf("Invalid template: %s: %v", p.name, err)}
		}
		*p.dst = prog
	}
	return &t, nil
}

// compilePart parses one part and checks it uses only what SES has.
func compilePart(src string) (prog *ast.Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			prog, err = nil, fmt.Errorf("parse error: %v", r)
		}
	}()
	if err := checkSyntax(src); err != nil {
		return nil, err
	}
	prog, err = parser.Parse(src)
	if err != nil {
		return nil, err
	}
	if err := check(prog); err != nil {
		return nil, err
	}
	return prog, nil
}

// check walks a parsed part: no partials, no raw blocks, no decorators,
// only the helpers Sesame renders, with the arguments they take.
func check(n ast.Node) error {
	switch n := n.(type) {
	case nil:
		return nil
	case *ast.Program:
		if n == nil {
			return nil
		}
		for _, s := range n.Body {
			if err := check(s); err != nil {
				return err
			}
		}
	case *ast.PartialStatement:
		return fmt.Errorf("line %d: partials ({{> ...}}) are not supported", n.Line)
	case *ast.MustacheStatement:
		return checkExpr(n.Expression, false)
	case *ast.BlockStatement:
		if err := checkBlock(n); err != nil {
			return err
		}
		if err := check(n.Program); err != nil {
			return err
		}
		return check(n.Inverse)
	}
	return nil
}

// checkExpr checks a mustache's or sub-expression's expression.
func checkExpr(e *ast.Expression, sub bool) error {
	name := e.HelperName()
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
