package sesv1_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/sesapi"
	"github.com/sesame-email/sesame/internal/testkit"
)

// run runs fn on a fresh API over SQLite and over PostgreSQL.
func run(t *testing.T, fn func(t *testing.T, env *apitest.Env)) {
	t.Helper()
	dbtest.Each(t, func(t *testing.T, d *db.DB) { fn(t, apitest.New(t, d)) })
}

// wantAPIError fails unless err is an SES error with this code whose
// message contains every fragment.
func wantAPIError(t *testing.T, err error, code string, fragments ...string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v; want API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code = %s (%s); want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
	for _, f := range fragments {
		if !strings.Contains(ae.ErrorMessage(), f) {
			t.Errorf("%s message %q does not contain %q", code, ae.ErrorMessage(), f)
		}
	}
}

func verifyDomain(t *testing.T, c *ses.Client, domain string) string {
	t.Helper()
	out, err := c.VerifyDomainIdentity(t.Context(), &ses.VerifyDomainIdentityInput{Domain: aws.String(domain)})
	if err != nil {
		t.Fatalf("VerifyDomainIdentity(%s): %v", domain, err)
	}
	return aws.ToString(out.VerificationToken)
}

func verificationAttrs(t *testing.T, c *ses.Client, names ...string) map[string]types.IdentityVerificationAttributes {
	t.Helper()
	out, err := c.GetIdentityVerificationAttributes(t.Context(), &ses.GetIdentityVerificationAttributesInput{Identities: names})
	if err != nil {
		t.Fatalf("GetIdentityVerificationAttributes: %v", err)
	}
	return out.VerificationAttributes
}

func dkimAttrs(t *testing.T, c *ses.Client, names ...string) map[string]types.IdentityDkimAttributes {
	t.Helper()
	out, err := c.GetIdentityDkimAttributes(t.Context(), &ses.GetIdentityDkimAttributesInput{Identities: names})
	if err != nil {
		t.Fatalf("GetIdentityDkimAttributes: %v", err)
	}
	return out.DkimAttributes
}

func mailFromAttrs(t *testing.T, c *ses.Client, names ...string) map[string]types.IdentityMailFromDomainAttributes {
	t.Helper()
	out, err := c.GetIdentityMailFromDomainAttributes(t.Context(), &ses.GetIdentityMailFromDomainAttributesInput{Identities: names})
	if err != nil {
		t.Fatalf("GetIdentityMailFromDomainAttributes: %v", err)
	}
	return out.MailFromDomainAttributes
}

func TestVerifyDomainIdentity(t *testing.T) {
	run(t, func(t *testing.T, env *apitest.Env) {
		token := verifyDomain(t, env.V1, "example.com")
		if len(token) != 44 {
			t.Errorf("VerificationToken %q has %d characters; want 44", token, len(token))
		}
		if again := verifyDomain(t, env.V1, "Example.COM."); again != token {
			t.Errorf("second VerifyDomainIdentity returned %q; want the same token %q", again, token)
		}
		// Terraform reads the token back at once.
		attrs := verificationAttrs(t, env.V1, "example.com")
		want := map[string]types.IdentityVerificationAttributes{
			"example.com": {VerificationStatus: types.VerificationStatusPending, VerificationToken: aws.String(token)},
		}
		if diff := cmp.Diff(want, attrs, cmpIgnoreSerde); diff != "" {
			t.Errorf("verification attributes (-want +got):\n%s", diff)
		}

		for _, bad := range []string{"", "no-dot", "a..example.com", "user@example.com", "-x.example.com"} {
			_, err := env.V1.VerifyDomainIdentity(t.Context(), &ses.VerifyDomainIdentityInput{Domain: aws.String(bad)})
			wantAPIError(t, err, "InvalidParameterValue")
		}
		list, err := env.V1.ListIdentities(t.Context(), &ses.ListIdentitiesInput{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"example.com"}, list.Identities); diff != "" {
			t.Errorf("identities after rejected calls (-want +got):\n%s", diff)
		}
	})
}

