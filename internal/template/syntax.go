package template

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/mailgun/raymond/v2/lexer"
)

// checkSyntax recognizes src with raymond's own lexer and grammar before
// raymond's parser sees it, for two reasons. raymond's lexer runs in a
// goroutine that ends only once its last token is read: when the parser
// stops early on a syntax error that goroutine (and the template it holds)
// is blocked forever, so a client sending bad templates would leak memory.
// checkSyntax always reads its own lexer to the end, and the parser runs
// only on templates it accepted. And the parser recurses once per nesting
// level, so nesting is bounded here (MaxDepth) before it runs.
//
// The grammar below mirrors raymond's parser (parser/parser.go) rule for
// rule; FuzzCompileRender checks the two agree.
//
// cands are the offsets of markDecorators's candidate openers; checkSyntax
// returns those that open a block, the inline partial definitions, and how
// many tokens src has.
func checkSyntax(src string, cands []int) (map[int]bool, int, error) {
	s := &scanner{lex: lexer.Scan(src)}
	if len(cands) > 0 {
		s.cands = make(map[int]bool, len(cands))
		for _, c := range cands {
			s.cands[c] = true
		}
	}
	defer s.drain()
	err := s.program()
	if err == nil && s.next().Kind != lexer.TokenEOF {
		err = s.unexpected()
	}
	if err != nil {
		return nil, 0, err
	}
	return s.decos, s.tokens, nil
}

// scanner is the recognizer's state: raymond's lexer, the tokens looked
// at but not consumed, and the nesting depth.
type scanner struct {
	lex    *lexer.Lexer
	buf    []lexer.Token
	over   bool // the lexer's last token (EOF or error) was read
	depth  int
	cands  map[int]bool // candidate decorator openers
	decos  map[int]bool // those that open a block
	tokens int          // read from the lexer
}

var errTooDeep = fmt.Errorf("blocks nested too deeply (at most %d levels)", MaxDepth)

// drain reads the lexer to its end, which ends its goroutine.
func (s *scanner) drain() {
	for !s.over {
		s.fill()
	}
}

func (s *scanner) fill() {
	tok := s.lex.NextToken()
	s.tokens++
	s.buf = append(s.buf, tok)
	if tok.Kind == lexer.TokenEOF || tok.Kind == lexer.TokenError {
		s.over = true
	}
}

// at returns the token i ahead, or the last token when the input ends
// before it.
func (s *scanner) at(i int) lexer.Token {
	for len(s.buf) <= i && !s.over {
		s.fill()
	}
	if i >= len(s.buf) {
		return s.buf[len(s.buf)-1]
	}
	return s.buf[i]
}

func (s *scanner) next() lexer.Token { return s.at(0) }

func (s *scanner) is(kind lexer.TokenKind) bool { return s.next().Kind == kind }

// shift consumes the next token; a lexer error is an error.
func (s *scanner) shift() (lexer.Token, error) {
	tok := s.next()
	if tok.Kind == lexer.TokenError {
		return tok, fmt.Errorf("line %d: %s", tok.Line, tok.Val)
	}
	if tok.Kind != lexer.TokenEOF {
		s.buf = s.buf[1:]
	}
	return tok, nil
}

func (s *scanner) unexpected() error {
	tok := s.next()
	if tok.Kind == lexer.TokenError {
		return fmt.Errorf("line %d: %s", tok.Line, tok.Val)
	}
	if tok.Kind == lexer.TokenEOF {
		return fmt.Errorf("line %d: unexpected end of template", tok.Line)
	}
	return fmt.Errorf("line %d: unexpected %q", tok.Line, tok.Val)
}

// expect consumes a token of kind.
func (s *scanner) expect(kind lexer.TokenKind) error {
	if !s.is(kind) {
		return s.unexpected()
	}
	_, err := s.shift()
	return err
}

func (s *scanner) enter() error {
	s.depth++
	if s.depth > MaxDepth {
		return errTooDeep
	}
	return nil
}

func (s *scanner) leave() { s.depth-- }

