package sesv2_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/google/go-cmp/cmp"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

// identityARN is the ARN of an identity of the account.
func identityARN(account, name string) string {
	return fmt.Sprintf("arn:aws:ses:%s:%s:identity/%s", apitest.Region, account, name)
}

// sdkTags builds SDK tags from key, value pairs.
func sdkTags(kv ...string) []types.Tag {
	var out []types.Tag
	for i := 0; i < len(kv); i += 2 {
		out = append(out, types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

// tagStrings renders tags as key=value, in order, for comparisons.
func tagStrings(tags []types.Tag) []string {
	out := []string{}
	for _, t := range tags {
		out = append(out, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
	}
	return out
}

// listTags returns the tags of a resource as key=value.
func listTags(t *testing.T, c *sesv2.Client, arn string) []string {
	t.Helper()
	out, err := c.ListTagsForResource(ctx, &sesv2.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("ListTagsForResource(%s): %v", arn, err)
	}
	return tagStrings(out.Tags)
}

func wantTags(t *testing.T, c *sesv2.Client, arn string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if diff := cmp.Diff(want, listTags(t, c, arn)); diff != "" {
		t.Errorf("tags of %s (-want +got):\n%s", arn, diff)
	}
}

func TestFeedbackAttributes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		create(t, env.V2, "feedback.example")
		create(t, env.V2, "Someone@Feedback.example")
		// Forwarding is on for a new identity, as in SES.
		if !get(t, env.V2, "feedback.example").FeedbackForwardingStatus {
			t.Error("FeedbackForwardingStatus = false for a new identity")
		}
		put := func(c *sesv2.Client, name string, on bool) error {
			_, err := c.PutEmailIdentityFeedbackAttributes(ctx, &sesv2.PutEmailIdentityFeedbackAttributesInput{EmailIdentity: aws.String(name), EmailForwardingEnabled: on})
			return err
		}
		for _, name := range []string{"feedback.example", "Someone@feedback.example"} {
			for _, on := range []bool{false, true, false, true} {
				if err := put(env.V2, name, on); err != nil {
					t.Fatalf("Put(%s, %v): %v", name, on, err)
				}
				if got := get(t, env.V2, name).FeedbackForwardingStatus; got != on {
					t.Errorf("%s: FeedbackForwardingStatus = %v after setting %v", name, got, on)
				}
			}
		}
		// The domain's setting is its own: turning it off leaves the address on.
		if err := put(env.V2, "FEEDBACK.example", false); err != nil {
			t.Fatal(err)
		}
		if get(t, env.V2, "feedback.example").FeedbackForwardingStatus || !get(t, env.V2, "Someone@feedback.example").FeedbackForwardingStatus {
			t.Error("domain and address settings are not independent")
		}

		notFound(t, put(env.V2, "nothing.example", true))
		notFound(t, put(env.V2, "nobody@feedback.example", true))
		notFound(t, put(env.V2, "someone@feedback.example", true)) // local parts keep their case
		_, _, other := env.Other(t, "other")
		notFound(t, put(other, "feedback.example", true))
		if get(t, env.V2, "feedback.example").FeedbackForwardingStatus {
			t.Error("another account changed the setting")
		}

		// Wire: an empty body means false; a wrong type is refused.
		if err := put(env.V2, "feedback.example", true); err != nil {
			t.Fatal(err)
		}
		r := raw(t, env, "PUT", "/v2/email/identities/feedback.example/feedback", nil)
		if r.Status != 200 || strings.TrimSpace(string(r.Body)) != "{}" {
			t.Errorf("PUT with empty body: %d %s; want 200 {}", r.Status, r.Body)
		}
		if get(t, env.V2, "feedback.example").FeedbackForwardingStatus {
			t.Error("an empty body did not turn forwarding off")
		}
		r = raw(t, env, "PUT", "/v2/email/identities/feedback.example/feedback", []byte(`{"EmailForwardingEnabled":"yes"}`))
		if r.Status != 400 || r.Header.Get("x-amzn-ErrorType") != "BadRequestException" || !strings.Contains(string(r.Body), "EmailForwardingEnabled") {
			t.Errorf("wrong type: %d %q %s", r.Status, r.Header.Get("x-amzn-ErrorType"), r.Body)
		}
	})
}

func TestTags(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		acct := env.Account.ID
		_, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{
			EmailIdentity: aws.String("tagged.example"),
			Tags:          sdkTags("env", "prod", "owner", "ops"),
		})
		if err != nil {
			t.Fatal(err)
		}
		arn := identityARN(acct, "tagged.example")

		// Tags given at creation are the resource's tags.
		wantTags(t, env.V2, arn, "env=prod", "owner=ops")

		// Tagging adds new keys and replaces the value of existing ones.
		tag := func(c *sesv2.Client, arn string, tags []types.Tag) error {
			_, err := c.TagResource(ctx, &sesv2.TagResourceInput{ResourceArn: aws.String(arn), Tags: tags})
			return err
		}
		if err := tag(env.V2, arn, sdkTags("team", "mail", "env", "staging")); err != nil {
			t.Fatal(err)
		}
		wantTags(t, env.V2, arn, "env=staging", "owner=ops", "team=mail")
		if diff := cmp.Diff([]string{"env=staging", "owner=ops", "team=mail"}, tagStrings(get(t, env.V2, "tagged.example").Tags)); diff != "" {
			t.Errorf("GetEmailIdentity tags (-want +got):\n%s", diff)
		}
		// An empty value is a value; an empty list changes nothing.
		if err := tag(env.V2, arn, sdkTags("owner", "")); err != nil {
			t.Fatal(err)
		}
		if err := tag(env.V2, arn, []types.Tag{}); err != nil {
			t.Fatal(err)
		}
		wantTags(t, env.V2, arn, "env=staging", "owner=", "team=mail")

		// Untagging removes the keys given; unknown keys are ignored.
		untag := func(c *sesv2.Client, arn string, keys ...string) error {
			_, err := c.UntagResource(ctx, &sesv2.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: keys})
			return err
		}
		if err := untag(env.V2, arn, "owner", "no-such-key", "ENV"); err != nil {
			t.Fatal(err)
		}
		wantTags(t, env.V2, arn, "env=staging", "team=mail")
		if err := untag(env.V2, arn, "env", "team"); err != nil {
			t.Fatal(err)
		}
		wantTags(t, env.V2, arn)
		if err := untag(env.V2, arn, "gone"); err != nil {
			t.Fatal(err)
		}

		// Identity names in ARNs are normalised like everywhere else, and
		// addresses (with @ and + in the query string) work.
		create(t, env.V2, "User+Box@Mixed.example")
		addrARN := identityARN(acct, "User+Box@MIXED.example")
		wantTags(t, env.V2, addrARN)
		if err := tag(env.V2, addrARN, sdkTags("k", "v=1&x")); err != nil {
			t.Fatal(err)
		}
		wantTags(t, env.V2, identityARN(acct, "User+Box@mixed.example"), "k=v=1&x")
		if err := tag(env.V2, identityARN(acct, "TAGGED.example"), sdkTags("case", "yes")); err != nil {
			t.Fatal(err)
		}
		wantTags(t, env.V2, arn, "case=yes")
		// An ARN without an account id (Terraform's, when it runs without
		// STS) names the caller's own resource.
		noAccount := "arn:aws:ses:" + apitest.Region + "::identity/User+Box@mixed.example"
		if err := tag(env.V2, noAccount, sdkTags("tf", "1")); err != nil {
			t.Fatal(err)
		}
		wantTags(t, env.V2, addrARN, "k=v=1&x", "tf=1")
		if err := untag(env.V2, noAccount, "tf"); err != nil {
			t.Fatal(err)
		}
		if err := untag(env.V2, addrARN, "k"); err != nil {
			t.Fatal(err)
		}
		wantTags(t, env.V2, addrARN)

		// Rule violations are refused as a whole.
		var fifty []string
		for i := range 50 {
			fifty = append(fifty, fmt.Sprintf("k%02d", i), "v")
		}
		msg := badRequest(t, tag(env.V2, arn, sdkTags(fifty...)))
		if !strings.Contains(msg, "51") {
			t.Errorf("message %q does not say how many tags there would be", msg)
		}
		badRequest(t, tag(env.V2, arn, sdkTags(append(fifty, "k50", "v")...)))
		badRequest(t, tag(env.V2, arn, sdkTags("dup", "1", "dup", "2")))
		badRequest(t, tag(env.V2, arn, sdkTags("", "empty key")))
		badRequest(t, tag(env.V2, arn, sdkTags(strings.Repeat("k", 129), "v")))
		badRequest(t, tag(env.V2, arn, sdkTags("long", strings.Repeat("v", 257))))
		wantTags(t, env.V2, arn, "case=yes")
		// Exactly 50 is allowed.
		if err := tag(env.V2, arn, sdkTags(fifty[:98]...)); err != nil {
			t.Fatalf("50 tags: %v", err)
		}
		if n := len(listTags(t, env.V2, arn)); n != 50 {
			t.Errorf("%d tags; want 50", n)
		}

		// TagKeys is required on untag.
		_, err = env.V2.UntagResource(ctx, &sesv2.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{}})
		badRequest(t, err)
		if n := len(listTags(t, env.V2, arn)); n != 50 {
			t.Errorf("%d tags after refused untag; want 50", n)
		}

		// Unknown identities.
		missing := identityARN(acct, "missing.example")
		notFound(t, tag(env.V2, missing, sdkTags("a", "b")))
		notFound(t, untag(env.V2, missing, "a"))
		_, err = env.V2.ListTagsForResource(ctx, &sesv2.ListTagsForResourceInput{ResourceArn: aws.String(missing)})
		notFound(t, err)
		_, err = env.V2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("missing.example")})
		notFound(t, err)
	})
}