func TestVerifyDomainDkim(t *testing.T) {
	run(t, func(t *testing.T, env *apitest.Env) {
		ctx := t.Context()
		dkim := func(domain string) []string {
			t.Helper()
			out, err := env.V1.VerifyDomainDkim(ctx, &ses.VerifyDomainDkimInput{Domain: aws.String(domain)})
			if err != nil {
				t.Fatalf("VerifyDomainDkim(%s): %v", domain, err)
			}
			if len(out.DkimTokens) != 3 {
				t.Fatalf("VerifyDomainDkim(%s) returned %d tokens; want 3", domain, len(out.DkimTokens))
			}
			return out.DkimTokens
		}

		// A new domain.
		tokens := dkim("new.example")
		if again := dkim("new.example"); !slices.Equal(again, tokens) {
			t.Errorf("second VerifyDomainDkim = %v; want the same tokens %v", again, tokens)
		}
		got := dkimAttrs(t, env.V1, "new.example")["new.example"]
		if !got.DkimEnabled || got.DkimVerificationStatus != types.VerificationStatusPending || !slices.Equal(got.DkimTokens, tokens) {
			t.Errorf("DKIM attributes = %+v; want enabled, Pending, %v", got, tokens)
		}
		if v := verificationAttrs(t, env.V1, "new.example")["new.example"]; v.VerificationStatus != types.VerificationStatusPending || len(aws.ToString(v.VerificationToken)) != 44 {
			t.Errorf("verification attributes of the DKIM domain = %+v", v)
		}

		// A domain created by VerifyDomainIdentity keeps its TXT token.
		txt := verifyDomain(t, env.V1, "txt.example")
		tokens2 := dkim("txt.example")
		if again := dkim("txt.example"); !slices.Equal(again, tokens2) {
			t.Errorf("second VerifyDomainDkim = %v; want %v", again, tokens2)
		}
		if slices.Equal(tokens, tokens2) {
			t.Error("two domains got the same DKIM tokens")
		}
		if again := verifyDomain(t, env.V1, "txt.example"); again != txt {
			t.Errorf("TXT token changed by VerifyDomainDkim: %q → %q", txt, again)
		}
		got = dkimAttrs(t, env.V1, "txt.example")["txt.example"]
		if !got.DkimEnabled || got.DkimVerificationStatus != types.VerificationStatusPending || !slices.Equal(got.DkimTokens, tokens2) {
			t.Errorf("DKIM attributes = %+v; want enabled, Pending, %v", got, tokens2)
		}

		_, err := env.V1.VerifyDomainDkim(ctx, &ses.VerifyDomainDkimInput{Domain: aws.String("user@example.com")})
		wantAPIError(t, err, "InvalidParameterValue")
	})
}

func TestVerifyEmail(t *testing.T) {
	run(t, func(t *testing.T, env *apitest.Env) {
		ctx := t.Context()
		if _, err := env.V1.VerifyEmailIdentity(ctx, &ses.VerifyEmailIdentityInput{EmailAddress: aws.String("a@example.com")}); err != nil {
			t.Fatal(err)
		}
		env.Clock.Advance(identity.DefaultVerificationCooldown) // a resend waits for the cooldown
		if _, err := env.V1.VerifyEmailIdentity(ctx, &ses.VerifyEmailIdentityInput{EmailAddress: aws.String("a@example.com")}); err != nil {
			t.Fatalf("second VerifyEmailIdentity: %v", err)
		}
		env.Clock.Advance(time.Second) // the sandbox's sending rate
		if _, err := env.V1.VerifyEmailAddress(ctx, &ses.VerifyEmailAddressInput{EmailAddress: aws.String("b@example.com")}); err != nil {
			t.Fatal(err)
		}
		attrs := verificationAttrs(t, env.V1, "a@example.com", "b@example.com")
		want := map[string]types.IdentityVerificationAttributes{
			"a@example.com": {VerificationStatus: types.VerificationStatusPending},
			"b@example.com": {VerificationStatus: types.VerificationStatusPending},
		}
		if diff := cmp.Diff(want, attrs, cmpIgnoreSerde); diff != "" {
			t.Errorf("address verification attributes (-want +got):\n%s", diff)
		}
		for _, bad := range []string{"", "example.com", "a@", "a b@example.com"} {
			_, err := env.V1.VerifyEmailIdentity(ctx, &ses.VerifyEmailIdentityInput{EmailAddress: aws.String(bad)})
			wantAPIError(t, err, "InvalidParameterValue")
			_, err = env.V1.VerifyEmailAddress(ctx, &ses.VerifyEmailAddressInput{EmailAddress: aws.String(bad)})
			wantAPIError(t, err, "InvalidParameterValue")
		}

		// The legacy list shows verified addresses only.
		listVerified := func() []string {
			t.Helper()
			out, err := env.V1.ListVerifiedEmailAddresses(ctx, &ses.ListVerifiedEmailAddressesInput{})
			if err != nil {
				t.Fatal(err)
			}
			return out.VerifiedEmailAddresses
		}
		if got := listVerified(); len(got) != 0 {
			t.Errorf("ListVerifiedEmailAddresses before confirmation = %v", got)
		}
		if _, err := env.Identities.ConfirmAddress(ctx, testkit.VerificationSecret(t, env.DB, "a@example.com")); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"a@example.com"}, listVerified()); diff != "" {
			t.Errorf("ListVerifiedEmailAddresses (-want +got):\n%s", diff)
		}
		if got := verificationAttrs(t, env.V1, "a@example.com")["a@example.com"].VerificationStatus; got != types.VerificationStatusSuccess {
			t.Errorf("status after confirmation = %s", got)
		}
		for range 2 { // idempotent
			if _, err := env.V1.DeleteVerifiedEmailAddress(ctx, &ses.DeleteVerifiedEmailAddressInput{EmailAddress: aws.String("a@example.com")}); err != nil {
				t.Fatal(err)
			}
		}
		if got := listVerified(); len(got) != 0 {
			t.Errorf("ListVerifiedEmailAddresses after delete = %v", got)
		}
		_, err := env.V1.DeleteVerifiedEmailAddress(ctx, &ses.DeleteVerifiedEmailAddressInput{EmailAddress: aws.String("example.com")})
		wantAPIError(t, err, "InvalidParameterValue")
	})
}

