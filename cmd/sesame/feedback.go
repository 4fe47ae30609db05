package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/sesame-email/sesame/internal/bounce"
)

// parsed is what `sesame feedback parse` prints for one file.
type parsed struct {
	File string `json:"file"`
	*bounce.Report
	Error string `json:"error,omitempty"`
}

// feedbackParse prints, for each file ("-" is standard input), what the
// feedback MX makes of the message in it, as one JSON object per file. It
// fails when a file cannot be read; a message that cannot be parsed is
// reported in its object's error.
func feedbackParse(files []string, stdin io.Reader, stdout io.Writer) error {
	if len(files) == 0 {
		return fmt.Errorf("feedback parse: expected one or more files (- for standard input)")
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	for _, f := range files {
		var b []byte
		var err error
		if f == "-" {
			b, err = io.ReadAll(io.LimitReader(stdin, 64<<20))
		} else {
			b, err = os.ReadFile(f)
		}
		if err != nil {
			return fmt.Errorf("feedback parse: %w", err)
		}
		out := parsed{File: f}
		if out.Report, err = bounce.Parse(b); err != nil {
			out.Report, out.Error = nil, err.Error()
		}
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	return nil
}
