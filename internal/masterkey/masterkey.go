// Package masterkey owns the operator's master key: where it comes from
// (--master-key, a key file, or <data-dir>/master.key made on the first
// start with SQLite) and the key check kept in the database (the settings
// row master_key_check, see seal.Box.Check) that says which key the
// database's sealed values need.
//
// Every start, of serve and of an admin command alike, goes through Open
// (and, before the database is migrated, CheckBeforeMigrate): a key whose
// check differs from the stored one is refused before anything is
// migrated, sealed or opened with it, and no new key file is made for a
// database that already has a key. A database from before key checks gets its check
// from a key that opens the first value sealed in it — the server's own,
// which only the key serve runs with can have sealed; the other values
// that key cannot open (sealed by an admin command given another key) are
// logged, each named, and stay unusable until replaced.
package masterkey

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/seal"
)

// CheckSetting is the settings row holding the key check.
const CheckSetting = "master_key_check"

// ErrWrongKey is wrapped by the refusal of a key that does not open the
// database, and of a missing key where the database already has one.
var ErrWrongKey = errors.New("masterkey: wrong master key")

// Options say where the master key comes from.
type Options struct {
	// Key is the key itself (--master-key, SESAME_MASTER_KEY); it wins
	// over the files.
	Key string
	// File is a file holding the key (--master-key-file); it must exist.
	File string
	// DefaultFile is the file used when neither Key nor File is given
	// (with SQLite, <data-dir>/master.key). When it does not exist it is
	// made, with a new random key, mode 0600 — unless the database already
	// has a key. Empty means a key must be given (PostgreSQL).
	DefaultFile string
	// Sealed returns values already sealed in the database, the first
	// one sealed by the server itself (the service DKIM key, when there
	// is one); nil means none. A database without a key check is given
	// one only by a key that opens the first; each other value it cannot
	// open is logged as an error.
	Sealed func(ctx context.Context) ([]seal.Sealed, error)
	// Logger is told when a key file is made or a key check stored; nil
	// discards.
	Logger *slog.Logger
}

// Open returns the Box of the master key after checking it against the
// database d, storing the key check on the first start.
func Open(ctx context.Context, d *db.DB, o Options) (*seal.Box, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stored, checked, err := d.Setting(ctx, CheckSetting)
	if err != nil {
		return nil, err
	}
	if checked {
		return o.checkedBox(stored, log)
	}
	var sealed []seal.Sealed
	if o.Sealed != nil {
		if sealed, err = o.Sealed(ctx); err != nil {
			return nil, fmt.Errorf("masterkey: %w", err)
		}
	}
	secret, source, err := o.secret(stored, false, sealed, log)
	if err != nil {
		return nil, err
	}
	box, err := seal.New(secret)
	if err != nil {
		return nil, fmt.Errorf("masterkey: %s: %w", source, err)
	}
	// No key check yet: a new database, or one from before key checks.
	// Before them an admin command given no key made a key file of its
	// own, so the values in such a database may need different keys:
	// the one that opens the server's own value is the server's, and
	// what it cannot open is named and left as it is (those values
	// failed before the upgrade and keep failing; see README).
	var unopened []string
	for k, s := range sealed {
		if _, err := box.Open(s.Value, s.AAD); err != nil {
			if k == 0 {
				return nil, fmt.Errorf("%w: %s does not open this database: it cannot open %s, sealed before key checks were kept; use the key serve was started with", ErrWrongKey, source, s.What)
			}
			unopened = append(unopened, s.What)
		}
	}
	v, err := d.InitSetting(ctx, CheckSetting, box.Check())
	if err != nil {
		return nil, err
	}
	if !box.Matches(v) { // another node stored its key's check first
		return nil, wrongKey(source, v, box)
	}
	log.Info("stored the master key check", "check", short(v), "key", source, "existing_sealed_values", len(sealed) > 0)
	for _, what := range unopened {
		log.Error("a value sealed before key checks were kept needs another master key than the one this database now requires, and cannot be used until it is replaced (an access key: sesame account keys ACCOUNT --add, then --remove ACCESS_KEY_ID)",
			"value", what, "key", source, "check", short(v))
	}
	return box, nil
}

// CheckBeforeMigrate refuses, before the schema of d is changed, a key
// that does not match the key check d already holds (db.Options.
// BeforeMigrate), so that a refused start leaves the database at the
// version it found. A database without a check — new, or from before key
// checks — passes: Open decides once it is migrated. It never makes a key
// file.
func CheckBeforeMigrate(ctx context.Context, d *db.DB, o Options) error {
	has, err := d.HasTable(ctx, "settings")
	if err != nil || !has {
		return err
	}
	stored, checked, err := d.Setting(ctx, CheckSetting)
	if err != nil || !checked {
		return err
	}
	_, err = o.checkedBox(stored, slog.New(slog.DiscardHandler))
	return err
}