func TestListIdentities(t *testing.T) {
	run(t, func(t *testing.T, env *apitest.Env) {
		ctx := t.Context()
		domains := []string{"a.example", "b.example", "c.example"}
		addresses := []string{"x@a.example", "y@b.example"}
		for _, d := range domains {
			verifyDomain(t, env.V1, d)
		}
		for _, a := range addresses {
			if _, err := env.V1.VerifyEmailIdentity(ctx, &ses.VerifyEmailIdentityInput{EmailAddress: aws.String(a)}); err != nil {
				t.Fatal(err)
			}
			env.Clock.Advance(time.Second) // verification mail takes the sandbox's sending rate
		}
		all := append(slices.Clone(domains), addresses...)
		slices.Sort(all)

		list := func(in *ses.ListIdentitiesInput) []string {
			t.Helper()
			out, err := env.V1.ListIdentities(ctx, in)
			if err != nil {
				t.Fatalf("ListIdentities: %v", err)
			}
			if out.NextToken != nil {
				t.Errorf("unexpected NextToken %q", *out.NextToken)
			}
			got := slices.Clone(out.Identities)
			slices.Sort(got)
			return got
		}
		if diff := cmp.Diff(all, list(&ses.ListIdentitiesInput{})); diff != "" {
			t.Errorf("all identities (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(domains, list(&ses.ListIdentitiesInput{IdentityType: types.IdentityTypeDomain})); diff != "" {
			t.Errorf("domains (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(addresses, list(&ses.ListIdentitiesInput{IdentityType: types.IdentityTypeEmailAddress})); diff != "" {
			t.Errorf("addresses (-want +got):\n%s", diff)
		}

		p := ses.NewListIdentitiesPaginator(env.V1, &ses.ListIdentitiesInput{MaxItems: aws.Int32(2)})
		var pages []int
		var paged []string
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("page %d: %v", len(pages)+1, err)
			}
			pages = append(pages, len(out.Identities))
			paged = append(paged, out.Identities...)
		}
		if diff := cmp.Diff([]int{2, 2, 1}, pages); diff != "" {
			t.Errorf("page sizes (-want +got):\n%s", diff)
		}
		sorted := slices.Clone(paged)
		slices.Sort(sorted)
		if diff := cmp.Diff(all, sorted); diff != "" {
			t.Errorf("identities over all pages (-want +got):\n%s", diff)
		}

		p = ses.NewListIdentitiesPaginator(env.V1, &ses.ListIdentitiesInput{IdentityType: types.IdentityTypeDomain}, func(o *ses.ListIdentitiesPaginatorOptions) { o.Limit = 1 })
		var pagedDomains []string
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pagedDomains = append(pagedDomains, out.Identities...)
		}
		slices.Sort(pagedDomains)
		if diff := cmp.Diff(domains, pagedDomains); diff != "" {
			t.Errorf("domains by pages of 1 (-want +got):\n%s", diff)
		}

		_, err := env.V1.ListIdentities(ctx, &ses.ListIdentitiesInput{IdentityType: "Robot"})
		wantAPIError(t, err, "ValidationError", "1 validation error detected: Value 'Robot' at 'identityType' failed to satisfy constraint: Member must satisfy enum value set: [Domain, EmailAddress]")
		for _, tok := range []string{"!!!", "bm90IGJhc2U2NA==", "_w"} {
			_, err = env.V1.ListIdentities(ctx, &ses.ListIdentitiesInput{NextToken: aws.String(tok)})
			wantAPIError(t, err, "InvalidParameterValue", "Invalid NextToken")
		}
		for _, n := range []int32{0, -1, 1001} {
			_, err = env.V1.ListIdentities(ctx, &ses.ListIdentitiesInput{MaxItems: aws.Int32(n)})
			wantAPIError(t, err, "InvalidParameterValue", "MaxItems")
		}
	})
}

func TestDeleteIdentity(t *testing.T) {
	run(t, func(t *testing.T, env *apitest.Env) {
		ctx := t.Context()
		verifyDomain(t, env.V1, "gone.example")
		verifyDomain(t, env.V1, "kept.example")
		for _, name := range []string{"gone.example", "gone.example", "never.example", "nobody@never.example"} {
			if _, err := env.V1.DeleteIdentity(ctx, &ses.DeleteIdentityInput{Identity: aws.String(name)}); err != nil {
				t.Fatalf("DeleteIdentity(%s): %v", name, err)
			}
		}
		out, err := env.V1.ListIdentities(ctx, &ses.ListIdentitiesInput{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"kept.example"}, out.Identities); diff != "" {
			t.Errorf("identities after delete (-want +got):\n%s", diff)
		}
		if _, err := env.Identities.Get(ctx, env.Account.ID, "gone.example"); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("deleted identity: Get = %v; want ErrNotFound", err)
		}
		_, err = env.V1.DeleteIdentity(ctx, &ses.DeleteIdentityInput{Identity: aws.String("bad..name")})
		wantAPIError(t, err, "InvalidParameterValue")
	})
}

