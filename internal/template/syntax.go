package template

import (
	"errors"
	"fmt"

	"github.com/mailgun/raymond/v2/lexer"
)

// checkSyntax scans src with raymond's lexer before the parser sees it:
// it refuses what the lexer refuses and nesting deeper than MaxDepth (the
// parser recurses once per level, and else-if chains count as levels).
// The scan reads the lexer to its end, which also ends the lexer's
// goroutine.
func checkSyntax(src string) error {
	l := lexer.Scan(src)
	var stack []int // per open block: 1 + its else-if chains
	depth, sexpr := 0, 0
	var first error
	for {
		tok := l.NextToken()
		switch tok.Kind {
		case lexer.TokenEOF:
			return first
		case lexer.TokenError:
			if first != nil {
				return first
			}
			return fmt.Errorf("line %d: %s", tok.Line, tok.Val)
		case lexer.TokenOpenBlock, lexer.TokenOpenInverse:
			stack = append(stack, 1)
			depth++
		case lexer.TokenOpenInverseChain:
			if len(stack) > 0 {
				stack[len(stack)-1]++
			}
			depth++
		case lexer.TokenOpenEndBlock:
			if len(stack) > 0 {
				depth -= stack[len(stack)-1]
				stack = stack[:len(stack)-1]
			}
		case lexer.TokenOpenSexpr:
			sexpr++
		case lexer.TokenCloseSexpr:
			sexpr--
		}
		if first == nil && depth+sexpr > MaxDepth {
			// Keep reading: the lexer's goroutine ends only at the end.
			first = errors.New("blocks nested too deeply (at most " + fmt.Sprint(MaxDepth) + " levels)")
		}
	}
}
