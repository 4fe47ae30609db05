package app

import (
	"context"
	"path/filepath"

	"github.com/sesame-email/sesame/internal/config"
	"github.com/sesame-email/sesame/internal/contact"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/unsub"
)

// openContacts builds the contact lists and the import jobs: files are
// read only from --import-dir (none: jobs are refused), failures files
// are written under <data-dir>/import-failures. And the unsubscribe links
// of mail sent with ListManagementOptions: https links under publicURL
// (the SNS links' base: https when the HTTPS listener is on, as RFC 8058
// wants), mailto: addresses at the feedback MX, tokens signed with a key
// sealed by box; every change a recipient makes publishes its
// Subscription event in the change's transaction.
func (a *App) openContacts(d *db.DB, cfg config.Config, box *seal.Box, publicURL string) error {
	var err error
	a.Contacts, err = contact.New(contact.Options{DB: d, Changed: unsub.Changed})
	if err != nil {
		return err
	}
	o := contact.ImportOptions{DB: d, Contacts: a.Contacts, Suppression: a.Suppression, Logger: a.log.With("component", "imports")}
	if cfg.ImportDir != "" {
		o.Dir, o.FailuresDir = cfg.ImportDir, filepath.Join(cfg.DataDir, "import-failures")
	}
	if a.Imports, err = contact.NewImports(o); err != nil {
		return err
	}
	key, err := unsub.LoadKey(context.Background(), d, box)
	if err != nil {
		return err
	}
	codec, err := unsub.NewCodec(key)
	if err != nil {
		return err
	}
	a.Unsub, err = unsub.New(unsub.Options{Contacts: a.Contacts, Codec: codec, PublicURL: publicURL,
		MailDomain: "feedback-smtp." + cfg.Region + "." + a.Identities.ServiceDomain(), Logger: a.log.With("component", "unsub")})
	return err
}
