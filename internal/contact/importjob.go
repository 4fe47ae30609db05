package contact

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/suppression"
)

// The import job statuses (JobStatus). Sesame never cancels a job.
const (
	JobCreated    = "CREATED"
	JobProcessing = "PROCESSING"
	JobCompleted  = "COMPLETED"
	JobFailed     = "FAILED"
)

// The import actions.
const (
	ActionPut    = "PUT"
	ActionDelete = "DELETE"
)

// Job is an import job.
type Job struct {
	ID          string
	Destination string // DestContactList or DestSuppressionList
	ListName    string // the contact list, for DestContactList
	Action      string // ActionPut or ActionDelete
	SourceURL   string // as given
	Format      string // FormatCSV or FormatJSON
	Status      string
	Created     time.Time
	Completed   time.Time // zero until COMPLETED or FAILED
	// Processed counts the records read, Failed those of them not
	// applied (listed in the failures file, FailuresURL).
	Processed, Failed int64
	FailuresURL       string
	ErrorMessage      string // why a FAILED job failed
}

// ImportOptions configures Imports.
type ImportOptions struct {
	DB          *db.DB             // required
	Contacts    *Store             // required
	Suppression *suppression.Store // required for suppression list imports
	// Dir is the only directory import files are read from (sesame serve
	// --import-dir); "": import jobs are refused.
	Dir string
	// FailuresDir is where the failures files are written, one
	// <account>/<job id>-failures.csv each; required with Dir, and must
	// not be inside it (an account could import another's failures).
	FailuresDir string
	Now         func() time.Time // nil: time.Now
	Logger      *slog.Logger     // nil: discard
	// Batch is the number of records applied per transaction (0: 500);
	// Lease how long a worker holds a job without renewing it (0: 30s);
	// Poll how often the worker looks for jobs it was not woken for (0:
	// 5s).
	Batch int
	Lease time.Duration
	Poll  time.Duration
}

// Imports is the import jobs of all accounts and their worker.
type Imports struct {
	o    ImportOptions
	dir  string // Dir, absolute and clean
	wake chan struct{}
}

// NewImports returns Imports.
func NewImports(o ImportOptions) (*Imports, error) {
	if o.DB == nil || o.Contacts == nil {
		return nil, errors.New("contact: ImportOptions.DB and Contacts are required")
	}
	im := &Imports{o: o, wake: make(chan struct{}, 1)}
	if im.o.Now == nil {
		im.o.Now = time.Now
	}
	if im.o.Logger == nil {
		im.o.Logger = slog.New(slog.DiscardHandler)
	}
	im.o.Batch = cmp.Or(im.o.Batch, 500)
	im.o.Lease = cmp.Or(im.o.Lease, 30*time.Second)
	im.o.Poll = cmp.Or(im.o.Poll, 5*time.Second)
	if o.Dir != "" {
		dir, err := filepath.Abs(o.Dir)
		if err != nil {
			return nil, fmt.Errorf("contact: import dir: %w", err)
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("contact: import dir %s is not a directory", dir)
		}
		if o.FailuresDir == "" {
			return nil, errors.New("contact: ImportOptions.FailuresDir is required with Dir")
		}
		fd, err := filepath.Abs(o.FailuresDir)
		if err != nil {
			return nil, fmt.Errorf("contact: failures dir: %w", err)
		}
		if within(dir, fd) || within(realPath(dir), realPath(fd)) {
			return nil, fmt.Errorf("contact: the failures directory %s is inside the import directory %s: accounts could import each other's failures files", fd, dir)
		}
		im.dir, im.o.FailuresDir = dir, fd
	}
	return im, nil
}

// realPath is p with its symbolic links resolved, as far as they exist.
func realPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

// within reports whether p is root or under it (both absolute, clean).
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// Enabled reports whether import jobs are on (a Dir is set).
func (im *Imports) Enabled() bool { return im.dir != "" }

// resolve turns an S3Url into the path of the file relative to the import
// directory. It accepts file:///abs/path and /abs/path; the path must
// have no ".." element and lie inside the directory.
func (im *Imports) resolve(source string) (string, error) {
	const field = "ImportDataSource.S3Url"
	if im.dir == "" {
		return "", ErrImportsOff
	}
	bad := func(why string) error {
		return invalid(field, "%s %q cannot be read: %s. Sesame reads files:///<absolute path> (or an absolute path) inside its import directory %s.", field, source, why, im.dir)
	}
	p := source
	if !strings.HasPrefix(source, "/") {
		u, err := url.Parse(source)
		if err != nil || u.Scheme != "file" {
			return "", bad("not a file:// URL (Sesame has no S3)")
		}
		if u.Host != "" && u.Host != "localhost" {
			return "", bad("a file URL names no host")
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return "", bad("a file URL has no query or fragment")
		}
		p = u.Path
	}
	if !strings.HasPrefix(p, "/") {
		return "", bad("the path must be absolute")
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return "", bad(`the path has a ".." element`)
		}
	}
	p = filepath.Clean(p)
	if !within(im.dir, p) || p == im.dir {
		return "", bad("the file is not inside the import directory")
	}
	rel, _ := filepath.Rel(im.dir, p)
	return rel, nil
}