func TestGetAttributesUnknownAndLimit(t *testing.T) {
	run(t, func(t *testing.T, env *apitest.Env) {
		ctx := t.Context()
		token := verifyDomain(t, env.V1, "known.example")
		if _, err := env.V1.VerifyEmailIdentity(ctx, &ses.VerifyEmailIdentityInput{EmailAddress: aws.String("me@known.example")}); err != nil {
			t.Fatal(err)
		}
		names := []string{"unknown.example", "known.example", "nobody@known.example", "me@known.example", "not a name", "known.example"}

		v := verificationAttrs(t, env.V1, names...)
		wantV := map[string]types.IdentityVerificationAttributes{
			"known.example":    {VerificationStatus: types.VerificationStatusPending, VerificationToken: aws.String(token)},
			"me@known.example": {VerificationStatus: types.VerificationStatusPending},
		}
		if diff := cmp.Diff(wantV, v, cmpIgnoreSerde); diff != "" {
			t.Errorf("verification attributes (-want +got):\n%s", diff)
		}
		d := dkimAttrs(t, env.V1, names...)
		wantD := map[string]types.IdentityDkimAttributes{
			"known.example":    {DkimEnabled: false, DkimVerificationStatus: types.VerificationStatusNotStarted},
			"me@known.example": {DkimEnabled: false, DkimVerificationStatus: types.VerificationStatusNotStarted},
		}
		if diff := cmp.Diff(wantD, d, cmpIgnoreSerde); diff != "" {
			t.Errorf("DKIM attributes (-want +got):\n%s", diff)
		}
		m := mailFromAttrs(t, env.V1, names...)
		wantM := map[string]types.IdentityMailFromDomainAttributes{
			"known.example":    {MailFromDomain: aws.String(""), BehaviorOnMXFailure: types.BehaviorOnMXFailureUseDefaultValue},
			"me@known.example": {MailFromDomain: aws.String(""), BehaviorOnMXFailure: types.BehaviorOnMXFailureUseDefaultValue},
		}
		if diff := cmp.Diff(wantM, m, cmpIgnoreSerde); diff != "" {
			t.Errorf("MAIL FROM attributes (-want +got):\n%s", diff)
		}

		// At most 100 names per call.
		var hundred []string
		for k := range 100 {
			hundred = append(hundred, fmt.Sprintf("d%d.example", k))
		}
		hundred[50] = "known.example"
		if got := verificationAttrs(t, env.V1, hundred...); len(got) != 1 {
			t.Errorf("100 names: %d entries; want 1", len(got))
		}
		tooMany := append(hundred, "one-more.example")
		_, err := env.V1.GetIdentityVerificationAttributes(ctx, &ses.GetIdentityVerificationAttributesInput{Identities: tooMany})
		wantAPIError(t, err, "InvalidParameterValue", "101")
		_, err = env.V1.GetIdentityDkimAttributes(ctx, &ses.GetIdentityDkimAttributesInput{Identities: tooMany})
		wantAPIError(t, err, "InvalidParameterValue", "101")
		_, err = env.V1.GetIdentityMailFromDomainAttributes(ctx, &ses.GetIdentityMailFromDomainAttributesInput{Identities: tooMany})
		wantAPIError(t, err, "InvalidParameterValue", "101")

		// An empty list is an empty answer.
		if got := verificationAttrs(t, env.V1, []string{}...); len(got) != 0 {
			t.Errorf("no names: %v", got)
		}
	})
}

