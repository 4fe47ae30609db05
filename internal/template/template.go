// Package template is SES's email templates: the store of named templates
// an account keeps (v1 CreateTemplate, v2 CreateEmailTemplate; one store
// for both APIs, as in SES) and the Handlebars renderer that fills a
// template's subject, text and HTML parts from JSON rendering data.
//
// Templates are parsed with raymond's Handlebars parser; rendering walks
// the parsed tree here rather than through raymond's evaluator, because
// SES's rules differ from plain Handlebars: a variable that is referenced
// but absent from the data fails the render ("Attribute 'name' is not
// present in the rendering data."), only the built-in helpers exist (if,
// unless, each, with, lookup, log; no custom helpers), the only partials
// are inline ones a part defines ({{#*inline "name"}}...{{/inline}}, used
// as {{> name}}; see partials.go for their scope), and hostile templates
// and data must not take unbounded time or memory (see the Max* limits
// and MaxPartialDepth).
//
// Values are JavaScript's, as Handlebars.js sees them: an array's and a
// string's length ({{items.length}}, {{#if items.length}}) is a member,
// a string's counted in UTF-16 code units.
package template

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sesame-email/sesame/internal/configset"
)

// SES's limits on templates and rendering data (ses-api.md, quotas).
const (
	// MaxDataLen is the longest TemplateData, DefaultTemplateData or
	// ReplacementTemplateData, in characters.
	MaxDataLen = 262144
	// MaxTemplateBytes is the largest stored template: its three parts
	// together.
	MaxTemplateBytes = 500 * 1024
	// MaxInlineTemplateBytes is the largest inline template (v2
	// Content.Template.TemplateContent of SendEmail and SendBulkEmail),
	// its three parts together: SES's developer guide allows 1 MB there,
	// twice a stored template.
	MaxInlineTemplateBytes = 1 << 20
	// MaxTemplates is the number of templates one account may keep: SES's
	// developer guide says 20,000 per region now (it said 10,000 before).
	MaxTemplates = 20000
	// MaxNameLength is the longest template name.
	MaxNameLength = 64
)

// Bounds of one Render, so hostile templates and data cannot take
// unbounded time or memory. SES does not document its own; these are far
// above what an email needs.
const (
	// MaxRenderedBytes bounds the rendered parts together.
	MaxRenderedBytes = 4 << 20
	// MaxIterations bounds the #each iterations of one Render.
	MaxIterations = 100000
	// MaxSteps bounds the template statements evaluated in one Render,
	// with the work some of them do in proportion to the data they touch
	// (a string's length or a number's truth: a step per 16 bytes; an
	// array written: a step per value and per 16 bytes; an object copied
	// for a partial's hash arguments: a step per member).
	MaxSteps = 2000000
	// MaxDepth bounds the nesting of blocks and sub-expressions in a
	// template.
	MaxDepth = 100
)

// Content is a template's three parts (v2 EmailTemplateContent; v1
// SubjectPart/TextPart/HtmlPart). An empty part is absent.
type Content struct{ Subject, Text, HTML string }

// Size is the template's size in bytes, its three parts together.
func (c Content) Size() int { return len(c.Subject) + len(c.Text) + len(c.HTML) }

// Tag is a v2 resource tag.
type Tag = configset.Tag

// Template is one stored template (shared by v1 and v2, as in SES).
type Template struct {
	Name    string
	Content Content
	Tags    []Tag // v2 tags (Key, Value)
	Created time.Time
}

// Errors of the store. Each API maps them to its code.
var (
	// ErrNotFound is an unknown template: v1 TemplateDoesNotExist, v2
	// NotFoundException.
	ErrNotFound = errors.New("template: does not exist")
	// ErrAlreadyExists is a name in use: v1 AlreadyExists, v2
	// AlreadyExistsException.
	ErrAlreadyExists = errors.New("template: already exists")
	// ErrLimitExceeded is one template more than MaxTemplates: v1
	// LimitExceeded, v2 LimitExceededException.
	ErrLimitExceeded = errors.New("template: limit exceeded")
)

// RenderError is a template that could not be rendered with the data
// given (v1 MissingRenderingAttribute, v2 BadRequestException, the
// RenderingFailure event's errorMessage). Msg is the sentence for the
// client, e.g. "Attribute 'name' is not present in the rendering data.".
type RenderError struct{ Msg string }

func (e *RenderError) Error() string { return e.Msg }

// InvalidError is a template that does not parse, or uses what SES does
// not have (a partial the part does not define, unknown helpers): v1
// InvalidTemplate, v2 BadRequestException.
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

// DataError is rendering data that is not a JSON object of at most
// MaxDataLen characters: v1 InvalidRenderingParameter, v2
// BadRequestException. Field is the member as the API spells it.
type DataError struct{ Field, Msg string }

func (e *DataError) Error() string { return e.Msg }

// ParamError is a parameter of a store call that breaks SES's rules (the
// name, the template's size, tags, a NextToken): v1
// InvalidParameterValue, v2 BadRequestException.
type ParamError struct{ Field, Msg string }

func (e *ParamError) Error() string { return e.Msg }

func paramError(field, format string, args ...any) error {
	return &ParamError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ValidateName checks a template name by SES's rule for resource names:
// 1 to 64 characters, ASCII letters, digits, '_' and '-'.
func ValidateName(name string) error {
	if err := configset.ValidateName("TemplateName", name); err != nil {
		return &ParamError{Field: "TemplateName", Msg: err.Error()}
	}
	return nil
}

// Kind is what an error of this package means to a client, for the APIs'
// error codes.
type Kind int

// The kinds of error KindOf tells apart.
const (
	KindOther            Kind = iota // not this package's: an internal failure
	KindNotFound                     // ErrNotFound
	KindAlreadyExists                // ErrAlreadyExists
	KindLimitExceeded                // ErrLimitExceeded
	KindInvalidTemplate              // *InvalidError
	KindInvalidParameter             // *ParamError
	KindInvalidData                  // *DataError
	KindMissingAttribute             // *RenderError for an absent attribute
	KindRenderFailed                 // any other *RenderError (a budget)
)

// KindOf classifies err and returns the sentence for the client: the
// typed errors' Msg, or SES's sentence for the sentinel errors of the
// template name.
func KindOf(err error, name string) (Kind, string) {
	var (
		ie *InvalidError
		pe *ParamError
		de *DataError
		re *RenderError
	)
	switch {
	case errors.Is(err, ErrNotFound):
		return KindNotFound, "Template " + name + " does not exist."
	case errors.Is(err, ErrAlreadyExists):
		return KindAlreadyExists, "Template " + name + " already exists."
	case errors.Is(err, ErrLimitExceeded):
		return KindLimitExceeded, fmt.Sprintf("Maximum number of templates (%d) reached.", MaxTemplates)
	case errors.As(err, &ie):
		return KindInvalidTemplate, ie.Msg
	case errors.As(err, &pe):
		return KindInvalidParameter, pe.Msg
	case errors.As(err, &de):
		return KindInvalidData, de.Msg
	case errors.As(err, &re) && strings.HasPrefix(re.Msg, "Attribute '"):
		return KindMissingAttribute, re.Msg
	case errors.As(err, &re):
		return KindRenderFailed, re.Msg
	}
	return KindOther, ""
}
