package sesv2_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/contact"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// importFile writes 10,000 contact records with 3 bad ones (lines 101,
// 5003 and 9999 in CSV; the same records in JSON) and returns the file's
// URL and the lines of the bad records.
func importFile(t *testing.T, dir, format string) (string, []int) {
	t.Helper()
	var b bytes.Buffer
	var bad []int
	line := 1
	if format == "CSV" {
		b.WriteString("emailAddress,unsubscribeAll,attributesData,topic:news\n")
		line = 2
	}
	for i := range 10000 {
		email, unsub, attrs, news := fmt.Sprintf("user%05d@example.test", i), "false", fmt.Sprintf(`{"n":%d}`, i), "OPT_IN"
		switch i {
		case 99: // a bad address
			email = "not-an-address"
		case 5001:
			news = "SOMETIMES"
		case 9997:
			attrs = "{broken"
		}
		if i%2 == 0 {
			news = "" // no preference: the default
		}
		if email == "not-an-address" || news == "SOMETIMES" || attrs == "{broken" {
			bad = append(bad, line)
		}
		if format == "CSV" {
			w := csv.NewWriter(&b)
			w.Write([]string{email, unsub, attrs, news})
			w.Flush()
		} else {
			prefs := ""
			if news != "" {
				prefs = fmt.Sprintf(`,"topicPreferences":[{"topicName":"news","subscriptionStatus":%q}]`, news)
			}
			fmt.Fprintf(&b, `{"emailAddress":%q,"unsubscribeAll":%s,"attributesData":%q%s}`+"\n", email, unsub, attrs, prefs)
		}
		line++
	}
	p := filepath.Join(dir, "contacts."+strings.ToLower(format))
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return (&url.URL{Scheme: "file", Path: p}).String(), bad
}