// open opens an import file through an os.Root on the import directory,
// which refuses symbolic links (and anything else) leading out of it. Only
// regular files are read. The file is opened non-blocking: opening a FIFO
// for reading otherwise waits for a writer, which would hang the API
// request or the worker for good; the check of its type comes after.
func (im *Imports) open(source string) (*os.File, error) {
	rel, err := im.resolve(source)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(im.dir)
	if err != nil {
		return nil, fmt.Errorf("contact: open import dir: %w", err)
	}
	defer root.Close()
	f, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, invalid("ImportDataSource.S3Url", "ImportDataSource.S3Url %q cannot be read: %s.", source, openReason(err))
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, invalid("ImportDataSource.S3Url", "ImportDataSource.S3Url %q is not a regular file.", source)
	}
	return f, nil
}

// openReason says why a file could not be opened, without the server's
// error text (which names paths).
func openReason(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no such file"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	case strings.Contains(err.Error(), "escapes"):
		return "the path leads out of the import directory"
	}
	return "the file cannot be opened"
}

// JobInput is CreateImportJob's input.
type JobInput struct {
	Destination string
	ListName    string
	Action      string
	SourceURL   string
	Format      string
}

// Create checks a job (the file must be readable now, the contact list
// must exist) and stores it; the worker runs it. It returns the job ID.
func (im *Imports) Create(ctx context.Context, accountID string, in JobInput) (string, error) {
	switch in.Destination {
	case DestContactList:
		if in.Action != ActionPut && in.Action != ActionDelete {
			return "", invalid("ImportDestination.ContactListDestination.ContactListImportAction", "ImportDestination.ContactListDestination.ContactListImportAction %q is not valid: it must be PUT or DELETE.", in.Action)
		}
		if err := ValidateName("ImportDestination.ContactListDestination.ContactListName", in.ListName); err != nil {
			return "", err
		}
		if _, err := im.o.Contacts.GetList(ctx, accountID, in.ListName); err != nil {
			return "", err
		}
	case DestSuppressionList:
		if in.Action != ActionPut && in.Action != ActionDelete {
			return "", invalid("ImportDestination.SuppressionListDestination.SuppressionListImportAction", "ImportDestination.SuppressionListDestination.SuppressionListImportAction %q is not valid: it must be PUT or DELETE.", in.Action)
		}
		if im.o.Suppression == nil {
			return "", errors.New("contact: suppression list imports need ImportOptions.Suppression")
		}
	default:
		return "", invalid("ImportDestination", "ImportDestination must have exactly one of ContactListDestination and SuppressionListDestination.")
	}
	if in.Format != FormatCSV && in.Format != FormatJSON {
		return "", invalid("ImportDataSource.DataFormat", "ImportDataSource.DataFormat %q is not valid: it must be CSV or JSON.", in.Format)
	}
	f, err := im.open(in.SourceURL)
	if err != nil {
		return "", err
	}
	f.Close()
	id := rand.Text()
	now := db.Millis(im.o.Now())
	if _, err := im.o.DB.Exec(ctx, `INSERT INTO import_jobs (id, account_id, destination, list_name, action, source_url, data_format, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, accountID, in.Destination, in.ListName, in.Action, in.SourceURL, in.Format, JobCreated, now); err != nil {
		return "", fmt.Errorf("contact: create import job: %w", err)
	}
	select {
	case im.wake <- struct{}{}:
	default:
	}
	return id, nil
}

const jobColumns = `id, destination, list_name, action, source_url, data_format, status, created_at, completed_at, processed, failed, failures_url, error_message`

func scanJob(sc interface{ Scan(...any) error }) (*Job, error) {
	var (
		j                  Job
		created, completed int64
	)
	if err := sc.Scan(&j.ID, &j.Destination, &j.ListName, &j.Action, &j.SourceURL, &j.Format, &j.Status, &created, &completed, &j.Processed, &j.Failed, &j.FailuresURL, &j.ErrorMessage); err != nil {
		return nil, err
	}
	j.Created = db.Time(created)
	if completed != 0 {
		j.Completed = db.Time(completed)
	}
	return &j, nil
}

// Get returns the account's job, or ErrNotFound.
func (im *Imports) Get(ctx context.Context, accountID, id string) (*Job, error) {
	j, err := scanJob(im.o.DB.QueryRow(ctx, `SELECT `+jobColumns+` FROM import_jobs WHERE account_id = ? AND id = ?`, accountID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: import job %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("contact: get import job: %w", err)
	}
	return j, nil
}

// List returns a page of the account's jobs, oldest first, of one
// destination ("" for both), and the token of the next page.
func (im *Imports) List(ctx context.Context, accountID, destination, token string, size int) ([]*Job, string, error) {
	size, err := pageSize(size)
	if err != nil {
		return nil, "", err
	}
	where, args := "account_id = ?", []any{accountID}
	if destination != "" {
		if destination != DestContactList && destination != DestSuppressionList {
			return nil, "", invalid("ImportDestinationType", "ImportDestinationType %q is not valid: it must be CONTACT_LIST or SUPPRESSION_LIST.", destination)
		}
		where += " AND destination = ?"
		args = append(args, destination)
	}
	if token != "" {
		pos, err := decodeToken(jobToken, token)
		if err != nil {
			return nil, "", err
		}
		ms, id, ok := strings.Cut(pos, ":")
		at, err := strconv.ParseInt(ms, 10, 64)
		if !ok || err != nil {
			return nil, "", invalid("NextToken", "NextToken is not valid: pass the NextToken of the previous page unchanged.")
		}
		where += " AND (created_at > ? OR created_at = ? AND id > ?)"
		args = append(args, at, at, id)
	}
	args = append(args, size+1)
	rows, err := im.o.DB.Query(ctx, `SELECT `+jobColumns+` FROM import_jobs WHERE `+where+` ORDER BY created_at, id LIMIT ?`, args...)
	if err != nil {
		return nil, "", fmt.Errorf("contact: list import jobs: %w", err)
	}
	defer rows.Close()
	var out []*Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, "", fmt.Errorf("contact: list import jobs: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("contact: list import jobs: %w", err)
	}
	if len(out) > size {
		out = out[:size]
		last := out[size-1]
		return out, encodeToken(jobToken, strconv.FormatInt(db.Millis(last.Created), 10)+":"+last.ID), nil
	}
	return out, "", nil
}

// Run works the jobs until ctx ends: woken by Create, and every Poll for
// jobs of other nodes and jobs whose worker stopped (a crash leaves a job
// PROCESSING; once its lease runs out it is resumed where its last
// committed batch ended).
//
// Without an import directory it returns at once: jobs stored while the
// directory was set wait, CREATED or PROCESSING, until it is set again.
func (im *Imports) Run(ctx context.Context) error {
	if !im.Enabled() {
		return nil
	}
	t := time.NewTicker(im.o.Poll)
	defer t.Stop()
	for {
		worked, err := im.Work(ctx, 0)
		if err != nil && ctx.Err() == nil {
			im.o.Logger.Error("import job", "err", err)
		}
		if worked && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-im.wake:
		case <-t.C:
		}
	}
}

// Work claims one job that is waiting (or whose lease ran out) and runs
// it, at most maxBatches batches (0: to its end); it reports whether
// there was a job. A job stopped by maxBatches stays PROCESSING under its
// lease, as after a crash.
func (im *Imports) Work(ctx context.Context, maxBatches int) (bool, error) {
	if !im.Enabled() {
		return false, nil
	}
	now := db.Millis(im.o.Now())
	var (
		id, acct string
		lease    int64
	)
	err := im.o.DB.QueryRow(ctx, `SELECT id, account_id, lease_until FROM import_jobs WHERE status IN (?, ?) AND lease_until < ? ORDER BY created_at, id LIMIT 1`,
		JobCreated, JobProcessing, now).Scan(&id, &acct, &lease)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("contact: find import job: %w", err)
	}
	mine := now + im.o.Lease.Milliseconds()
	res, err := im.o.DB.Exec(ctx, `UPDATE import_jobs SET status = ?, lease_until = ? WHERE id = ? AND lease_until = ?`, JobProcessing, mine, id, lease)
	if err != nil {
		return false, fmt.Errorf("contact: claim import job %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return true, nil // another worker took it
	}
	return true, im.run(ctx, acct, id, mine, maxBatches)
}

// errLostLease stops a job whose lease another worker took over.
var errLostLease = errors.New("contact: import job lease lost")

// run works the claimed job.
func (im *Imports) run(ctx context.Context, accountID, id string, lease int64, maxBatches int) error {
	log := im.o.Logger.With("job", id, "account", accountID)
	var (
		j    *Job
		done int64
	)
	err := im.o.DB.QueryRow(ctx, `SELECT rows_done FROM import_jobs WHERE id = ?`, id).Scan(&done)
	if err == nil {
		j, err = im.Get(ctx, accountID, id)
	}
	if err != nil {
		return err
	}
	fail := func(msg string) error {
		log.Warn("import job failed", "reason", msg)
		_, err := im.o.DB.Exec(ctx, `UPDATE import_jobs SET status = ?, error_message = ?, completed_at = ?, lease_until = 0 WHERE id = ? AND lease_until = ?`,
			JobFailed, msg, db.Millis(im.o.Now()), id, lease)
		return err
	}
	f, err := im.open(j.SourceURL)
	if err != nil {
		var ie *InvalidError
		if errors.As(err, &ie) {
			return fail(ie.Msg)
		}
		return err
	}
	defer f.Close()
	rr, err := NewRowReader(f, j.Format, j.Destination)
	if err != nil {
		return fail("The file cannot be imported: " + err.Error() + ".")
	}
	// Skip what earlier runs committed: the records are counted the same
	// way each time, readable or not.
	for n := int64(0); n < done; n++ {
		if _, err := rr.Next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil && !isRowError(err) {
			return fail("The file cannot be read: " + err.Error() + ".")
		}
	}
	for batches := 0; maxBatches == 0 || batches < maxBatches; batches++ {
		var rows []Row
		var bad []*RowError
		eof := false
		for len(rows)+len(bad) < im.o.Batch {
			r, err := rr.Next()
			if errors.Is(err, io.EOF) {
				eof = true
				break
			}
			var re *RowError
			if errors.As(err, &re) {
				bad = append(bad, re)
				continue
			}
			if err != nil {
				return fail("The file cannot be read: " + err.Error() + ".")
			}
			rows = append(rows, r)
		}
		next := lease
		if !eof {
			next = db.Millis(im.o.Now()) + im.o.Lease.Milliseconds()
		}
		err := im.batch(ctx, accountID, j, rows, bad, lease, next)
		var ie *InvalidError
		if errors.As(err, &ie) || errors.Is(err, ErrNotFound) {
			return fail(err.Error())
		}
		if err != nil {
			return err
		}
		lease = next
		if eof {
			return im.complete(ctx, accountID, j, lease)
		}
	}
	return nil
}

func isRowError(err error) bool {
	var re *RowError
	return errors.As(err, &re)
}

// batch applies one batch of records and records its failures and the
// job's progress in one transaction (for a suppression list, whose store
// commits each record itself, the progress follows the records: a crash
// between them applies a few records twice, which PUT and DELETE allow).
func (im *Imports) batch(ctx context.Context, accountID string, j *Job, rows []Row, bad []*RowError, lease, next int64) error {
	// The records of the batch, read before any fails to apply (which
	// adds it to bad as well).
	n := int64(len(rows) + len(bad))
	if j.Destination == DestSuppressionList {
		for _, r := range rows {
			if msg := im.applySuppression(ctx, accountID, j.Action, r); msg != "" {
				bad = append(bad, &RowError{Line: r.Line, Reason: msg})
			}
		}
	}
	return im.o.DB.InTx(ctx, func(tx *db.Tx) error {
		if j.Destination == DestContactList {
			l, err := getListLocked(ctx, tx, shareList, accountID, j.ListName)
			if err != nil {
				return fmt.Errorf("%w (the contact list was deleted during the import)", err)
			}
			for _, r := range rows {
				msg, err := im.applyContact(ctx, tx, accountID, l, j.Action, r)
				if err != nil {
					return err
				}
				if msg != "" {
					bad = append(bad, &RowError{Line: r.Line, Reason: msg})
				}
			}
		}
		for _, b := range bad {
			if _, err := tx.Exec(ctx, `INSERT INTO import_failures (job_id, row_number, reason) VALUES (?, ?, ?)`, j.ID, b.Line, b.Reason); err != nil {
				return fmt.Errorf("contact: record import failure: %w", err)
			}
		}
		res, err := tx.Exec(ctx, `UPDATE import_jobs SET rows_done = rows_done + ?, processed = processed + ?, failed = failed + ?, lease_until = ? WHERE id = ? AND lease_until = ?`,
			n, n, len(bad), next, j.ID, lease)
		if err != nil {
			return fmt.Errorf("contact: import progress: %w", err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return errLostLease
		}
		return nil
	})
}

// applyContact applies one record to the list in tx: a message for a
// record that cannot be applied, an error when the batch must stop.
func (im *Imports) applyContact(ctx context.Context, tx *db.Tx, accountID string, l *List, action string, r Row) (string, error) {
	s := im.o.Contacts
	if action == ActionDelete {
		_, key, err := parseAddress(r.Contact.Address)
		if err != nil {
			return err.Error(), nil
		}
		old, err := getContact(ctx, tx, accountID, l, key)
		if errors.Is(err, ErrNotFound) {
			return "", nil // nothing to delete
		}
		if err != nil {
			return "", err
		}
		return "", s.write(ctx, tx, accountID, l, old, nil)
	}
	display, key, err := r.Contact.validate(l)
	if err != nil {
		return err.Error(), nil
	}
	old, err := getContact(ctx, tx, accountID, l, key)
	if errors.Is(err, ErrNotFound) {
		old = nil
	} else if err != nil {
		return "", err
	}
	return "", s.write(ctx, tx, accountID, l, old, s.build(r.Contact, display, key, l, old))
}

// applySuppression applies one record to the suppression list.
func (im *Imports) applySuppression(ctx context.Context, accountID, action string, r Row) string {
	var err error
	if action == ActionDelete {
		err = im.o.Suppression.Delete(ctx, accountID, r.Contact.Address)
		if errors.Is(err, suppression.ErrNotFound) {
			err = nil
		}
	} else {
		if r.Reason == "" {
			return "reason is required (BOUNCE or COMPLAINT)"
		}
		err = im.o.Suppression.Put(ctx, accountID, r.Contact.Address, suppression.Reason(strings.ToUpper(r.Reason)))
	}
	var ie *suppression.InvalidError
	if errors.As(err, &ie) {
		return ie.Msg
	}
	if err != nil {
		im.o.Logger.Error("import job: suppression list", "account", accountID, "err", err)
		return "the record could not be stored"
	}
	return ""
}

// complete writes the failures file (when records failed) and marks the
// job COMPLETED.
func (im *Imports) complete(ctx context.Context, accountID string, j *Job, lease int64) error {
	failuresURL := ""
	var failed int64
	if err := im.o.DB.QueryRow(ctx, `SELECT failed FROM import_jobs WHERE id = ?`, j.ID).Scan(&failed); err != nil {
		return fmt.Errorf("contact: import job %s: %w", j.ID, err)
	}
	if failed > 0 {
		p, err := im.writeFailures(ctx, accountID, j.ID)
		if err != nil {
			return err
		}
		failuresURL = (&url.URL{Scheme: "file", Path: p}).String()
	}
	res, err := im.o.DB.Exec(ctx, `UPDATE import_jobs SET status = ?, completed_at = ?, failures_url = ?, lease_until = 0 WHERE id = ? AND lease_until = ?`,
		JobCompleted, db.Millis(im.o.Now()), failuresURL, j.ID, lease)
	if err != nil {
		return fmt.Errorf("contact: complete import job %s: %w", j.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errLostLease
	}
	im.o.Logger.Info("import job completed", "job", j.ID, "account", accountID, "failed", failed)
	return nil
}

// writeFailures writes the job's failures, "row,reason" by row, to
// FailuresDir/<account>/<job>-failures.csv and returns its path.
func (im *Imports) writeFailures(ctx context.Context, accountID, id string) (string, error) {
	dir := filepath.Join(im.o.FailuresDir, accountID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("contact: failures dir: %w", err)
	}
	p := filepath.Join(dir, id+"-failures.csv")
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("contact: failures file: %w", err)
	}
	defer os.Remove(tmp)
	defer f.Close()
	w := csv.NewWriter(f)
	w.Write([]string{"row", "reason"})
	rows, err := im.o.DB.Query(ctx, `SELECT row_number, reason FROM import_failures WHERE job_id = ? ORDER BY row_number`, id)
	if err != nil {
		return "", fmt.Errorf("contact: failures of %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			n      int64
			reason string
		)
		if err := rows.Scan(&n, &reason); err != nil {
			return "", fmt.Errorf("contact: failures of %s: %w", id, err)
		}
		w.Write([]string{strconv.FormatInt(n, 10), reason})
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("contact: failures of %s: %w", id, err)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return "", fmt.Errorf("contact: failures file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("contact: failures file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("contact: failures file: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("contact: failures file: %w", err)
	}
	return p, nil
}