func TestSetIdentityMailFromDomain(t *testing.T) {
	run(t, func(t *testing.T, env *apitest.Env) {
		ctx := t.Context()
		verifyDomain(t, env.V1, "example.com")
		set := func(identityName, mailFrom string, b types.BehaviorOnMXFailure) error {
			in := &ses.SetIdentityMailFromDomainInput{Identity: aws.String(identityName), BehaviorOnMXFailure: b}
			if mailFrom != "" {
				in.MailFromDomain = aws.String(mailFrom)
			}
			_, err := env.V1.SetIdentityMailFromDomain(ctx, in)
			return err
		}
		before, err := env.Identities.Get(ctx, env.Account.ID, "example.com")
		if err != nil {
			t.Fatal(err)
		}
		unchanged := func(version int64) {
			t.Helper()
			i, err := env.Identities.Get(ctx, env.Account.ID, "example.com")
			if err != nil {
				t.Fatal(err)
			}
			if i.MailFrom.Domain != "" || i.MailFrom.Status != "" || i.MailFrom.Behavior != identity.UseDefaultValue || i.Version != version {
				t.Errorf("a rejected call changed the identity: MailFrom %+v, version %d → %d", i.MailFrom, version, i.Version)
			}
		}

		wantAPIError(t, set("unknown.example", "bounce.unknown.example", ""), "InvalidParameterValue", "Identity unknown.example does not exist.")
		wantAPIError(t, set("example.com", "bounce.example.com", types.BehaviorOnMXFailureRejectMessage), "InvalidParameterValue", "not verified")
		unchanged(before.Version)

		env.MarkVerified(t, "example.com")
		verified, err := env.Identities.Get(ctx, env.Account.ID, "example.com")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ mailFrom, fragment string }{
			{"bounce.other.com", "is not subdomain of the domain of the identity 'example.com'"},
			{"mail.example.com.evil.org", "is not subdomain"},
			{"example.com", "not that domain itself"},
			{"bounce", "two labels"},
			{"-bad.example.com", "starts or ends with a hyphen"},
			{"bad_label.example.com", "only letters, digits and hyphens"},
			{strings.Repeat(strings.Repeat("a", 60)+".", 4) + "example.com", "at most 253 characters"},
		} {
			err := set("example.com", c.mailFrom, types.BehaviorOnMXFailureRejectMessage)
			wantAPIError(t, err, "InvalidParameterValue", c.fragment)
		}
		unchanged(verified.Version)

		err = set("example.com", "bounce.example.com", "Bounce")
		wantAPIError(t, err, "ValidationError", "1 validation error detected: Value 'Bounce' at 'behaviorOnMXFailure' failed to satisfy constraint: Member must satisfy enum value set: [RejectMessage, UseDefaultValue]")
		unchanged(verified.Version)

		if err := set("example.com", "bounce.example.com", types.BehaviorOnMXFailureRejectMessage); err != nil {
			t.Fatalf("valid SetIdentityMailFromDomain: %v", err)
		}
		got := mailFromAttrs(t, env.V1, "example.com")
		want := map[string]types.IdentityMailFromDomainAttributes{"example.com": {
			MailFromDomain:       aws.String("bounce.example.com"),
			MailFromDomainStatus: types.CustomMailFromStatusPending,
			BehaviorOnMXFailure:  types.BehaviorOnMXFailureRejectMessage,
		}}
		if diff := cmp.Diff(want, got, cmpIgnoreSerde); diff != "" {
			t.Errorf("after set (-want +got):\n%s", diff)
		}

		// Terraform's delete: no MailFromDomain, no behaviour.
		if err := set("example.com", "", ""); err != nil {
			t.Fatalf("clearing: %v", err)
		}
		got = mailFromAttrs(t, env.V1, "example.com")
		want = map[string]types.IdentityMailFromDomainAttributes{"example.com": {
			MailFromDomain:      aws.String(""),
			BehaviorOnMXFailure: types.BehaviorOnMXFailureUseDefaultValue,
		}}
		if diff := cmp.Diff(want, got, cmpIgnoreSerde); diff != "" {
			t.Errorf("after clearing (-want +got):\n%s", diff)
		}

		// An address identity: the MAIL FROM domain goes under its domain.
		if _, err := env.V1.VerifyEmailIdentity(ctx, &ses.VerifyEmailIdentityInput{EmailAddress: aws.String("me@example.org")}); err != nil {
			t.Fatal(err)
		}
		env.MarkVerified(t, "me@example.org")
		wantAPIError(t, set("me@example.org", "bounce.example.com", ""), "InvalidParameterValue", "is not subdomain")
		if err := set("me@example.org", "bounce.example.org", ""); err != nil {
			t.Fatal(err)
		}
		got = mailFromAttrs(t, env.V1, "me@example.org")
		if g := got["me@example.org"]; aws.ToString(g.MailFromDomain) != "bounce.example.org" || g.MailFromDomainStatus != types.CustomMailFromStatusPending || g.BehaviorOnMXFailure != types.BehaviorOnMXFailureUseDefaultValue {
			t.Errorf("address MAIL FROM attributes = %+v", g)
		}
	})
}

func TestSetIdentityDkimEnabled(t *testing.T) {
	run(t, func(t *testing.T, env *apitest.Env) {
		ctx := t.Context()
		out, err := env.V1.VerifyDomainDkim(ctx, &ses.VerifyDomainDkimInput{Domain: aws.String("dkim.example")})
		if err != nil {
			t.Fatal(err)
		}
		setEnabled := func(name string, on bool) error {
			_, err := env.V1.SetIdentityDkimEnabled(ctx, &ses.SetIdentityDkimEnabledInput{Identity: aws.String(name), DkimEnabled: on})
			return err
		}
		for _, on := range []bool{false, true, false} {
			if err := setEnabled("dkim.example", on); err != nil {
				t.Fatalf("SetIdentityDkimEnabled(%v): %v", on, err)
			}
			got := dkimAttrs(t, env.V1, "dkim.example")["dkim.example"]
			want := types.IdentityDkimAttributes{DkimEnabled: on, DkimVerificationStatus: types.VerificationStatusPending, DkimTokens: out.DkimTokens}
			if diff := cmp.Diff(want, got, cmpIgnoreSerde); diff != "" {
				t.Errorf("after SetIdentityDkimEnabled(%v) (-want +got):\n%s", on, diff)
			}
		}
		if err := setEnabled("dkim.example", true); err != nil {
			t.Fatal(err)
		}

		// An address reports its domain's DKIM state.
		for _, a := range []string{"me@dkim.example", "me@plain.example"} {
			if _, err := env.V1.VerifyEmailIdentity(ctx, &ses.VerifyEmailIdentityInput{EmailAddress: aws.String(a)}); err != nil {
				t.Fatal(err)
			}
			env.Clock.Advance(time.Second) // verification mail takes the sandbox's sending rate
		}
		got := dkimAttrs(t, env.V1, "me@dkim.example", "me@plain.example")
		want := map[string]types.IdentityDkimAttributes{
			"me@dkim.example":  {DkimEnabled: true, DkimVerificationStatus: types.VerificationStatusPending},
			"me@plain.example": {DkimEnabled: false, DkimVerificationStatus: types.VerificationStatusNotStarted},
		}
		if diff := cmp.Diff(want, got, cmpIgnoreSerde); diff != "" {
			t.Errorf("address DKIM attributes (-want +got):\n%s", diff)
		}

		// A domain verified by TXT only has no key to sign with.
		verifyDomain(t, env.V1, "txt.example")
		wantAPIError(t, setEnabled("txt.example", true), "InvalidParameterValue", "txt.example")
		if g := dkimAttrs(t, env.V1, "txt.example")["txt.example"]; g.DkimEnabled || g.DkimVerificationStatus != types.VerificationStatusNotStarted || len(g.DkimTokens) != 0 {
			t.Errorf("TXT-only domain DKIM attributes = %+v", g)
		}
		wantAPIError(t, setEnabled("nope.example", true), "InvalidParameterValue", "Identity nope.example does not exist.")
		wantAPIError(t, setEnabled("bad..example", true), "InvalidParameterValue")
	})
}

