//go:build unix

package sesv2_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// within runs f and fails the test if it has not returned after 10
// seconds: opening a FIFO for reading blocks until a writer comes, so a
// server that opens one hangs there. unblock, run on a timeout, opens the
// FIFO for writing to let a stuck reader go.
func within(t *testing.T, what string, unblock func(), f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		unblock()
		<-done
		t.Fatalf("%s blocked on a FIFO", what)
	}
}

// TestImportJobFIFO: a FIFO in the import directory is refused as not a
// regular file, at CreateImportJob and in the worker (a file replaced by
// one after the job was created), without blocking either.
func TestImportJobFIFO(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		c := env.V2
		if _, err := c.CreateContactList(ctx, &sesv2.CreateContactListInput{ContactListName: aws.String("l")}); err != nil {
			t.Fatal(err)
		}
		fifo := filepath.Join(env.ImportDir, "fifo.csv")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		unblock := func() {
			if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
		}
		dest := &types.ImportDestination{ContactListDestination: &types.ContactListDestination{ContactListName: aws.String("l"), ContactListImportAction: types.ContactListImportActionPut}}
		create := func(src string) (*sesv2.CreateImportJobOutput, error) {
			return c.CreateImportJob(ctx, &sesv2.CreateImportJobInput{ImportDestination: dest, ImportDataSource: &types.ImportDataSource{S3Url: aws.String(src), DataFormat: types.DataFormatCsv}})
		}
		var err error
		within(t, "CreateImportJob", unblock, func() { _, err = create("file://" + fifo) })
		if apitest.Code(err) != "BadRequestException" || !strings.Contains(fmt.Sprint(err), "not a regular file") {
			t.Errorf("CreateImportJob of a FIFO: %v, want BadRequestException: not a regular file", err)
		}

		// A job whose file becomes a FIFO before the worker opens it.
		p := filepath.Join(env.ImportDir, "later.csv")
		if err := os.WriteFile(p, []byte("emailAddress\na@example.test\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(fifo, p); err != nil {
			t.Fatal(err)
		}
		fifo = p
		within(t, "the import worker", unblock, func() {
			if worked, err := env.Imports.Work(ctx, 0); !worked || err != nil {
				t.Errorf("Work = %v, %v", worked, err)
			}
		})
		g, err := c.GetImportJob(ctx, &sesv2.GetImportJobInput{JobId: out.JobId})
		if err != nil {
			t.Fatal(err)
		}
		if g.JobStatus != types.JobStatusFailed || g.FailureInfo == nil || !strings.Contains(aws.ToString(g.FailureInfo.ErrorMessage), "not a regular file") {
			t.Errorf("job of a FIFO = %v %+v", g.JobStatus, g.FailureInfo)
		}
	})
}
