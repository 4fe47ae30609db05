package template

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"unicode/utf8"
)

// ParseData parses TemplateData, DefaultTemplateData or
// ReplacementTemplateData (the member named field): a JSON object of at
// most MaxDataLen characters. Numbers keep their JSON spelling
// (json.Number), so 1.50 renders as 1.50. Errors are *DataError.
func ParseData(field, s string) (map[string]any, error) {
	if len(s) > MaxDataLen && utf8.RuneCountInString(s) > MaxDataLen {
		return nil, &DataError{Field: field, Msg: fmt.Sprintf("%s must be at most %d characters long.", field, MaxDataLen)}
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &DataError{Field: field, Msg: fmt.Sprintf("Unable to parse %s (invalid JSON): %v.", field, err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &DataError{Field: field, Msg: fmt.Sprintf("Unable to parse %s (invalid JSON): data after the JSON object.", field)}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &DataError{Field: field, Msg: fmt.Sprintf("Unable to parse %s: it must be a JSON object.", field)}
	}
	return m, nil
}

// Merge returns default data overlaid with replacement data, as SES v2
// merges a bulk entry's ReplacementTemplateData into the default
// TemplateData (and v1 SendBulkTemplatedEmail its DefaultTemplateData):
// key by key, objects present in both merged recursively, anything else
// — a scalar, an array, null — taken whole from the replacement (arrays
// are replaced, not concatenated). Observed against live SES v2 by the
// maintainers of aws-ses-v2-local (issues #102, #103). Neither map is
// changed.
func Merge(def, repl map[string]any) map[string]any {
	out := make(map[string]any, len(def)+len(repl))
	maps.Copy(out, def)
	for k, rv := range repl {
		dm, dok := out[k].(map[string]any)
		rm, rok := rv.(map[string]any)
		if dok && rok {
			out[k] = Merge(dm, rm)
			continue
		}
		out[k] = rv
	}
	return out
}