func TestIdentityExistsWaiter(t *testing.T) {
	run(t, func(t *testing.T, env *apitest.Env) {
		ctx := t.Context()
		verifyDomain(t, env.V1, "wait.example")
		w := ses.NewIdentityExistsWaiter(env.V1, func(o *ses.IdentityExistsWaiterOptions) {
			o.MinDelay = 10 * time.Millisecond
			o.MaxDelay = 50 * time.Millisecond
		})
		in := &ses.GetIdentityVerificationAttributesInput{Identities: []string{"wait.example"}}

		// Pending: the waiter gives up.
		if err := w.Wait(ctx, in, 200*time.Millisecond); err == nil {
			t.Fatal("waiter succeeded while the identity is Pending")
		}
		// An unknown identity never exists.
		if err := w.Wait(ctx, &ses.GetIdentityVerificationAttributesInput{Identities: []string{"unknown.example"}}, 100*time.Millisecond); err == nil {
			t.Fatal("waiter succeeded for an unknown identity")
		}

		done := make(chan error, 1)
		go func() { done <- w.Wait(ctx, in, 20*time.Second) }()
		time.Sleep(100 * time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("waiter returned before verification: %v", err)
		default:
		}
		env.MarkVerified(t, "wait.example")
		if err := <-done; err != nil {
			t.Fatalf("waiter: %v", err)
		}
	})
}

func TestAccountIsolation(t *testing.T) {
	run(t, func(t *testing.T, env *apitest.Env) {
		ctx := t.Context()
		token := verifyDomain(t, env.V1, "shared.example")
		if _, err := env.V1.VerifyEmailIdentity(ctx, &ses.VerifyEmailIdentityInput{EmailAddress: aws.String("me@shared.example")}); err != nil {
			t.Fatal(err)
		}
		_, other, _ := env.Other(t, "other")

		out, err := other.ListIdentities(ctx, &ses.ListIdentitiesInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Identities) != 0 {
			t.Errorf("the other account sees %v", out.Identities)
		}
		if got := verificationAttrs(t, other, "shared.example", "me@shared.example"); len(got) != 0 {
			t.Errorf("the other account reads verification attributes %v", got)
		}
		if got := mailFromAttrs(t, other, "shared.example"); len(got) != 0 {
			t.Errorf("the other account reads MAIL FROM attributes %v", got)
		}
		_, err = other.SetIdentityDkimEnabled(ctx, &ses.SetIdentityDkimEnabledInput{Identity: aws.String("shared.example"), DkimEnabled: false})
		wantAPIError(t, err, "InvalidParameterValue", "does not exist")
		_, err = other.SetIdentityMailFromDomain(ctx, &ses.SetIdentityMailFromDomainInput{Identity: aws.String("shared.example")})
		wantAPIError(t, err, "InvalidParameterValue", "does not exist")
		if _, err := other.DeleteIdentity(ctx, &ses.DeleteIdentityInput{Identity: aws.String("shared.example")}); err != nil {
			t.Fatal(err)
		}
		if got := verificationAttrs(t, env.V1, "shared.example"); aws.ToString(got["shared.example"].VerificationToken) != token {
			t.Errorf("the other account's delete touched the first account's identity: %v", got)
		}

		otherToken := verifyDomain(t, other, "shared.example")
		if otherToken == token || len(otherToken) != 44 {
			t.Errorf("second account's token %q; want a different 44-character token than %q", otherToken, token)
		}
		if got := verifyDomain(t, env.V1, "shared.example"); got != token {
			t.Errorf("first account's token changed to %q", got)
		}
	})
}

// cmpIgnoreSerde ignores the SDK types' unexported members.
var cmpIgnoreSerde = cmpopts.IgnoreUnexported(types.IdentityVerificationAttributes{}, types.IdentityDkimAttributes{}, types.IdentityMailFromDomainAttributes{})

// --- Raw protocol checks: hand-made, signed requests. ---