// TestImportJobs: 10,000 contacts with 3 bad records, in CSV and JSON,
// through CreateImportJob, GetImportJob and ListImportJobs: 9,997
// imported, the 3 reported with their lines; a restart in the middle of
// the CSV job resumes it without loss or duplicates.
func TestImportJobs(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		c := env.V2
		env.Contacts.SetListLimit(2)
		for _, name := range []string{"csv", "json"} {
			if _, err := c.CreateContactList(ctx, &sesv2.CreateContactListInput{ContactListName: aws.String(name), Topics: []types.Topic{
				{TopicName: aws.String("news"), DisplayName: aws.String("News"), DefaultSubscriptionStatus: types.SubscriptionStatusOptOut}}}); err != nil {
				t.Fatal(err)
			}
		}
		for _, format := range []string{"CSV", "JSON"} {
			src, bad := importFile(t, env.ImportDir, format)
			list := strings.ToLower(format)
			out, err := c.CreateImportJob(ctx, &sesv2.CreateImportJobInput{
				ImportDestination: &types.ImportDestination{ContactListDestination: &types.ContactListDestination{ContactListName: aws.String(list), ContactListImportAction: types.ContactListImportActionPut}},
				ImportDataSource:  &types.ImportDataSource{S3Url: aws.String(src), DataFormat: types.DataFormat(format)}})
			if err != nil {
				t.Fatal(err)
			}
			g, err := c.GetImportJob(ctx, &sesv2.GetImportJobInput{JobId: out.JobId})
			if err != nil || g.JobStatus != types.JobStatusCreated || *g.ImportDataSource.S3Url != src {
				t.Fatalf("GetImportJob before the worker = %+v, %v", g, err)
			}
			if format == "CSV" {
				// Two batches of 500, then the worker "crashes": the job
				// stays PROCESSING with 1,000 records committed.
				if worked, err := env.Imports.Work(ctx, 2); !worked || err != nil {
					t.Fatalf("Work = %v, %v", worked, err)
				}
				g, err := c.GetImportJob(ctx, &sesv2.GetImportJobInput{JobId: out.JobId})
				if err != nil || g.JobStatus != types.JobStatusProcessing || *g.ProcessedRecordsCount != 1000 || *g.FailedRecordsCount != 1 {
					t.Fatalf("after the crash: %v %v/%v, %v", g.JobStatus, aws.ToInt32(g.ProcessedRecordsCount), aws.ToInt32(g.FailedRecordsCount), err)
				}
				// While its lease runs, no other worker takes it.
				restarted, err := contact.NewImports(contact.ImportOptions{DB: d, Contacts: env.Contacts, Suppression: env.Suppression, Dir: env.ImportDir, FailuresDir: env.FailuresDir, Now: env.Clock.Now})
				if err != nil {
					t.Fatal(err)
				}
				if worked, err := restarted.Work(ctx, 0); worked || err != nil {
					t.Fatalf("Work under another's lease = %v, %v", worked, err)
				}
				env.Clock.Advance(time.Minute)
				if worked, err := restarted.Work(ctx, 0); !worked || err != nil {
					t.Fatalf("Work after the restart = %v, %v", worked, err)
				}
			} else if worked, err := env.Imports.Work(ctx, 0); !worked || err != nil {
				t.Fatalf("Work = %v, %v", worked, err)
			}
			g, err = c.GetImportJob(ctx, &sesv2.GetImportJobInput{JobId: out.JobId})
			if err != nil {
				t.Fatal(err)
			}
			if g.JobStatus != types.JobStatusCompleted || *g.ProcessedRecordsCount != 10000 || *g.FailedRecordsCount != 3 || g.CompletedTimestamp == nil ||
				g.ImportDestination.ContactListDestination == nil || *g.ImportDestination.ContactListDestination.ContactListName != list || g.FailureInfo == nil {
				t.Fatalf("%s job = %v %v/%v %+v", format, g.JobStatus, aws.ToInt32(g.ProcessedRecordsCount), aws.ToInt32(g.FailedRecordsCount), g.ImportDestination.ContactListDestination)
			}
			u, err := url.Parse(*g.FailureInfo.FailedRecordsS3Url)
			if err != nil || u.Scheme != "file" || !strings.HasPrefix(u.Path, env.FailuresDir) {
				t.Fatalf("FailedRecordsS3Url %q", *g.FailureInfo.FailedRecordsS3Url)
			}
			b, err := os.ReadFile(u.Path)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
			if err != nil || len(recs) != 4 {
				t.Fatalf("failures file %q: %v", b, err)
			}
			for i, want := range []string{"EmailAddress", "SubscriptionStatus", "AttributesData"} {
				if recs[i+1][0] != fmt.Sprint(bad[i]) || !strings.Contains(recs[i+1][1], want) {
					t.Errorf("%s failure %d = %v, want line %d about %s", format, i, recs[i+1], bad[i], want)
				}
			}
			// 9,997 contacts, each once, with their preferences.
			var n, optIn int
			if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM contacts WHERE account_id = ? AND list_name = ?`, env.Account.ID, list).Scan(&n); err != nil || n != 9997 {
				t.Errorf("%s: %d contacts, %v", format, n, err)
			}
			if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM contact_topics WHERE account_id = ? AND list_name = ? AND status = 'OPT_IN'`, env.Account.ID, list).Scan(&optIn); err != nil || optIn != 4997 {
				t.Errorf("%s: %d OPT_IN preferences, want 4997: the odd records but the 3 bad ones (%v)", format, optIn, err)
			}
			gc, err := c.GetContact(ctx, &sesv2.GetContactInput{ContactListName: aws.String(list), EmailAddress: aws.String("user00007@example.test")})
			if err != nil || *gc.AttributesData != `{"n":7}` || len(gc.TopicPreferences) != 1 || gc.TopicPreferences[0].SubscriptionStatus != types.SubscriptionStatusOptIn {
				t.Errorf("%s: imported contact = %+v, %v", format, gc, err)
			}
		}

		// ListImportJobs: both, paged, filtered; another account sees none.
		l1, err := c.ListImportJobs(ctx, &sesv2.ListImportJobsInput{PageSize: aws.Int32(1)})
		if err != nil || len(l1.ImportJobs) != 1 || l1.NextToken == nil {
			t.Fatalf("ListImportJobs page 1 = %+v, %v", l1, err)
		}
		l2, err := c.ListImportJobs(ctx, &sesv2.ListImportJobsInput{PageSize: aws.Int32(1), NextToken: l1.NextToken})
		if err != nil || len(l2.ImportJobs) != 1 || l2.NextToken != nil || *l2.ImportJobs[0].JobId == *l1.ImportJobs[0].JobId || *l2.ImportJobs[0].ProcessedRecordsCount != 10000 {
			t.Fatalf("ListImportJobs page 2 = %+v, %v", l2, err)
		}
		if l, err := c.ListImportJobs(ctx, &sesv2.ListImportJobsInput{ImportDestinationType: types.ImportDestinationTypeSuppressionList}); err != nil || len(l.ImportJobs) != 0 {
			t.Errorf("suppression list jobs = %+v, %v", l, err)
		}
		_, _, c2 := env.Other(t, "other")
		if l, err := c2.ListImportJobs(ctx, &sesv2.ListImportJobsInput{}); err != nil || len(l.ImportJobs) != 0 {
			t.Errorf("other account's jobs = %+v, %v", l, err)
		}
		if _, err := c2.GetImportJob(ctx, &sesv2.GetImportJobInput{JobId: l1.ImportJobs[0].JobId}); apitest.Code(err) != "NotFoundException" {
			t.Errorf("other account GetImportJob: %v", err)
		}
	})
}