func TestTagsResourceARN(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		acct := env.Account.ID
		_, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("arn.example"), Tags: sdkTags("keep", "me")})
		if err != nil {
			t.Fatal(err)
		}
		ops := map[string]func(c *sesv2.Client, arn string) error{
			"TagResource": func(c *sesv2.Client, arn string) error {
				_, err := c.TagResource(ctx, &sesv2.TagResourceInput{ResourceArn: aws.String(arn), Tags: sdkTags("new", "tag")})
				return err
			},
			"UntagResource": func(c *sesv2.Client, arn string) error {
				_, err := c.UntagResource(ctx, &sesv2.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"keep"}})
				return err
			},
			"ListTagsForResource": func(c *sesv2.Client, arn string) error {
				_, err := c.ListTagsForResource(ctx, &sesv2.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
				return err
			},
		}
		mine := identityARN(acct, "arn.example")

		malformed := []string{
			"",
			"arn.example",
			"arn:aws:ses:us-east-1:" + acct,
			"arn:aws:ses:us-east-1:" + acct + ":identity",
			"arn:aws:ses:us-east-1:" + acct + ":identity/",
			"arn:aws:ses:us-east-1:" + acct + ":/arn.example",
			"arn:aws:ses:us-east-1:123:identity/arn.example",
			"arn:aws:ses::" + acct + ":identity/arn.example",
			"arn:aws:sns:us-east-1:" + acct + ":identity/arn.example",
			"arn:gcp:ses:us-east-1:" + acct + ":identity/arn.example",
			"urn:aws:ses:us-east-1:" + acct + ":identity/arn.example",
		}
		// Resources the caller cannot see: SES answers as if they did not exist.
		other, _, otherV2 := env.Other(t, "other")
		create(t, otherV2, "theirs.example")
		invisible := []string{
			identityARN(other.ID, "arn.example"),    // another account, a name the caller has
			identityARN(other.ID, "theirs.example"), // another account's identity
			strings.Replace(mine, apitest.Region, "eu-west-1", 1),
			"arn:aws:ses:" + apitest.Region + ":" + acct + ":configuration-set/arn.example",
			"arn:aws:ses:" + apitest.Region + ":" + acct + ":template/arn.example",
			"arn:aws:ses:" + apitest.Region + ":" + acct + ":contact-list/arn.example",
			identityARN(acct, "not a domain"),
		}
		for op, f := range ops {
			for _, arn := range malformed {
				if msg := badRequest(t, f(env.V2, arn)); !strings.Contains(msg, "ResourceArn") {
					t.Errorf("%s(%q): message %q does not name ResourceArn", op, arn, msg)
				}
			}
			for _, arn := range invisible {
				err := f(env.V2, arn)
				if err == nil {
					t.Fatalf("%s(%s) succeeded", op, arn)
				}
				notFound(t, err)
			}
			// The other account cannot reach this account's identity by its ARN.
			notFound(t, f(otherV2, mine))
			// Without an account id an ARN names the caller's own resource.
			notFound(t, f(otherV2, "arn:aws:ses:"+apitest.Region+"::identity/arn.example"))
		}
		wantTags(t, env.V2, mine, "keep=me")
		wantTags(t, otherV2, identityARN(other.ID, "theirs.example"))
	})
}