// rawCall sends a signed Query request and returns the response and its body.
func rawCall(t *testing.T, env *apitest.Env, method string, params url.Values) (*http.Response, []byte) {
	t.Helper()
	return rawSend(t, env, method, params.Encode())
}

// rawSend sends enc (a form body, or the query string of a GET) signed.
func rawSend(t *testing.T, env *apitest.Env, method, enc string) (*http.Response, []byte) {
	t.Helper()
	if method == http.MethodGet {
		return env.Signed(t, method, "/?"+enc, "", nil)
	}
	return env.Signed(t, method, "/", "application/x-www-form-urlencoded; charset=utf-8", []byte(enc))
}

// shape lists the element paths of an XML document, in document order,
// with the namespace of the root and the text of leaves.
func shape(t *testing.T, b []byte) (ns string, paths []string, text map[string]string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	text = map[string]string{}
	var stack []string
	var chars strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("response is not XML: %v\n%s", err, b)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				ns = tok.Name.Space
			}
			stack = append(stack, tok.Name.Local)
			paths = append(paths, strings.Join(stack, "/"))
			chars.Reset()
		case xml.CharData:
			chars.Write(tok)
		case xml.EndElement:
			p := strings.Join(stack, "/")
			if s := strings.TrimSpace(chars.String()); s != "" {
				text[p] = s
			}
			chars.Reset()
			stack = stack[:len(stack)-1]
		}
	}
	return ns, paths, text
}

func checkCommonHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	d, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		t.Errorf("Date header %q: %v", resp.Header.Get("Date"), err)
	} else if time.Since(d).Abs() > time.Minute {
		t.Errorf("Date header %v is far from now", d)
	}
	if id := resp.Header.Get("x-amzn-RequestId"); len(id) != 36 {
		t.Errorf("x-amzn-RequestId = %q; want a UUID", id)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/xml" {
		t.Errorf("Content-Type = %q; want text/xml", ct)
	}
}

func checkError(t *testing.T, resp *http.Response, body []byte, status int, code, message string) {
	t.Helper()
	checkCommonHeaders(t, resp)
	if resp.StatusCode != status {
		t.Errorf("status = %d; want %d", resp.StatusCode, status)
	}
	ns, paths, text := shape(t, body)
	if ns != sesapi.V1Namespace {
		t.Errorf("namespace = %q", ns)
	}
	wantPaths := []string{"ErrorResponse", "ErrorResponse/Error", "ErrorResponse/Error/Type", "ErrorResponse/Error/Code", "ErrorResponse/Error/Message", "ErrorResponse/RequestId"}
	if diff := cmp.Diff(wantPaths, paths); diff != "" {
		t.Errorf("error envelope shape (-want +got):\n%s\n%s", diff, body)
	}
	wantText := map[string]string{
		"ErrorResponse/Error/Type":    "Sender",
		"ErrorResponse/Error/Code":    code,
		"ErrorResponse/Error/Message": message,
		"ErrorResponse/RequestId":     resp.Header.Get("x-amzn-RequestId"),
	}
	if diff := cmp.Diff(wantText, text); diff != "" {
		t.Errorf("error envelope (-want +got):\n%s", diff)
	}
}

