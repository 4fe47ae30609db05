package main

import (
	"flag"
	"strings"
)

// splitArgs separates a subcommand's flags from its positional arguments,
// so flags may come before, between and after the positionals, as in
// `sesame account production acme --max-24h-send 50000`. The flag package
// still parses the flags: splitArgs only decides which words are flags,
// asking fs which flags take a value (a boolean flag takes none unless
// written --flag=value). "--" ends the flags: every word after it is
// positional, and so is "-" alone. A flag fs does not know is left with the
// flags, and so is the word after it (if it is not one itself): fs.Parse
// then reports the unknown flag, and -h and --help print the usage.
func splitArgs(fs *flag.FlagSet, args []string) (flags, pos []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(pos, args[i+1:]...)
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil && isBool(f) {
			continue
		}
		if name == "h" || name == "help" {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, pos
}

// isBool says whether f is a boolean flag, which takes no separate value.
func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
