package db_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestBeforeMigrate: Options.BeforeMigrate runs before any migration, and
// its error ends Open with nothing migrated; HasTable tells an empty
// database from a migrated one. On both stores.
func TestBeforeMigrate(t *testing.T) {
	for name, opts := range map[string]func(t *testing.T) db.Options{
		"sqlite":   func(t *testing.T) db.Options { return db.Options{DataDir: t.TempDir()} },
		"postgres": func(t *testing.T) db.Options { return db.Options{URL: dbtest.PostgresURL(t)} },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			o := opts(t)
			errRefused := errors.New("refused")
			var seen []bool // whether each BeforeMigrate found a schema
			hook := func(err error) func(ctx context.Context, d *db.DB) error {
				return func(ctx context.Context, d *db.DB) error {
					has, herr := d.HasTable(ctx, "settings")
					if herr != nil {
						return herr
					}
					seen = append(seen, has)
					return err
				}
			}
			o.BeforeMigrate = hook(errRefused)
			if _, err := db.Open(ctx, o); !errors.Is(err, errRefused) {
				t.Fatalf("Open with a refusing BeforeMigrate: %v", err)
			}
			o.BeforeMigrate = hook(nil)
			d, err := db.Open(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if len(seen) != 2 || seen[0] || seen[1] {
				t.Fatalf("schema found by BeforeMigrate: %v; want none either time (the refused Open migrated nothing)", seen)
			}
			for table, want := range map[string]bool{"settings": true, "schema_migrations": true, "no_such_table": false} {
				if has, err := d.HasTable(ctx, table); err != nil || has != want {
					t.Errorf("HasTable(%s) = %v, %v; want %v", table, has, err, want)
				}
			}
		})
	}
}
