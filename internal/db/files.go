package db

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// createPrivate makes the SQLite database file, empty and mode 0600, before
// SQLite opens it, unless it exists. SQLite would make it 0644 less the
// umask; it gives the -wal and -shm files it makes next to it the database
// file's mode, so those are 0600 too. The files hold message bodies,
// events and verification tokens.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("db: create %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil { // whatever the umask took away
		f.Close()
		return fmt.Errorf("db: create %s: %w", path, err)
	}
	return f.Close()
}

// warnOpen warns when the data directory, or a file in it (the database,
// its -wal and -shm files, master.key), can be read or written by users
// other than its owner. It changes nothing: an operator may mean it (a
// backup user in the group), but should know.
func warnOpen(log *slog.Logger, dir string) {
	if log == nil {
		return
	}
	const why = "it holds the database (message bodies, events, verification tokens) and the master key; chmod 700 the directory and 600 its files"
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o066 != 0 {
		log.Warn("the data directory is readable or writable by other users: "+why, "dir", dir, "mode", fmt.Sprintf("%#o", fi.Mode().Perm()))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o066 != 0 {
			log.Warn("a data file is readable or writable by other users: "+why, "file", filepath.Join(dir, e.Name()), "mode", fmt.Sprintf("%#o", fi.Mode().Perm()))
		}
	}
}