func TestRawProtocol(t *testing.T) {
	run(t, func(t *testing.T, env *apitest.Env) {
		resp, body := rawCall(t, env, http.MethodPost, url.Values{"Version": {"2010-12-01"}})
		checkError(t, resp, body, 400, "MissingAction", "The request must contain the parameter Action.")

		resp, body = rawCall(t, env, http.MethodPost, url.Values{"Action": {"FlyToTheMoon"}, "Version": {"2010-12-01"}})
		checkError(t, resp, body, 400, "InvalidAction", "Could not find operation FlyToTheMoon for version 2010-12-01")

		resp, body = rawCall(t, env, http.MethodPost, url.Values{"Action": {"VerifyDomainIdentity"}, "Version": {"2010-12-01"}})
		checkError(t, resp, body, 400, "ValidationError", "1 validation error detected: Value null at 'domain' failed to satisfy constraint: Member must not be null")

		resp, body = rawCall(t, env, http.MethodPost, url.Values{"Action": {"GetIdentityVerificationAttributes"}, "Identities": {"not-a-list"}})
		if resp.StatusCode != 400 || !strings.Contains(string(body), "<Code>ValidationError</Code>") {
			t.Errorf("malformed list: %d %s", resp.StatusCode, body)
		}

		// Success envelope, by POST and by GET.
		resp, body = rawCall(t, env, http.MethodPost, url.Values{"Action": {"VerifyDomainIdentity"}, "Version": {"2010-12-01"}, "Domain": {"raw.example"}})
		checkCommonHeaders(t, resp)
		ns, paths, text := shape(t, body)
		if resp.StatusCode != 200 || ns != sesapi.V1Namespace {
			t.Fatalf("VerifyDomainIdentity: %d, namespace %q\n%s", resp.StatusCode, ns, body)
		}
		wantPaths := []string{"VerifyDomainIdentityResponse", "VerifyDomainIdentityResponse/VerifyDomainIdentityResult",
			"VerifyDomainIdentityResponse/VerifyDomainIdentityResult/VerificationToken",
			"VerifyDomainIdentityResponse/ResponseMetadata", "VerifyDomainIdentityResponse/ResponseMetadata/RequestId"}
		if diff := cmp.Diff(wantPaths, paths); diff != "" {
			t.Errorf("success shape (-want +got):\n%s", diff)
		}
		if got := text["VerifyDomainIdentityResponse/ResponseMetadata/RequestId"]; got != resp.Header.Get("x-amzn-RequestId") {
			t.Errorf("RequestId %q differs from the header %q", got, resp.Header.Get("x-amzn-RequestId"))
		}
		token := text["VerifyDomainIdentityResponse/VerifyDomainIdentityResult/VerificationToken"]

		resp, body = rawCall(t, env, http.MethodGet, url.Values{"Action": {"GetIdentityVerificationAttributes"}, "Version": {"2010-12-01"},
			"Identities.member.2": {"raw.example"}, "Identities.member.1": {"unknown.example"}})
		checkCommonHeaders(t, resp)
		_, paths, text = shape(t, body)
		const r = "GetIdentityVerificationAttributesResponse/GetIdentityVerificationAttributesResult/VerificationAttributes"
		wantPaths = []string{"GetIdentityVerificationAttributesResponse", "GetIdentityVerificationAttributesResponse/GetIdentityVerificationAttributesResult",
			r, r + "/entry", r + "/entry/key", r + "/entry/value", r + "/entry/value/VerificationStatus", r + "/entry/value/VerificationToken",
			"GetIdentityVerificationAttributesResponse/ResponseMetadata", "GetIdentityVerificationAttributesResponse/ResponseMetadata/RequestId"}
		if diff := cmp.Diff(wantPaths, paths); diff != "" {
			t.Errorf("GET map shape (-want +got):\n%s", diff)
		}
		if text[r+"/entry/key"] != "raw.example" || text[r+"/entry/value/VerificationToken"] != token || text[r+"/entry/value/VerificationStatus"] != "Pending" {
			t.Errorf("GET map entry = %v", text)
		}

		// An empty list arrives as "Identities=".
		resp, body = rawCall(t, env, http.MethodPost, url.Values{"Action": {"GetIdentityVerificationAttributes"}, "Identities": {""}})
		_, paths, _ = shape(t, body)
		if resp.StatusCode != 200 || !slices.Contains(paths, "GetIdentityVerificationAttributesResponse/GetIdentityVerificationAttributesResult/VerificationAttributes") || slices.Contains(paths, r+"/entry") {
			t.Errorf("empty list: %d %s", resp.StatusCode, body)
		}

		// Operations without an output shape have no Result element; those
		// with an empty one have an empty Result element.
		resp, body = rawCall(t, env, http.MethodPost, url.Values{"Action": {"VerifyEmailAddress"}, "EmailAddress": {"me@raw.example"}})
		_, paths, _ = shape(t, body)
		if diff := cmp.Diff([]string{"VerifyEmailAddressResponse", "VerifyEmailAddressResponse/ResponseMetadata", "VerifyEmailAddressResponse/ResponseMetadata/RequestId"}, paths); resp.StatusCode != 200 || diff != "" {
			t.Errorf("VerifyEmailAddress: %d (-want +got):\n%s", resp.StatusCode, diff)
		}
		env.Clock.Advance(time.Second) // verification mail takes the sandbox's sending rate
		resp, body = rawCall(t, env, http.MethodPost, url.Values{"Action": {"VerifyEmailIdentity"}, "EmailAddress": {"you@raw.example"}})
		_, paths, _ = shape(t, body)
		if diff := cmp.Diff([]string{"VerifyEmailIdentityResponse", "VerifyEmailIdentityResponse/VerifyEmailIdentityResult", "VerifyEmailIdentityResponse/ResponseMetadata", "VerifyEmailIdentityResponse/ResponseMetadata/RequestId"}, paths); resp.StatusCode != 200 || diff != "" {
			t.Errorf("VerifyEmailIdentity: %d (-want +got):\n%s", resp.StatusCode, diff)
		}

		// The MAIL FROM domain of an identity without one is an empty element.
		resp, body = rawCall(t, env, http.MethodPost, url.Values{"Action": {"GetIdentityMailFromDomainAttributes"}, "Identities.member.1": {"raw.example"}})
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte("<MailFromDomain></MailFromDomain>")) || bytes.Contains(body, []byte("MailFromDomainStatus")) {
			t.Errorf("MAIL FROM attributes without a domain: %d %s", resp.StatusCode, body)
		}

		// Text is escaped.
		resp, body = rawCall(t, env, http.MethodPost, url.Values{"Action": {"VerifyDomainIdentity"}, "Domain": {"<b>&amp;"}})
		if resp.StatusCode != 400 || bytes.Contains(body, []byte("<b>")) {
			t.Errorf("unescaped input in the error: %s", body)
		}
		shape(t, body)

		resp, body = rawSend(t, env, http.MethodPost, "Action=VerifyDomainIdentity&Domain=%zz")
		checkError(t, resp, body, 400, "MalformedQueryString", `The request parameters could not be decoded: malformed query string: value of "Domain": invalid URL escape "%zz"`)
	})
}
