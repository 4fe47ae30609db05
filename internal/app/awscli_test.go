package app_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sesame-email/sesame/internal/dbtest"
)

// TestAWSCLI: the AWS CLI (botocore, a client apart from the Go SDK)
// drives templates, templated and bulk sends of both APIs and a custom
// verification email; each message arrives rendered for its recipient.
// Skipped when aws is not installed. On SQLite only: what it checks is
// the wire, which the stores do not change, and each call starts a
// Python process (seconds on a busy machine); the Go SDK tests of the
// same operations run on both stores.
func TestAWSCLI(t *testing.T) {
	bin, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("SESAME_REQUIRE_AWSCLI") == "1" {
			t.Fatal("SESAME_REQUIRE_AWSCLI=1 but the AWS CLI is not installed (apt-get install -y awscli)")
		}
		t.Skip("the AWS CLI is not installed (apt-get install -y awscli; SESAME_REQUIRE_AWSCLI=1 makes this a failure)")
	}
	r, mx, api := startSending(t, dbtest.SQLite(t), 1000)
	home := t.TempDir()
	var env []string // the environment without the machine's AWS settings
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	env = append(env, "HOME="+home, "AWS_CONFIG_FILE="+filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "credentials"),
		"AWS_ACCESS_KEY_ID="+r.key.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+r.key.Secret,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=")
	aws := func(args ...string) map[string]any {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--endpoint-url", "http://"+api, "--output", "json")...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("aws %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
		}
		m := map[string]any{}
		if len(bytes.TrimSpace(out)) > 0 {
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		return m
	}
	want := map[string]string{} // recipient → text its message must hold

	aws("sesv2", "create-email-template", "--template-name", "welcome",
		"--template-content", `{"Subject":"Hi {{name}}","Text":"Hello {{name}}, plan {{plan}}.","Html":"<p>Hello {{name}}</p>"}`)
	aws("ses", "create-template", "--template", `{"TemplateName":"v1welcome","SubjectPart":"Yo {{name}}","TextPart":"Yo {{name}}!"}`)
	if got := aws("ses", "test-render-template", "--template-name", "welcome", "--template-data", `{"name":"Zoe","plan":"x"}`); !strings.Contains(fmt.Sprint(got["RenderedTemplate"]), "Hello Zoe, plan x.") {
		t.Errorf("test-render-template: %v", got)
	}
	if got := aws("sesv2", "get-email-template", "--template-name", "v1welcome"); fmt.Sprint(got["TemplateContent"].(map[string]any)["Subject"]) != "Yo {{name}}" {
		t.Errorf("get-email-template of a v1 template: %v", got)
	}

	aws("ses", "send-templated-email", "--source", "alice@example.test", "--destination", "ToAddresses=ann@rcpt.test",
		"--template", "welcome", "--template-data", `{"name":"Ann","plan":"basic"}`)
	want["ann@rcpt.test"] = "Hello Ann, plan basic."
	aws("sesv2", "send-email", "--from-email-address", "alice@example.test", "--destination", "ToAddresses=tom@rcpt.test",
		"--content", `{"Template":{"TemplateName":"v1welcome","TemplateData":"{\"name\":\"Tom\"}"}}`)
	want["tom@rcpt.test"] = "Yo Tom!"
	aws("sesv2", "send-email", "--from-email-address", "alice@example.test", "--destination", "ToAddresses=ida@rcpt.test",
		"--content", `{"Template":{"TemplateContent":{"Subject":"Inline","Text":"Inline {{name}}"},"TemplateData":"{\"name\":\"Ida\"}"}}`)
	want["ida@rcpt.test"] = "Inline Ida"

	v1 := aws("ses", "send-bulk-templated-email", "--source", "alice@example.test", "--template", "welcome",
		"--default-template-data", `{"name":"friend","plan":"basic"}`, "--destinations",
		`[{"Destination":{"ToAddresses":["b1@rcpt.test"]},"ReplacementTemplateData":"{\"name\":\"B1\"}"},{"Destination":{"ToAddresses":["b2@rcpt.test"]}}]`)
	want["b1@rcpt.test"], want["b2@rcpt.test"] = "Hello B1, plan basic.", "Hello friend, plan basic."
	v2 := aws("sesv2", "send-bulk-email", "--from-email-address", "alice@example.test",
		"--default-content", `{"Template":{"TemplateName":"welcome","TemplateData":"{\"name\":\"pal\",\"plan\":\"gold\"}"}}`, "--bulk-email-entries",
		`[{"Destination":{"ToAddresses":["c1@rcpt.test"]},"ReplacementEmailContent":{"ReplacementTemplate":{"ReplacementTemplateData":"{\"name\":\"C1\"}"}}},`+
			`{"Destination":{"ToAddresses":["c2@rcpt.test"]},"ReplacementEmailContent":{"ReplacementTemplate":{"ReplacementTemplateData":"{\"plan\":\"free\"}"}}}]`)
	want["c1@rcpt.test"], want["c2@rcpt.test"] = "Hello C1, plan gold.", "Hello pal, plan free."
	for name, statuses := range map[string]any{"v1": v1["Status"], "v2": v2["BulkEmailEntryResults"]} {
		list, _ := statuses.([]any)
		if len(list) != 2 {
			t.Fatalf("%s bulk statuses: %v", name, statuses)
		}
		for _, s := range list {
			if st := s.(map[string]any)["Status"]; st != "Success" && st != "SUCCESS" {
				t.Errorf("%s bulk status %v", name, s)
			}
		}
	}

	aws("ses", "create-custom-verification-email-template", "--template-name", "cv", "--from-email-address", "hello@example.test",
		"--template-subject", "Confirm your address", "--template-content", "<html><body><h1>Welcome to Example</h1></body></html>",
		"--success-redirection-url", "https://app.example.test/ok", "--failure-redirection-url", "https://app.example.test/failed")
	aws("sesv2", "send-custom-verification-email", "--email-address", "vera@rcpt.test", "--template-name", "cv")
	want["vera@rcpt.test"] = "Welcome to Example"

	eventually(t, "the CLI's messages delivered", func() error {
		for rcpt, text := range want {
			found := false
			for _, m := range mx.all() {
				if len(m.To) == 1 && m.To[0] == rcpt {
					if !bytes.Contains(m.Data, []byte(text)) {
						return fmt.Errorf("message to %s lacks %q:\n%s", rcpt, text, m.Data)
					}
					found = true
				}
			}
			if !found {
				return errors.New("nothing yet for " + rcpt)
			}
		}
		return nil
	})
}