// checkedBox returns the Box of the master key o names, which must match
// the key check stored.
func (o Options) checkedBox(stored string, log *slog.Logger) (*seal.Box, error) {
	secret, source, err := o.secret(stored, true, nil, log)
	if err != nil {
		return nil, err
	}
	box, err := seal.New(secret)
	if err != nil {
		return nil, fmt.Errorf("masterkey: %s: %w", source, err)
	}
	if !box.Matches(stored) {
		return nil, wrongKey(source, stored, box)
	}
	return box, nil
}

// short is the part of a key check shown in messages.
func short(check string) string { return check[:min(8, len(check))] }

func wrongKey(source, stored string, box *seal.Box) error {
	return fmt.Errorf("%w: %s does not open this database (key check %s expected, this key's is %s); use the key serve was started with",
		ErrWrongKey, source, short(stored), short(box.Check()))
}

// secret returns the master key and says where it came from, making the
// default file when there is none and the database has no key yet.
func (o Options) secret(stored string, checked bool, sealed []seal.Sealed, log *slog.Logger) (secret, source string, err error) {
	switch {
	case o.Key != "":
		return o.Key, "the master key given with --master-key (SESAME_MASTER_KEY)", nil
	case o.File != "":
		k, err := readKey(o.File)
		return k, "the master key in " + o.File, err
	case o.DefaultFile == "":
		return "", "", errors.New("masterkey: with --database-url, set --master-key or --master-key-file (SESAME_MASTER_KEY / SESAME_MASTER_KEY_FILE), the same on every node")
	}
	source = "the master key in " + o.DefaultFile
	k, err := readKey(o.DefaultFile)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, source, err
	}
	const give = "use the key serve was started with (--master-key / SESAME_MASTER_KEY or --master-key-file / SESAME_MASTER_KEY_FILE)"
	switch {
	case checked:
		return "", "", fmt.Errorf("%w: no master key was given and %s does not exist; a new key would not open this database (key check %s expected); %s",
			ErrWrongKey, o.DefaultFile, short(stored), give)
	case len(sealed) > 0:
		return "", "", fmt.Errorf("%w: no master key was given and %s does not exist; a new key would not open this database (it holds %s); %s",
			ErrWrongKey, o.DefaultFile, sealed[0].What, give)
	}
	k, err = create(o.DefaultFile, os.Link)
	if err == nil {
		log.Info("created a new master key", "file", o.DefaultFile)
	}
	return k, source, err
}

// readKey reads a key file: the key, surrounding white space removed.
func readKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("masterkey: read the master key: %w", err)
	}
	k := strings.TrimSpace(string(b))
	if k == "" {
		return "", fmt.Errorf("masterkey: the master key file %s is empty (a first start that stopped while making it leaves it so; remove it and start again: a new key is made only for a database that has none)", path)
	}
	return k, nil
}

// create writes a new random key to path, mode 0600, all at once and on
// disk before it is used, never leaving a half-written key under path:
// written and synced under a temporary name, then published with link
// (os.Link), which fails if another process made path first (its key is
// then used). On a file system without hard links (link fails otherwise)
// path is claimed, empty, with O_CREATE|O_EXCL — which fails the same way
// when it exists — and the synced temporary file renamed over the claim.
// A crash then leaves path empty (refused at the next start: readKey) or
// whole; and nothing is sealed with the key before path holds it.
func create(path string, link func(oldname, newname string) error) (string, error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".master.key-*") // mode 0600
	if err != nil {
		return "", fmt.Errorf("masterkey: create the master key: %w", err)
	}
	defer os.Remove(tmp.Name())
	k := seal.GenerateSecret()
	_, err = tmp.WriteString(k + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("masterkey: write the master key: %w", err)
	}
	err = link(tmp.Name(), path)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		err = claimAndRename(tmp.Name(), path, err)
	}
	if errors.Is(err, fs.ErrExist) {
		return readKey(path)
	}
	if err != nil {
		return "", err
	}
	if err := syncDir(dir); err != nil {
		return "", fmt.Errorf("masterkey: create the master key: %w", err)
	}
	return k, nil
}

// claimAndRename publishes the written key file tmp as path where hard
// links fail (linkErr): path is created empty, exclusively (fs.ErrExist
// when another process has it), then tmp renamed over it.
func claimAndRename(tmp, path string, linkErr error) error {
	claim, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return err
	}
	if err != nil {
		return fmt.Errorf("masterkey: create the master key (%v, then): %w", linkErr, err)
	}
	if err := claim.Close(); err != nil {
		return fmt.Errorf("masterkey: create the master key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("masterkey: create the master key: %w (%s is left empty: remove it before the next start)", err, path)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