// program : statement*
func (s *scanner) program() error {
	for {
		var err error
		switch s.next().Kind {
		case lexer.TokenOpen, lexer.TokenOpenUnescaped:
			err = s.mustache()
		case lexer.TokenOpenBlock, lexer.TokenOpenInverse:
			err = s.block()
		case lexer.TokenOpenRawBlock:
			err = s.rawBlock()
		case lexer.TokenOpenPartial:
			err = s.partial()
		case lexer.TokenContent, lexer.TokenComment:
			_, err = s.shift()
		default:
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// mustache : OPEN expression CLOSE | OPEN_UNESCAPED expression CLOSE_UNESCAPED
func (s *scanner) mustache() error {
	open, err := s.shift()
	if err != nil {
		return err
	}
	if _, err := s.expression(); err != nil {
		return err
	}
	if open.Kind == lexer.TokenOpenUnescaped {
		return s.expect(lexer.TokenCloseUnescaped)
	}
	return s.expect(lexer.TokenClose)
}

// partial : OPEN_PARTIAL (helperName | sexpr) param* hash? CLOSE
func (s *scanner) partial() error {
	if _, err := s.shift(); err != nil {
		return err
	}
	if _, err := s.param(); err != nil {
		return err
	}
	if err := s.paramsHash(); err != nil {
		return err
	}
	return s.expect(lexer.TokenClose)
}

// rawBlock : OPEN_RAW_BLOCK expression CLOSE_RAW_BLOCK CONTENT
// OPEN_END_RAW_BLOCK helperName CLOSE_RAW_BLOCK, the names matching.
func (s *scanner) rawBlock() error {
	if _, err := s.shift(); err != nil {
		return err
	}
	name, err := s.expression()
	if err != nil {
		return err
	}
	for _, k := range []lexer.TokenKind{lexer.TokenCloseRawBlock, lexer.TokenContent, lexer.TokenOpenEndRawBlock} {
		if err := s.expect(k); err != nil {
			return err
		}
	}
	if err := s.closeName(name); err != nil {
		return err
	}
	return s.expect(lexer.TokenCloseRawBlock)
}

// block : openBlock program inverseChain? closeBlock
//
//	| openInverse program (INVERSE program)? closeBlock
func (s *scanner) block() error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	inverse := s.is(lexer.TokenOpenInverse)
	if open := s.next(); open.Kind == lexer.TokenOpenBlock && s.cands[open.Pos] {
		if s.decos == nil {
			s.decos = map[int]bool{}
		}
		s.decos[open.Pos] = true
	}
	name, err := s.openBlock()
	if err != nil {
		return err
	}
	if err := s.program(); err != nil {
		return err
	}
	switch {
	case inverse && s.is(lexer.TokenInverse):
		if err := s.inverseAndProgram(); err != nil {
			return err
		}
	case !inverse && (s.is(lexer.TokenInverse) || s.is(lexer.TokenOpenInverseChain)):
		if err := s.inverseChain(); err != nil {
			return err
		}
	}
	if err := s.expect(lexer.TokenOpenEndBlock); err != nil {
		return err
	}
	if err := s.closeName(name); err != nil {
		return err
	}
	return s.expect(lexer.TokenClose)
}

// inverseChain : OPEN_INVERSE_CHAIN expression blockParams? CLOSE program
// inverseChain? | INVERSE program. Each link is a nesting level of the
// parser.
func (s *scanner) inverseChain() error {
	if s.is(lexer.TokenInverse) {
		return s.inverseAndProgram()
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if _, err := s.openBlock(); err != nil {
		return err
	}
	if err := s.program(); err != nil {
		return err
	}
	if s.is(lexer.TokenInverse) || s.is(lexer.TokenOpenInverseChain) {
		return s.inverseChain()
	}
	return nil
}

func (s *scanner) inverseAndProgram() error {
	if _, err := s.shift(); err != nil {
		return err
	}
	return s.program()
}

// openBlock : (OPEN_BLOCK | OPEN_INVERSE | OPEN_INVERSE_CHAIN) expression
// blockParams? CLOSE; it returns the block's name.
func (s *scanner) openBlock() (string, error) {
	if _, err := s.shift(); err != nil {
		return "", err
	}
	name, err := s.expression()
	if err != nil {
		return "", err
	}
	if s.is(lexer.TokenOpenBlockParams) {
		if _, err := s.shift(); err != nil {
			return "", err
		}
		if !s.is(lexer.TokenID) {
			return "", s.unexpected()
		}
		for s.is(lexer.TokenID) {
			if _, err := s.shift(); err != nil {
				return "", err
			}
		}
		if err := s.expect(lexer.TokenCloseBlockParams); err != nil {
			return "", err
		}
	}
	return name, s.expect(lexer.TokenClose)
}

// closeName reads the helperName closing a block named open.
func (s *scanner) closeName(open string) error {
	tok := s.next()
	name, ok, err := s.helperName()
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("line %d: erroneous closing expression", tok.Line)
	}
	if name != open {
		return fmt.Errorf("line %d: %s doesn't match %s", tok.Line, open, name)
	}
	return nil
}

// expression : helperName param* hash?; it returns the canonical name
// (raymond's Expression.Canonical).
func (s *scanner) expression() (string, error) {
	name, _, err := s.helperName()
	if err != nil {
		return "", err
	}
	return name, s.paramsHash()
}

// paramsHash : param* hash?, hash : (ID EQUALS param)+
func (s *scanner) paramsHash() error {
	for s.isParam() {
		if _, err := s.param(); err != nil {
			return err
		}
	}
	for s.isHashSegment() {
		s.buf = s.buf[2:] // ID EQUALS, both looked at
		if _, err := s.param(); err != nil {
			return err
		}
	}
	return nil
}

func (s *scanner) isHashSegment() bool {
	return s.at(0).Kind == lexer.TokenID && s.at(1).Kind == lexer.TokenEquals
}

func (s *scanner) isParam() bool {
	switch s.next().Kind {
	case lexer.TokenOpenSexpr, lexer.TokenBoolean, lexer.TokenNumber, lexer.TokenString, lexer.TokenData, lexer.TokenID:
		return !s.isHashSegment()
	}
	return false
}

// param : helperName | sexpr; sexpr : OPEN_SEXPR expression CLOSE_SEXPR.
// It returns the helperName's canonical name ("" for a sexpr).
func (s *scanner) param() (string, error) {
	if !s.is(lexer.TokenOpenSexpr) {
		name, _, err := s.helperName()
		return name, err
	}
	if err := s.enter(); err != nil {
		return "", err
	}
	defer s.leave()
	if _, err := s.shift(); err != nil {
		return "", err
	}
	if _, err := s.expression(); err != nil {
		return "", err
	}
	return "", s.expect(lexer.TokenCloseSexpr)
}

// helperName : path | DATA path | STRING | NUMBER | BOOLEAN. It returns
// the name as raymond's HelperNameStr does; ok is false for what cannot
// close a block (never, here: every helperName has a name).
func (s *scanner) helperName() (name string, ok bool, err error) {
	tok := s.next()
	switch tok.Kind {
	case lexer.TokenBoolean, lexer.TokenString:
		_, err = s.shift()
		return tok.Val, true, err
	case lexer.TokenNumber:
		if _, err = s.shift(); err != nil {
			return "", false, err
		}
		if i, err := strconv.Atoi(tok.Val); err == nil {
			return strconv.FormatFloat(float64(i), 'f', 0, 64), true, nil
		}
		f, err := strconv.ParseFloat(tok.Val, 64)
		if err != nil {
			return "", false, fmt.Errorf("line %d: failed to parse number %s", tok.Line, tok.Val)
		}
		return strconv.FormatFloat(f, 'f', -1, 64), true, nil
	case lexer.TokenData:
		if _, err = s.shift(); err != nil {
			return "", false, err
		}
		name, err = s.path()
		return "@" + name, true, err
	}
	name, err = s.path()
	if err != nil {
		return "", false, err
	}
	if len(name) >= 2 && name[0] == '[' && name[len(name)-1] == ']' {
		name = name[1 : len(name)-1]
	}
	return name, true, nil
}

// path : ID (SEP ID)*, where no segment after a named one is "..", "."
// or "this". It returns the path as written (raymond's Original).
func (s *scanner) path() (string, error) {
	tok := s.next()
	if tok.Kind != lexer.TokenID {
		return "", s.unexpected()
	}
	if _, err := s.shift(); err != nil {
		return "", err
	}
	orig := tok.Val
	named := !scopeSegment(tok.Val)
	for s.is(lexer.TokenSep) {
		sep, err := s.shift()
		if err != nil {
			return "", err
		}
		tok := s.next()
		if tok.Kind != lexer.TokenID {
			return "", s.unexpected()
		}
		if _, err := s.shift(); err != nil {
			return "", err
		}
		orig += sep.Val + tok.Val
		if scopeSegment(tok.Val) {
			if named {
				return "", errors.New("line " + strconv.Itoa(tok.Line) + ": invalid path: " + orig)
			}
		} else {
			named = true
		}
	}
	return orig, nil
}

func scopeSegment(s string) bool { return s == ".." || s == "." || s == "this" }
