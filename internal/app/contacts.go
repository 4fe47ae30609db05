package app

import (
	"path/filepath"

	"github.com/sesame-email/sesame/internal/config"
	"github.com/sesame-email/sesame/internal/contact"
	"github.com/sesame-email/sesame/internal/db"
)

// openContacts builds the contact lists and the import jobs: files are
// read only from --import-dir (none: jobs are refused), failures files
// are written under <data-dir>/import-failures.
func (a *App) openContacts(d *db.DB, cfg config.Config) error {
	var err error
	a.Contacts, err = contact.New(contact.Options{DB: d})
	if err != nil {
		return err
	}
	o := contact.ImportOptions{DB: d, Contacts: a.Contacts, Suppression: a.Suppression, Logger: a.log.With("component", "imports")}
	if cfg.ImportDir != "" {
		o.Dir, o.FailuresDir = cfg.ImportDir, filepath.Join(cfg.DataDir, "import-failures")
	}
	a.Imports, err = contact.NewImports(o)
	return err
}
