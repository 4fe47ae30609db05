package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/sesame-email/sesame/"

// pkg is what the test knows of one package's non-test files.
type pkg struct {
	dir     string
	docs    int
	imports map[string]bool
}

func load(t *testing.T) map[string]*pkg {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	pkgs := map[string]*pkg{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "data") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		p := pkgs[rel]
		if p == nil {
			p = &pkg{dir: rel, imports: map[string]bool{}}
			pkgs[rel] = p
		}
		if f.Doc != nil {
			p.docs++
		}
		for _, imp := range f.Imports {
			s, _ := strconv.Unquote(imp.Path.Value)
			p.imports[s] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 10 {
		t.Fatalf("found only %d packages; is the walk rooted right?", len(pkgs))
	}
	return pkgs
}

func TestPackageDocs(t *testing.T) {
	for _, p := range load(t) {
		if p.docs != 1 {
			t.Errorf("%s has %d package doc comments; want exactly one", p.dir, p.docs)
		}
	}
}

func TestImportRules(t *testing.T) {
	kits := []string{"internal/dbtest", "internal/dnstest", "internal/apitest", "internal/testkit"}
	leaves := []string{"internal/addr", "internal/dkim", "internal/seal", "internal/dns", "internal/sigv4", "internal/db", "internal/config", "internal/authdns", "internal/smtpcode"}
	for _, p := range load(t) {
		isKit := slices.Contains(kits, p.dir)
		for imp := range p.imports {
			internal, ok := strings.CutPrefix(imp, module)
			switch {
			case imp == "testing" && !isKit:
				t.Errorf("%s imports testing outside a test", p.dir)
			case !ok:
			case slices.Contains(kits, internal) && !isKit:
				t.Errorf("%s imports the test kit %s outside a test", p.dir, internal)
			case internal == "internal/config" && p.dir != "internal/app" && p.dir != "cmd/sesame":
				t.Errorf("%s imports config; only app and cmd/sesame may", p.dir)
			case slices.Contains(leaves, p.dir):
				t.Errorf("leaf package %s imports %s", p.dir, internal)
			case (p.dir == "internal/sesv1" || p.dir == "internal/sesv2") && internal == "internal/dnscheck":
				t.Errorf("%s imports dnscheck; the API reaches the checker through a hook", p.dir)
			case p.dir == "internal/bounce" && internal != "internal/smtpcode":
				t.Errorf("bounce imports %s; it is a pure parser of untrusted bytes (smtpcode only)", internal)
			case p.dir == "internal/identity" && (strings.HasPrefix(internal, "internal/ses") || internal == "internal/app" || internal == "internal/dnscheck"):
				t.Errorf("identity imports %s; records must not know their callers", internal)
			}
		}
	}
}
