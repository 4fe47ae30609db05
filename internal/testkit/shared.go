package testkit

import (
	"os"
	"path/filepath"
	"testing"
)

// SharedDir returns the directory rel inside the shared test data that
// lives next to the repository (../shared/rel from the directory holding
// go.mod), or inside $SESAME_SHARED_DIR when that is set. When the
// directory is missing the test is skipped, or fails if
// SESAME_REQUIRE_SHARED=1.
func SharedDir(t testing.TB, rel string) string {
	t.Helper()
	if dir, ok := LookupShared(rel); ok {
		return dir
	}
	msg := "../shared/%s not found: this test needs the shared test data next to the repository; set SESAME_REQUIRE_SHARED=1 to make its absence an error"
	if os.Getenv("SESAME_REQUIRE_SHARED") == "1" {
		t.Fatalf(msg, rel)
	}
	t.Skipf(msg, rel)
	return ""
}

// LookupShared is SharedDir without the test: it returns the directory
// and whether it exists, for callers that can do without it (fuzz seeds).
func LookupShared(rel string) (string, bool) {
	var dir string
	if env := os.Getenv("SESAME_SHARED_DIR"); env != "" {
		dir = filepath.Join(env, rel)
	} else if root, ok := moduleRoot(); ok {
		dir = filepath.Join(filepath.Dir(root), "shared", rel)
	}
	if dir == "" {
		return "", false
	}
	fi, err := os.Stat(dir)
	return dir, err == nil && fi.IsDir()
}

// moduleRoot walks up from the working directory to the directory that
// holds go.mod.
func moduleRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}