// TestImportJobRules: the file rule (only inside the import directory, no
// "..", no symbolic link out, no other scheme), the destination checks,
// the suppression list destination, a file that fails as a whole, and
// import jobs refused on a server without an import directory.
func TestImportJobRules(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		c := env.V2
		if _, err := c.CreateContactList(ctx, &sesv2.CreateContactListInput{ContactListName: aws.String("l")}); err != nil {
			t.Fatal(err)
		}
		outside := filepath.Join(t.TempDir(), "secret.csv")
		os.WriteFile(outside, []byte("emailAddress\nsecret@example.test\n"), 0o600)
		os.Symlink(outside, filepath.Join(env.ImportDir, "link.csv"))
		os.Mkdir(filepath.Join(env.ImportDir, "sub"), 0o700)
		os.WriteFile(filepath.Join(env.ImportDir, "ok.csv"), []byte("emailAddress\nok@example.test\n"), 0o600)
		toList := &types.ImportDestination{ContactListDestination: &types.ContactListDestination{ContactListName: aws.String("l"), ContactListImportAction: types.ContactListImportActionPut}}
		create := func(dest *types.ImportDestination, src string, format types.DataFormat) error {
			_, err := c.CreateImportJob(ctx, &sesv2.CreateImportJobInput{ImportDestination: dest, ImportDataSource: &types.ImportDataSource{S3Url: aws.String(src), DataFormat: format}})
			return err
		}
		for _, tc := range []struct {
			name, src, msg string
			dest           *types.ImportDestination
			format         types.DataFormat
		}{
			{"s3", "s3://bucket/contacts.csv", "not a file:// URL", toList, "CSV"},
			{"outside", "file://" + outside, "not inside the import directory", toList, "CSV"},
			{"dotdot", "file://" + env.ImportDir + "/sub/../../" + filepath.Base(filepath.Dir(outside)) + "/secret.csv", `".." element`, toList, "CSV"},
			{"symlink out", "file://" + env.ImportDir + "/link.csv", "leads out of the import directory", toList, "CSV"},
			{"missing", "file://" + env.ImportDir + "/none.csv", "no such file", toList, "CSV"},
			{"directory", env.ImportDir + "/sub", "not a regular file", toList, "CSV"},
			{"host", "file://elsewhere" + env.ImportDir + "/ok.csv", "names no host", toList, "CSV"},
			{"format", "file://" + env.ImportDir + "/ok.csv", "ImportDataSource.DataFormat", toList, "XML"},
			{"action", "file://" + env.ImportDir + "/ok.csv", "ContactListImportAction", &types.ImportDestination{ContactListDestination: &types.ContactListDestination{ContactListName: aws.String("l"), ContactListImportAction: "MERGE"}}, "CSV"},
			{"no destination", "file://" + env.ImportDir + "/ok.csv", "ImportDestination", &types.ImportDestination{}, "CSV"},
		} {
			err := create(tc.dest, tc.src, tc.format)
			if apitest.Code(err) != "BadRequestException" || !strings.Contains(fmt.Sprint(err), tc.msg) {
				t.Errorf("%s: %v, want BadRequestException mentioning %q", tc.name, err, tc.msg)
			}
		}
		if err := create(&types.ImportDestination{ContactListDestination: &types.ContactListDestination{ContactListName: aws.String("nope"), ContactListImportAction: types.ContactListImportActionPut}},
			"file://"+env.ImportDir+"/ok.csv", "CSV"); apitest.Code(err) != "NotFoundException" {
			t.Errorf("unknown list: %v", err)
		}
		// A plain absolute path is accepted too.
		if err := create(toList, env.ImportDir+"/ok.csv", "CSV"); err != nil {
			t.Fatal(err)
		}

		// The suppression list: PUT with reasons, then DELETE.
		os.WriteFile(filepath.Join(env.ImportDir, "supp.json"), []byte(`{"emailAddress":"b@example.test","reason":"BOUNCE"}`+"\n\n"+
			`{"emailAddress":"c@example.test","reason":"COMPLAINT"}`+"\n"+`{"emailAddress":"d@example.test","reason":"SPAM"}`+"\n"), 0o600)
		os.WriteFile(filepath.Join(env.ImportDir, "unsupp.csv"), []byte("EmailAddress\nb@example.test\nnever@example.test\n"), 0o600)
		toSupp := func(a types.SuppressionListImportAction) *types.ImportDestination {
			return &types.ImportDestination{SuppressionListDestination: &types.SuppressionListDestination{SuppressionListImportAction: a}}
		}
		if err := create(toSupp(types.SuppressionListImportActionPut), "file://"+env.ImportDir+"/supp.json", "JSON"); err != nil {
			t.Fatal(err)
		}
		// A header naming an unknown column fails the job as a whole.
		os.WriteFile(filepath.Join(env.ImportDir, "bad.csv"), []byte("emailAddress,colour\na@example.test,red\n"), 0o600)
		if err := create(toList, "file://"+env.ImportDir+"/bad.csv", "CSV"); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if worked, err := env.Imports.Work(ctx, 0); !worked || err != nil {
				t.Fatalf("Work = %v, %v", worked, err)
			}
		}
		if err := create(toSupp(types.SuppressionListImportActionDelete), "file://"+env.ImportDir+"/unsupp.csv", "CSV"); err != nil {
			t.Fatal(err)
		}
		if worked, err := env.Imports.Work(ctx, 0); !worked || err != nil {
			t.Fatalf("Work = %v, %v", worked, err)
		}
		if worked, _ := env.Imports.Work(ctx, 0); worked {
			t.Error("a job was left")
		}
		jobs, err := c.ListImportJobs(ctx, &sesv2.ListImportJobsInput{})
		if err != nil || len(jobs.ImportJobs) != 4 {
			t.Fatalf("ListImportJobs = %+v, %v", jobs, err)
		}
		got := map[string]string{}
		for _, j := range jobs.ImportJobs {
			g, err := c.GetImportJob(ctx, &sesv2.GetImportJobInput{JobId: j.JobId})
			if err != nil {
				t.Fatal(err)
			}
			s := fmt.Sprintf("%s %d/%d", g.JobStatus, *g.ProcessedRecordsCount, *g.FailedRecordsCount)
			if g.FailureInfo != nil && g.FailureInfo.ErrorMessage != nil {
				s += " " + *g.FailureInfo.ErrorMessage
			}
			got[filepath.Base(*g.ImportDataSource.S3Url)] = s
		}
		for f, want := range map[string]string{"ok.csv": "COMPLETED 1/0", "supp.json": "COMPLETED 3/1", "unsupp.csv": "COMPLETED 2/0", "bad.csv": `FAILED 0/0 The file cannot be imported: CSV header: unknown column "colour"`} {
			if !strings.HasPrefix(got[f], want) {
				t.Errorf("%s: %q, want %q", f, got[f], want)
			}
		}
		if _, err := env.Suppression.Get(ctx, env.Account.ID, "c@example.test"); err != nil {
			t.Errorf("c@example.test not suppressed: %v", err)
		}
		if _, err := env.Suppression.Get(ctx, env.Account.ID, "b@example.test"); err == nil {
			t.Error("b@example.test still suppressed after the DELETE import")
		}

		// Without an import directory every job is refused, with the flag named.
		off, err := contact.NewImports(contact.ImportOptions{DB: d, Contacts: env.Contacts})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := off.Create(ctx, env.Account.ID, contact.JobInput{Destination: contact.DestContactList, ListName: "l", Action: "PUT", SourceURL: env.ImportDir + "/ok.csv", Format: "CSV"}); err == nil || !strings.Contains(err.Error(), "--import-dir") {
			t.Errorf("imports off: %v", err)
		}
		// The failures directory may not be inside the import directory.
		if _, err := contact.NewImports(contact.ImportOptions{DB: d, Contacts: env.Contacts, Dir: env.ImportDir, FailuresDir: filepath.Join(env.ImportDir, "sub")}); err == nil {
			t.Error("failures dir inside the import dir accepted")
		}
	})
}