func TestTagsWire(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		create(t, env.V2, "wire.example")
		arn := url.QueryEscape(identityARN(env.Account.ID, "wire.example"))
		check := func(name string, r rawResponse, status int, code, body string) {
			t.Helper()
			if r.Status != status || r.Header.Get("x-amzn-ErrorType") != code {
				t.Errorf("%s: %d %q; want %d %q (body %s)", name, r.Status, r.Header.Get("x-amzn-ErrorType"), status, code, r.Body)
			}
			if body != "" && strings.TrimSpace(string(r.Body)) != body {
				t.Errorf("%s: body %s; want %s", name, r.Body, body)
			}
		}
		// Tags is always present, [] when there are none.
		check("list empty", raw(t, env, "GET", "/v2/email/tags?ResourceArn="+arn, nil), 200, "", `{"Tags":[]}`)
		check("tag", raw(t, env, "POST", "/v2/email/tags", []byte(`{"ResourceArn":"`+identityARN(env.Account.ID, "wire.example")+`","Tags":[{"Key":"a","Value":"1"},{"Key":"b","Value":"2"}]}`)), 200, "", `{}`)
		check("list", raw(t, env, "GET", "/v2/email/tags?ResourceArn="+arn, nil), 200, "", `{"Tags":[{"Key":"a","Value":"1"},{"Key":"b","Value":"2"}]}`)
		check("untag repeated keys", raw(t, env, "DELETE", "/v2/email/tags?ResourceArn="+arn+"&TagKeys=a&TagKeys=b", nil), 200, "", `{}`)
		check("list after untag", raw(t, env, "GET", "/v2/email/tags?ResourceArn="+arn, nil), 200, "", `{"Tags":[]}`)

		check("untag without keys", raw(t, env, "DELETE", "/v2/email/tags?ResourceArn="+arn, nil), 400, "BadRequestException", "")
		check("untag empty key", raw(t, env, "DELETE", "/v2/email/tags?ResourceArn="+arn+"&TagKeys=", nil), 400, "BadRequestException", "")
		check("untag without arn", raw(t, env, "DELETE", "/v2/email/tags?TagKeys=a", nil), 400, "BadRequestException", "")
		check("list without arn", raw(t, env, "GET", "/v2/email/tags", nil), 400, "BadRequestException", "")
		check("tag without tags", raw(t, env, "POST", "/v2/email/tags", []byte(`{"ResourceArn":"`+identityARN(env.Account.ID, "wire.example")+`"}`)), 400, "BadRequestException", "")
		check("tag wrong type", raw(t, env, "POST", "/v2/email/tags", []byte(`{"ResourceArn":"`+identityARN(env.Account.ID, "wire.example")+`","Tags":{"a":"1"}}`)), 400, "BadRequestException", "")
		check("tag empty body", raw(t, env, "POST", "/v2/email/tags", nil), 400, "BadRequestException", "")
		check("wrong method", raw(t, env, "PUT", "/v2/email/tags", []byte(`{}`)), 404, "NotFoundException", "")
	})
}
