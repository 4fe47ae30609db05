//go:debug rsa1024min=0

// The directive above lets the tests make a 512-bit RSA key, to check
// that BYODKIM rejects it.

package sesv2_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/google/go-cmp/cmp"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

var ctx = context.Background()

// tokenRE is the shape of an Easy DKIM token.
var tokenRE = regexp.MustCompile(`^[a-z0-9]{32}$`)

// asErr asserts that err is (or wraps) an error of type T and returns it.
func asErr[T error](t *testing.T, err error) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error = %v (%T); want %T", err, err, target)
	}
	return target
}

// status returns the HTTP status code of an SDK error.
func status(t *testing.T, err error) int {
	t.Helper()
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) carries no HTTP response", err, err)
	}
	return re.HTTPStatusCode()
}

// badRequest asserts a 400 BadRequestException and returns its message.
func badRequest(t *testing.T, err error) string {
	t.Helper()
	e := asErr[*types.BadRequestException](t, err)
	if s := status(t, err); s != http.StatusBadRequest {
		t.Errorf("status = %d; want 400", s)
	}
	return aws.ToString(e.Message)
}

// notFound asserts a 404 NotFoundException.
func notFound(t *testing.T, err error) {
	t.Helper()
	asErr[*types.NotFoundException](t, err)
	if s := status(t, err); s != http.StatusNotFound {
		t.Errorf("status = %d; want 404", s)
	}
}

var (
	rsaKeysMu sync.Mutex
	rsaKeys   = map[int]*rsa.PrivateKey{}
)

// rsaKey returns an RSA key of this size, made once per test binary.
func rsaKey(t *testing.T, bits int) *rsa.PrivateKey {
	t.Helper()
	rsaKeysMu.Lock()
	defer rsaKeysMu.Unlock()
	if k := rsaKeys[bits]; k != nil {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatalf("generate %d-bit key: %v", bits, err)
	}
	rsaKeys[bits] = k
	return k
}

// pkcs1 and pkcs8 give a key as SES takes it: base64 DER, no armour.
func pkcs1(k *rsa.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PrivateKey(k))
}

func pkcs8(t *testing.T, k *rsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// create makes an identity through the API.
func create(t *testing.T, c *sesv2.Client, name string) *sesv2.CreateEmailIdentityOutput {
	t.Helper()
	out, err := c.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(name)})
	if err != nil {
		t.Fatalf("CreateEmailIdentity(%s): %v", name, err)
	}
	return out
}

// get reads an identity through the API.
func get(t *testing.T, c *sesv2.Client, name string) *sesv2.GetEmailIdentityOutput {
	t.Helper()
	out, err := c.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(name)})
	if err != nil {
		t.Fatalf("GetEmailIdentity(%s): %v", name, err)
	}
	return out
}

func TestCreateDomainEasyDKIM(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		before := env.Clock.Now().Truncate(time.Second)
		out := create(t, env.V2, "Example.COM")
		if out.IdentityType != types.IdentityTypeDomain {
			t.Errorf("IdentityType = %q; want DOMAIN", out.IdentityType)
		}
		if out.VerifiedForSendingStatus {
			t.Error("VerifiedForSendingStatus = true for a new domain")
		}
		dk := out.DkimAttributes
		if dk == nil {
			t.Fatal("no DkimAttributes")
		}
		if len(dk.Tokens) != 3 {
			t.Fatalf("Tokens = %q; want 3", dk.Tokens)
		}
		for _, tok := range dk.Tokens {
			if !tokenRE.MatchString(tok) {
				t.Errorf("token %q is not 32 chars of [a-z0-9]", tok)
			}
		}
		if !dk.SigningEnabled || dk.Status != types.DkimStatusPending || dk.SigningAttributesOrigin != types.DkimSigningAttributesOriginAwsSes {
			t.Errorf("DkimAttributes = enabled %v, status %q, origin %q; want true, PENDING, AWS_SES", dk.SigningEnabled, dk.Status, dk.SigningAttributesOrigin)
		}
		if dk.CurrentSigningKeyLength != types.DkimSigningKeyLengthRsa2048Bit || dk.NextSigningKeyLength != types.DkimSigningKeyLengthRsa2048Bit {
			t.Errorf("key lengths = %q/%q; want RSA_2048_BIT", dk.CurrentSigningKeyLength, dk.NextSigningKeyLength)
		}
		if aws.ToString(dk.SigningHostedZone) != "dkim."+apitest.ServiceDomain {
			t.Errorf("SigningHostedZone = %q", aws.ToString(dk.SigningHostedZone))
		}
		if dk.LastKeyGenerationTimestamp == nil || dk.LastKeyGenerationTimestamp.Before(before) {
			t.Errorf("LastKeyGenerationTimestamp = %v; want about %v", dk.LastKeyGenerationTimestamp, before)
		}

		g := get(t, env.V2, "example.com")
		if diff := cmp.Diff(dk.Tokens, g.DkimAttributes.Tokens); diff != "" {
			t.Errorf("Get tokens differ (-create +get):\n%s", diff)
		}
		if g.VerificationStatus != types.VerificationStatusPending {
			t.Errorf("VerificationStatus = %q; want PENDING", g.VerificationStatus)
		}

		out, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{
			EmailIdentity:         aws.String("short.example"),
			DkimSigningAttributes: &types.DkimSigningAttributes{NextSigningKeyLength: types.DkimSigningKeyLengthRsa1024Bit},
		})
		if err != nil {
			t.Fatal(err)
		}
		if out.DkimAttributes.CurrentSigningKeyLength != types.DkimSigningKeyLengthRsa1024Bit {
			t.Errorf("CurrentSigningKeyLength = %q; want RSA_1024_BIT", out.DkimAttributes.CurrentSigningKeyLength)
		}

		_, err = env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{
			EmailIdentity:         aws.String("bad-length.example"),
			DkimSigningAttributes: &types.DkimSigningAttributes{NextSigningKeyLength: "RSA_4096_BIT"},
		})
		if msg := badRequest(t, err); !strings.Contains(msg, "NextSigningKeyLength") {
			t.Errorf("message %q does not name NextSigningKeyLength", msg)
		}
		_, err = env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{
			EmailIdentity:         aws.String("replica.example"),
			DkimSigningAttributes: &types.DkimSigningAttributes{DomainSigningAttributesOrigin: types.DkimSigningAttributesOriginAwsSesEuWest1},
		})
		badRequest(t, err)
		_, err = env.V2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("replica.example")})
		notFound(t, err)
	})
}

func TestCreateWithTagsAndConfigurationSet(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		// The default set must exist (configuration sets are real now).
		if _, err := env.V2.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String("default-set")}); err != nil {
			t.Fatal(err)
		}
		_, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{
			EmailIdentity:        aws.String("tags.example"),
			Tags:                 []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}, {Key: aws.String("team"), Value: aws.String("")}},
			ConfigurationSetName: aws.String("default-set"),
		})
		if err != nil {
			t.Fatal(err)
		}
		g := get(t, env.V2, "tags.example")
		want := []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}, {Key: aws.String("team"), Value: aws.String("")}}
		if diff := cmp.Diff(want, g.Tags, cmp.AllowUnexported(types.Tag{})); diff != "" {
			t.Errorf("Tags (-want +got):\n%s", diff)
		}
		if aws.ToString(g.ConfigurationSetName) != "default-set" {
			t.Errorf("ConfigurationSetName = %q", aws.ToString(g.ConfigurationSetName))
		}

		_, err = env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{
			EmailIdentity: aws.String("dup-tags.example"),
			Tags:          []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("a"), Value: aws.String("2")}},
		})
		badRequest(t, err)
		_, err = env.V2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("dup-tags.example")})
		notFound(t, err)
	})
}

func TestCreateAddress(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		out := create(t, env.V2, "User+Tag@Example.com")
		if out.IdentityType != types.IdentityTypeEmailAddress || out.VerifiedForSendingStatus {
			t.Errorf("got %q verified=%v; want EMAIL_ADDRESS, false", out.IdentityType, out.VerifiedForSendingStatus)
		}
		if dk := out.DkimAttributes; dk == nil || dk.SigningEnabled || dk.Status != types.DkimStatusNotStarted || len(dk.Tokens) != 0 {
			t.Errorf("DkimAttributes = %+v; want SigningEnabled false, NOT_STARTED, no tokens", dk)
		}

		// Path encoding: + and @ in the path label.
		g := get(t, env.V2, "User+Tag@example.com")
		if g.IdentityType != types.IdentityTypeEmailAddress {
			t.Errorf("IdentityType = %q", g.IdentityType)
		}
		if g.VerificationStatus != types.VerificationStatusPending {
			t.Errorf("VerificationStatus = %q; want PENDING", g.VerificationStatus)
		}

		// Characters that need escaping in a path label.
		for _, n := range []string{"a/b@example.org", "x%y@example.org", "o'n=ei?l&c#d@example.org", "t~i+l.de@example.org"} {
			env.Clock.Advance(time.Second) // verification mail takes the sandbox's sending rate
			create(t, env.V2, n)
			if g := get(t, env.V2, n); g.IdentityType != types.IdentityTypeEmailAddress {
				t.Errorf("%s: IdentityType = %q", n, g.IdentityType)
			}
			if _, err := env.V2.DeleteEmailIdentity(ctx, &sesv2.DeleteEmailIdentityInput{EmailIdentity: aws.String(n)}); err != nil {
				t.Errorf("DeleteEmailIdentity(%s): %v", n, err)
			}
		}

		// With its domain as an identity, the address reports the domain's DKIM.
		dom := create(t, env.V2, "example.com")
		g = get(t, env.V2, "User+Tag@example.com")
		if diff := cmp.Diff(dom.DkimAttributes.Tokens, g.DkimAttributes.Tokens); diff != "" {
			t.Errorf("address DKIM tokens differ from its domain's (-domain +address):\n%s", diff)
		}
		if !g.DkimAttributes.SigningEnabled || g.DkimAttributes.Status != types.DkimStatusPending {
			t.Errorf("address DkimAttributes = %+v; want the domain's", g.DkimAttributes)
		}
		env.Clock.Advance(time.Second)
		out = create(t, env.V2, "other@example.com")
		if diff := cmp.Diff(dom.DkimAttributes.Tokens, out.DkimAttributes.Tokens); diff != "" {
			t.Errorf("create: address DKIM tokens differ from its domain's:\n%s", diff)
		}
		// Only the exact domain counts.
		env.Clock.Advance(time.Second)
		out = create(t, env.V2, "x@sub.example.com")
		if out.DkimAttributes.Status != types.DkimStatusNotStarted {
			t.Errorf("sub-domain address DKIM status = %q; want NOT_STARTED", out.DkimAttributes.Status)
		}

		_, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{
			EmailIdentity:         aws.String("byo@example.org"),
			DkimSigningAttributes: &types.DkimSigningAttributes{DomainSigningSelector: aws.String("sel"), DomainSigningPrivateKey: aws.String(pkcs1(rsaKey(t, 2048)))},
		})
		badRequest(t, err)
	})
}

func TestCreateBYODKIM(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		key := rsaKey(t, 2048)
		for _, tt := range []struct{ domain, key string }{
			{"byo1.example", pkcs1(key)},
			{"byo8.example", pkcs8(t, key)},
		} {
			out, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{
				EmailIdentity: aws.String(tt.domain),
				DkimSigningAttributes: &types.DkimSigningAttributes{
					DomainSigningSelector:   aws.String("sel2026"),
					DomainSigningPrivateKey: aws.String(tt.key),
				},
			})
			if err != nil {
				t.Fatalf("%s: %v", tt.domain, err)
			}
			dk := out.DkimAttributes
			if dk.SigningAttributesOrigin != types.DkimSigningAttributesOriginExternal {
				t.Errorf("%s: origin = %q; want EXTERNAL", tt.domain, dk.SigningAttributesOrigin)
			}
			if diff := cmp.Diff([]string{"sel2026"}, dk.Tokens); diff != "" {
				t.Errorf("%s: Tokens (-want +got):\n%s", tt.domain, diff)
			}
			if dk.Status != types.DkimStatusPending || !dk.SigningEnabled {
				t.Errorf("%s: status %q enabled %v; want PENDING, true", tt.domain, dk.Status, dk.SigningEnabled)
			}
		}

		tests := []struct {
			name  string
			attrs types.DkimSigningAttributes
			want  string // substring of the message
		}{
			{"garbage key", types.DkimSigningAttributes{DomainSigningSelector: aws.String("s1"), DomainSigningPrivateKey: aws.String("bm90IGEga2V5")}, "DomainSigningPrivateKey"},
			{"not base64", types.DkimSigningAttributes{DomainSigningSelector: aws.String("s1"), DomainSigningPrivateKey: aws.String("not base64!")}, "DomainSigningPrivateKey"},
			{"512-bit key", types.DkimSigningAttributes{DomainSigningSelector: aws.String("s1"), DomainSigningPrivateKey: aws.String(pkcs1(rsaKey(t, 512)))}, "1024"},
			{"bad selector", types.DkimSigningAttributes{DomainSigningSelector: aws.String("-bad_sel"), DomainSigningPrivateKey: aws.String(pkcs1(key))}, "DomainSigningSelector"},
			{"key without selector", types.DkimSigningAttributes{DomainSigningPrivateKey: aws.String(pkcs1(key))}, "DomainSigningSelector"},
			{"selector without key", types.DkimSigningAttributes{DomainSigningSelector: aws.String("s1")}, "DomainSigningPrivateKey"},
			{"key with AWS_SES origin", types.DkimSigningAttributes{DomainSigningSelector: aws.String("s1"), DomainSigningPrivateKey: aws.String(pkcs1(key)), DomainSigningAttributesOrigin: types.DkimSigningAttributesOriginAwsSes}, "EXTERNAL"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				name := "rejected.example"
				_, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(name), DkimSigningAttributes: &tt.attrs})
				if msg := badRequest(t, err); !strings.Contains(msg, tt.want) {
					t.Errorf("message %q does not contain %q", msg, tt.want)
				}
				_, err = env.V2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(name)})
				notFound(t, err)
			})
		}
	})
}

func TestCreateDuplicateAndInvalid(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		create(t, env.V2, "dup.example")
		_, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("DUP.example.")})
		asErr[*types.AlreadyExistsException](t, err)
		if s := status(t, err); s != http.StatusBadRequest {
			t.Errorf("status = %d; want 400", s)
		}
		create(t, env.V2, "me@dup.example")
		_, err = env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("me@DUP.example")})
		asErr[*types.AlreadyExistsException](t, err)

		long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 54) + ".example"
		if len(long) != 254 {
			t.Fatalf("long domain has %d chars", len(long))
		}
		create(t, env.V2, long[1:]) // 253 characters: the longest allowed
		for _, name := range []string{"bad..domain", "a@", "-x.example", long, "localhost", "a b.example", "@example.com", "a..b@example.com"} {
			_, err := env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(name)})
			if msg := badRequest(t, err); msg == "" {
				t.Errorf("%q: empty message", name)
			}
		}
		out, err := env.V2.ListEmailIdentities(ctx, &sesv2.ListEmailIdentitiesInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.EmailIdentities) != 3 {
			t.Errorf("%d identities after rejected creates; want 3", len(out.EmailIdentities))
		}
	})
}

func TestIDN(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		create(t, env.V2, "bücher.example")
		out, err := env.V2.ListEmailIdentities(ctx, &sesv2.ListEmailIdentitiesInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.EmailIdentities) != 1 || aws.ToString(out.EmailIdentities[0].IdentityName) != "xn--bcher-kva.example" {
			t.Fatalf("identities = %+v; want xn--bcher-kva.example", out.EmailIdentities)
		}
		get(t, env.V2, "xn--bcher-kva.example")
		get(t, env.V2, "bücher.example")
		_, err = env.V2.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String("xn--bcher-kva.example")})
		asErr[*types.AlreadyExistsException](t, err)
	})
}

func TestGetEmailIdentity(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		_, err := env.V2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("unknown.example")})
		notFound(t, err)
		_, err = env.V2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("nobody@unknown.example")})
		notFound(t, err)
		_, err = env.V2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("bad..domain")})
		badRequest(t, err)

		create(t, env.V2, "get.example")
		g := get(t, env.V2, "get.example")
		if g.IdentityType != types.IdentityTypeDomain || !g.FeedbackForwardingStatus || g.VerifiedForSendingStatus {
			t.Errorf("type %q forwarding %v verified %v; want DOMAIN, true, false", g.IdentityType, g.FeedbackForwardingStatus, g.VerifiedForSendingStatus)
		}
		if g.MailFromAttributes == nil || g.MailFromAttributes.BehaviorOnMxFailure != types.BehaviorOnMxFailureUseDefaultValue ||
			g.MailFromAttributes.MailFromDomain != nil || g.MailFromAttributes.MailFromDomainStatus != "" {
			t.Errorf("MailFromAttributes = %+v; want only USE_DEFAULT_VALUE", g.MailFromAttributes)
		}
		if g.Policies == nil || len(g.Policies) != 0 {
			t.Errorf("Policies = %v; want empty map", g.Policies)
		}
		if g.ConfigurationSetName != nil {
			t.Errorf("ConfigurationSetName = %q; want absent", *g.ConfigurationSetName)
		}
		if vi := g.VerificationInfo; vi == nil || vi.LastCheckedTimestamp != nil || vi.LastSuccessTimestamp != nil || vi.ErrorType != "" {
			t.Errorf("VerificationInfo = %+v; want empty", vi)
		}

		env.MarkVerified(t, "get.example")
		g = get(t, env.V2, "get.example")
		if !g.VerifiedForSendingStatus || g.VerificationStatus != types.VerificationStatusSuccess {
			t.Errorf("after check: verified %v status %q; want true, SUCCESS", g.VerifiedForSendingStatus, g.VerificationStatus)
		}
		now := env.Clock.Now().Truncate(time.Millisecond)
		if vi := g.VerificationInfo; vi.LastCheckedTimestamp == nil || !vi.LastCheckedTimestamp.Equal(now) || vi.LastSuccessTimestamp == nil || !vi.LastSuccessTimestamp.Equal(now) {
			t.Errorf("VerificationInfo = checked %v success %v; want %v", vi.LastCheckedTimestamp, vi.LastSuccessTimestamp, now)
		}
	})
}

func TestListEmailIdentities(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		names := []string{"a.example", "b@a.example", "c.example", "d.example", "e@d.example"}
		for _, n := range names {
			create(t, env.V2, n)
			env.Clock.Advance(time.Second) // verification mail takes the sandbox's sending rate
		}
		env.MarkVerified(t, "c.example")

		var got []string
		pages := 0
		p := sesv2.NewListEmailIdentitiesPaginator(env.V2, &sesv2.ListEmailIdentitiesInput{PageSize: aws.Int32(2)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(out.EmailIdentities) > 2 {
				t.Errorf("page of %d; want at most 2", len(out.EmailIdentities))
			}
			for _, i := range out.EmailIdentities {
				got = append(got, aws.ToString(i.IdentityName))
				wantType := types.IdentityTypeDomain
				if strings.Contains(aws.ToString(i.IdentityName), "@") {
					wantType = types.IdentityTypeEmailAddress
				}
				if i.IdentityType != wantType {
					t.Errorf("%s: type %q; want %q", aws.ToString(i.IdentityName), i.IdentityType, wantType)
				}
				verified := aws.ToString(i.IdentityName) == "c.example"
				if i.SendingEnabled != verified {
					t.Errorf("%s: SendingEnabled %v; want %v", aws.ToString(i.IdentityName), i.SendingEnabled, verified)
				}
				wantStatus := types.VerificationStatusPending
				if verified {
					wantStatus = types.VerificationStatusSuccess
				}
				if i.VerificationStatus != wantStatus {
					t.Errorf("%s: VerificationStatus %q; want %q", aws.ToString(i.IdentityName), i.VerificationStatus, wantStatus)
				}
			}
			if !p.HasMorePages() && out.NextToken != nil {
				t.Errorf("last page has NextToken %q", *out.NextToken)
			}
		}
		if diff := cmp.Diff(names, got); diff != "" {
			t.Errorf("names (-want +got):\n%s", diff)
		}
		if pages != 3 {
			t.Errorf("%d pages; want 3", pages)
		}

		out, err := env.V2.ListEmailIdentities(ctx, &sesv2.ListEmailIdentitiesInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.EmailIdentities) != 5 || out.NextToken != nil {
			t.Errorf("default page: %d items, NextToken %v; want 5, none", len(out.EmailIdentities), out.NextToken)
		}

		// Filters (newer SDKs).
		filtered := func(f map[string]string) []string {
			t.Helper()
			var names []string
			p := sesv2.NewListEmailIdentitiesPaginator(env.V2, &sesv2.ListEmailIdentitiesInput{Filter: f, PageSize: aws.Int32(1)})
			for p.HasMorePages() {
				out, err := p.NextPage(ctx)
				if err != nil {
					t.Fatalf("filter %v: %v", f, err)
				}
				for _, i := range out.EmailIdentities {
					names = append(names, aws.ToString(i.IdentityName))
				}
			}
			return names
		}
		for _, tt := range []struct {
			filter map[string]string
			want   []string
		}{
			{map[string]string{"IDENTITY_TYPE": "EMAIL_ADDRESS"}, []string{"b@a.example", "e@d.example"}},
			{map[string]string{"IDENTITY_TYPE": "DOMAIN"}, []string{"a.example", "c.example", "d.example"}},
			{map[string]string{"IDENTITY_TYPE": "MANAGED_DOMAIN"}, nil},
			{map[string]string{"VERIFICATION_STATUS": "SUCCESS"}, []string{"c.example"}},
			{map[string]string{"IDENTITY_NAME_CONTAINS": "D.EX"}, []string{"d.example", "e@d.example"}},
			{map[string]string{"IDENTITY_NAME_CONTAINS": "example", "IDENTITY_TYPE": "DOMAIN", "VERIFICATION_STATUS": "PENDING"}, []string{"a.example", "d.example"}},
		} {
			if diff := cmp.Diff(tt.want, filtered(tt.filter)); diff != "" {
				t.Errorf("filter %v (-want +got):\n%s", tt.filter, diff)
			}
		}
		for _, f := range []map[string]string{{"IDENTITY_TYPE": "ROBOT"}, {"VERIFICATION_STATUS": "Success"}, {"COLOUR": "red"}} {
			_, err := env.V2.ListEmailIdentities(ctx, &sesv2.ListEmailIdentitiesInput{Filter: f})
			badRequest(t, err)
		}

		// The older form: GET /v2/email/identities with the query string.
		var walked []string
		token := ""
		for range 10 {
			path := "/v2/email/identities?PageSize=2"
			if token != "" {
				path += "&NextToken=" + token
			}
			r := raw(t, env, "GET", path, nil)
			if r.Status != 200 {
				t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
			}
			var page struct {
				EmailIdentities []struct{ IdentityName string }
				NextToken       *string
			}
			if err := json.Unmarshal(r.Body, &page); err != nil {
				t.Fatal(err)
			}
			for _, i := range page.EmailIdentities {
				walked = append(walked, i.IdentityName)
			}
			if page.NextToken == nil {
				break
			}
			token = *page.NextToken
		}
		if diff := cmp.Diff(names, walked); diff != "" {
			t.Errorf("GET pages (-want +got):\n%s", diff)
		}
		for _, q := range []string{"PageSize=1001", "PageSize=-1", "PageSize=x", "NextToken=%25%25%25"} {
			r := raw(t, env, "GET", "/v2/email/identities?"+q, nil)
			if r.Status != 400 || r.Header.Get("x-amzn-ErrorType") != "BadRequestException" {
				t.Errorf("GET ?%s: %d %s; want 400 BadRequestException", q, r.Status, r.Header.Get("x-amzn-ErrorType"))
			}
		}

		_, err = env.V2.ListEmailIdentities(ctx, &sesv2.ListEmailIdentitiesInput{PageSize: aws.Int32(1001)})
		badRequest(t, err)
		_, err = env.V2.ListEmailIdentities(ctx, &sesv2.ListEmailIdentitiesInput{PageSize: aws.Int32(-1)})
		badRequest(t, err)
		_, err = env.V2.ListEmailIdentities(ctx, &sesv2.ListEmailIdentitiesInput{NextToken: aws.String("%%% not a token %%%")})
		if msg := badRequest(t, err); !strings.Contains(msg, "NextToken") {
			t.Errorf("message %q does not name NextToken", msg)
		}
		_, err = env.V2.ListEmailIdentities(ctx, &sesv2.ListEmailIdentitiesInput{NextToken: aws.String(base64.RawURLEncoding.EncodeToString([]byte{0xff, 0xfe}))})
		badRequest(t, err)
	})
}

func TestListEmpty(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		out, err := env.V2.ListEmailIdentities(ctx, &sesv2.ListEmailIdentitiesInput{PageSize: aws.Int32(0)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.EmailIdentities) != 0 || out.NextToken != nil {
			t.Errorf("got %+v; want empty", out)
		}
	})
}

func TestDeleteEmailIdentity(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		create(t, env.V2, "del.example")
		create(t, env.V2, "a+b@del.example")
		for _, n := range []string{"del.example", "a+b@del.example"} {
			if _, err := env.V2.DeleteEmailIdentity(ctx, &sesv2.DeleteEmailIdentityInput{EmailIdentity: aws.String(n)}); err != nil {
				t.Fatalf("DeleteEmailIdentity(%s): %v", n, err)
			}
			_, err := env.V2.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(n)})
			notFound(t, err)
			_, err = env.V2.DeleteEmailIdentity(ctx, &sesv2.DeleteEmailIdentityInput{EmailIdentity: aws.String(n)})
			notFound(t, err)
		}
		// Re-creating gives new tokens.
		create(t, env.V2, "del.example")
	})
}

func TestMailFrom(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		create(t, env.V2, "example.com")
		put := func(name, domain string, b types.BehaviorOnMxFailure) error {
			in := &sesv2.PutEmailIdentityMailFromAttributesInput{EmailIdentity: aws.String(name), BehaviorOnMxFailure: b}
			if domain != "" {
				in.MailFromDomain = aws.String(domain)
			}
			_, err := env.V2.PutEmailIdentityMailFromAttributes(ctx, in)
			return err
		}
		wantNone := func(name string) {
			t.Helper()
			g := get(t, env.V2, name)
			want := &types.MailFromAttributes{BehaviorOnMxFailure: types.BehaviorOnMxFailureUseDefaultValue}
			if diff := cmp.Diff(want, g.MailFromAttributes, cmp.AllowUnexported(types.MailFromAttributes{})); diff != "" {
				t.Errorf("%s MailFromAttributes (-want +got):\n%s", name, diff)
			}
		}

		// Unverified: refused, nothing stored.
		badRequest(t, put("example.com", "bounce.example.com", types.BehaviorOnMxFailureRejectMessage))
		wantNone("example.com")

		env.MarkVerified(t, "example.com")
		tests := []struct {
			name, domain string
			behavior     types.BehaviorOnMxFailure
			want         string
		}{
			{"not a subdomain", "bounce.other.com", "", "not subdomain"},
			{"the domain itself", "example.com", "", "not that domain itself"},
			{"parent", "com", "", ""},
			{"invalid label", "bad_label.example.com", "", "bad_label"},
			{"empty label", "a..example.com", "", "empty labels"},
			{"too long", strings.Repeat("a.", 123) + "example.com", "", "253"},
			{"bad enum", "bounce.example.com", "RejectMessage", "BehaviorOnMxFailure"},
		}
		for _, tt := range tests {
			msg := badRequest(t, put("example.com", tt.domain, tt.behavior))
			if !strings.Contains(msg, tt.want) {
				t.Errorf("%s: message %q does not contain %q", tt.name, msg, tt.want)
			}
		}
		wantNone("example.com")

		notFound(t, put("unknown.example", "bounce.unknown.example", ""))

		if err := put("example.com", "Bounce.Example.com", types.BehaviorOnMxFailureRejectMessage); err != nil {
			t.Fatal(err)
		}
		g := get(t, env.V2, "example.com")
		want := &types.MailFromAttributes{MailFromDomain: aws.String("bounce.example.com"), MailFromDomainStatus: types.MailFromDomainStatusPending, BehaviorOnMxFailure: types.BehaviorOnMxFailureRejectMessage}
		if diff := cmp.Diff(want, g.MailFromAttributes, cmp.AllowUnexported(types.MailFromAttributes{})); diff != "" {
			t.Errorf("MailFromAttributes (-want +got):\n%s", diff)
		}

		// Clearing (no MailFromDomain) restores the default.
		if err := put("example.com", "", ""); err != nil {
			t.Fatal(err)
		}
		wantNone("example.com")

		// An address identity: MAIL FROM under its domain.
		create(t, env.V2, "sender+x@example.net")
		badRequest(t, put("sender+x@example.net", "mail.example.net", ""))
		env.MarkVerified(t, "sender+x@example.net")
		if err := put("sender+x@example.net", "mail.example.net", types.BehaviorOnMxFailureUseDefaultValue); err != nil {
			t.Fatal(err)
		}
		g = get(t, env.V2, "sender+x@example.net")
		if aws.ToString(g.MailFromAttributes.MailFromDomain) != "mail.example.net" || g.MailFromAttributes.MailFromDomainStatus != types.MailFromDomainStatusPending {
			t.Errorf("address MailFromAttributes = %+v", g.MailFromAttributes)
		}
		badRequest(t, put("sender+x@example.net", "mail.example.com", ""))
	})
}

func TestDkimAttributes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		create(t, env.V2, "dkim.example")
		set := func(name string, on bool) error {
			_, err := env.V2.PutEmailIdentityDkimAttributes(ctx, &sesv2.PutEmailIdentityDkimAttributesInput{EmailIdentity: aws.String(name), SigningEnabled: on})
			return err
		}
		if err := set("dkim.example", false); err != nil {
			t.Fatal(err)
		}
		if get(t, env.V2, "dkim.example").DkimAttributes.SigningEnabled {
			t.Error("SigningEnabled still true after turning it off")
		}
		if err := set("dkim.example", true); err != nil {
			t.Fatal(err)
		}
		if !get(t, env.V2, "dkim.example").DkimAttributes.SigningEnabled {
			t.Error("SigningEnabled false after turning it on")
		}
		msg := badRequest(t, set("unknown.example", true))
		if msg != "Domain unknown.example is not verified for DKIM signing." {
			t.Errorf("message = %q", msg)
		}
		// An address whose domain is an identity: accepted.
		create(t, env.V2, "me@dkim.example")
		if err := set("me@dkim.example", true); err != nil {
			t.Errorf("address: %v", err)
		}
	})
}

func TestDkimSigningAttributes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		easy := create(t, env.V2, "switch.example").DkimAttributes.Tokens
		key := rsaKey(t, 2048)

		put := func(in *sesv2.PutEmailIdentityDkimSigningAttributesInput) (*sesv2.PutEmailIdentityDkimSigningAttributesOutput, error) {
			if in.EmailIdentity == nil {
				in.EmailIdentity = aws.String("switch.example")
			}
			return env.V2.PutEmailIdentityDkimSigningAttributes(ctx, in)
		}

		out, err := put(&sesv2.PutEmailIdentityDkimSigningAttributesInput{
			SigningAttributesOrigin: types.DkimSigningAttributesOriginExternal,
			SigningAttributes:       &types.DkimSigningAttributes{DomainSigningSelector: aws.String("byo"), DomainSigningPrivateKey: aws.String(pkcs8(t, key))},
		})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"byo"}, out.DkimTokens); diff != "" {
			t.Errorf("EXTERNAL tokens (-want +got):\n%s", diff)
		}
		if out.DkimStatus != types.DkimStatusPending || aws.ToString(out.SigningHostedZone) != "dkim.sesame.example.test" {
			t.Errorf("EXTERNAL: status %q zone %q", out.DkimStatus, aws.ToString(out.SigningHostedZone))
		}
		if g := get(t, env.V2, "switch.example"); g.DkimAttributes.SigningAttributesOrigin != types.DkimSigningAttributesOriginExternal {
			t.Errorf("Get origin = %q; want EXTERNAL", g.DkimAttributes.SigningAttributesOrigin)
		}

		out, err = put(&sesv2.PutEmailIdentityDkimSigningAttributesInput{
			SigningAttributesOrigin: types.DkimSigningAttributesOriginAwsSes,
			SigningAttributes:       &types.DkimSigningAttributes{NextSigningKeyLength: types.DkimSigningKeyLengthRsa1024Bit},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.DkimTokens) != 3 || cmp.Equal(out.DkimTokens, easy) {
			t.Errorf("back to Easy DKIM: tokens %q (first were %q); want 3 new ones", out.DkimTokens, easy)
		}
		for _, tok := range out.DkimTokens {
			if !tokenRE.MatchString(tok) {
				t.Errorf("token %q", tok)
			}
		}
		if aws.ToString(out.SigningHostedZone) != "dkim.sesame.example.test" || out.DkimStatus != types.DkimStatusPending {
			t.Errorf("Easy: status %q zone %q", out.DkimStatus, aws.ToString(out.SigningHostedZone))
		}
		g := get(t, env.V2, "switch.example")
		if g.DkimAttributes.SigningAttributesOrigin != types.DkimSigningAttributesOriginAwsSes || g.DkimAttributes.CurrentSigningKeyLength != types.DkimSigningKeyLengthRsa1024Bit {
			t.Errorf("Get: origin %q length %q", g.DkimAttributes.SigningAttributesOrigin, g.DkimAttributes.CurrentSigningKeyLength)
		}
		if diff := cmp.Diff(out.DkimTokens, g.DkimAttributes.Tokens); diff != "" {
			t.Errorf("Get tokens (-put +get):\n%s", diff)
		}

		// Errors, none of which changes anything.
		_, err = put(&sesv2.PutEmailIdentityDkimSigningAttributesInput{EmailIdentity: aws.String("unknown.example"), SigningAttributesOrigin: types.DkimSigningAttributesOriginAwsSes})
		notFound(t, err)
		for _, in := range []*sesv2.PutEmailIdentityDkimSigningAttributesInput{
			{SigningAttributesOrigin: types.DkimSigningAttributesOriginAwsSesUsEast1},
			{SigningAttributesOrigin: "NONSENSE"},
			{SigningAttributesOrigin: types.DkimSigningAttributesOriginExternal},
			{SigningAttributesOrigin: types.DkimSigningAttributesOriginExternal, SigningAttributes: &types.DkimSigningAttributes{DomainSigningSelector: aws.String("x"), DomainSigningPrivateKey: aws.String(pkcs1(rsaKey(t, 512)))}},
			{SigningAttributesOrigin: types.DkimSigningAttributesOriginAwsSes, SigningAttributes: &types.DkimSigningAttributes{NextSigningKeyLength: "RSA_512_BIT"}},
		} {
			_, err := put(in)
			badRequest(t, err)
		}
		create(t, env.V2, "addr@switch.example")
		_, err = put(&sesv2.PutEmailIdentityDkimSigningAttributesInput{EmailIdentity: aws.String("addr@switch.example"), SigningAttributesOrigin: types.DkimSigningAttributesOriginAwsSes})
		badRequest(t, err)
		if diff := cmp.Diff(out.DkimTokens, get(t, env.V2, "switch.example").DkimAttributes.Tokens); diff != "" {
			t.Errorf("tokens changed by rejected calls:\n%s", diff)
		}
	})
}

func TestAccountIsolation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		mine := create(t, env.V2, "shared.example").DkimAttributes.Tokens
		_, _, other := env.Other(t, "other")

		_, err := other.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String("shared.example")})
		notFound(t, err)
		_, err = other.DeleteEmailIdentity(ctx, &sesv2.DeleteEmailIdentityInput{EmailIdentity: aws.String("shared.example")})
		notFound(t, err)
		_, err = other.PutEmailIdentityMailFromAttributes(ctx, &sesv2.PutEmailIdentityMailFromAttributesInput{EmailIdentity: aws.String("shared.example"), MailFromDomain: aws.String("m.shared.example")})
		notFound(t, err)
		_, err = other.PutEmailIdentityDkimSigningAttributes(ctx, &sesv2.PutEmailIdentityDkimSigningAttributesInput{EmailIdentity: aws.String("shared.example"), SigningAttributesOrigin: types.DkimSigningAttributesOriginAwsSes})
		notFound(t, err)
		_, err = other.PutEmailIdentityDkimAttributes(ctx, &sesv2.PutEmailIdentityDkimAttributesInput{EmailIdentity: aws.String("shared.example")})
		badRequest(t, err)
		l, err := other.ListEmailIdentities(ctx, &sesv2.ListEmailIdentitiesInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.EmailIdentities) != 0 {
			t.Errorf("other account lists %+v", l.EmailIdentities)
		}

		theirs := create(t, other, "shared.example").DkimAttributes.Tokens
		for _, a := range theirs {
			for _, b := range mine {
				if a == b {
					t.Errorf("both accounts got token %s", a)
				}
			}
		}
		if diff := cmp.Diff(mine, get(t, env.V2, "shared.example").DkimAttributes.Tokens); diff != "" {
			t.Errorf("first account's tokens changed:\n%s", diff)
		}
		if _, err := other.DeleteEmailIdentity(ctx, &sesv2.DeleteEmailIdentityInput{EmailIdentity: aws.String("shared.example")}); err != nil {
			t.Fatal(err)
		}
		get(t, env.V2, "shared.example")
	})
}

// rawResponse is a response read in full.
type rawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// raw sends a request signed with the account's key, bypassing the SDK.
func raw(t *testing.T, env *apitest.Env, method, path string, body []byte) rawResponse {
	t.Helper()
	resp, b := env.Signed(t, method, path, "application/json", body)
	return rawResponse{resp.StatusCode, resp.Header, b}
}

func TestWire(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
		checkHeaders := func(name string, r rawResponse) {
			t.Helper()
			if _, err := http.ParseTime(r.Header.Get("Date")); err != nil {
				t.Errorf("%s: Date header %q: %v", name, r.Header.Get("Date"), err)
			}
			if !uuidRE.MatchString(r.Header.Get("x-amzn-RequestId")) {
				t.Errorf("%s: x-amzn-RequestId %q", name, r.Header.Get("x-amzn-RequestId"))
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: Content-Type %q", name, ct)
			}
		}
		checkError := func(name string, r rawResponse, status int, code string) {
			t.Helper()
			checkHeaders(name, r)
			if r.Status != status || r.Header.Get("x-amzn-ErrorType") != code {
				t.Errorf("%s: %d %q; want %d %q (body %s)", name, r.Status, r.Header.Get("x-amzn-ErrorType"), status, code, r.Body)
			}
			var m map[string]any
			if err := json.Unmarshal(r.Body, &m); err != nil || m["message"] == "" {
				t.Errorf("%s: body %s: want {\"message\": ...}", name, r.Body)
			}
		}

		// Success, with the exact JSON of an identity without MAIL FROM.
		r := raw(t, env, "POST", "/v2/email/identities", []byte(`{"EmailIdentity":"wire.example","Unknown":{"x":1}}`))
		if r.Status != 200 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		checkHeaders("create", r)
		var created map[string]any
		if err := json.Unmarshal(r.Body, &created); err != nil {
			t.Fatal(err)
		}
		ts, ok := created["DkimAttributes"].(map[string]any)["LastKeyGenerationTimestamp"].(float64)
		if !ok || ts < float64(env.Clock.Now().Unix()-5) {
			t.Errorf("LastKeyGenerationTimestamp = %v; want epoch seconds as a number", created["DkimAttributes"])
		}

		r = raw(t, env, "GET", "/v2/email/identities/wire.example", nil)
		checkHeaders("get", r)
		var g map[string]json.RawMessage
		if err := json.Unmarshal(r.Body, &g); err != nil {
			t.Fatal(err)
		}
		if string(g["MailFromAttributes"]) != `{"BehaviorOnMxFailure":"USE_DEFAULT_VALUE"}` {
			t.Errorf("MailFromAttributes = %s", g["MailFromAttributes"])
		}
		if string(g["Policies"]) != `{}` {
			t.Errorf("Policies = %s", g["Policies"])
		}
		if _, ok := g["ConfigurationSetName"]; ok {
			t.Errorf("ConfigurationSetName present: %s", g["ConfigurationSetName"])
		}

		r = raw(t, env, "DELETE", "/v2/email/identities/wire.example", nil)
		checkHeaders("delete", r)
		if r.Status != 200 || strings.TrimSpace(string(r.Body)) != "{}" {
			t.Errorf("delete: %d %s; want 200 {}", r.Status, r.Body)
		}

		checkError("malformed", raw(t, env, "POST", "/v2/email/identities", []byte(`{"EmailIdentity":`)), 400, "BadRequestException")
		checkError("wrong type", raw(t, env, "POST", "/v2/email/identities", []byte(`{"EmailIdentity":42}`)), 400, "BadRequestException")
		checkError("array body", raw(t, env, "POST", "/v2/email/identities", []byte(`[]`)), 400, "BadRequestException")
		checkError("empty body", raw(t, env, "POST", "/v2/email/identities", nil), 400, "BadRequestException")
		checkError("not found", raw(t, env, "GET", "/v2/email/identities/nothing.example", nil), 404, "NotFoundException")
		checkError("unknown op", raw(t, env, "GET", "/v2/email/no-such-thing", nil), 404, "NotFoundException")
		checkError("wrong method", raw(t, env, "PATCH", "/v2/email/identities", []byte(`{}`)), 404, "NotFoundException")
		checkError("bad page size", raw(t, env, "GET", "/v2/email/identities?PageSize=ten", nil), 400, "BadRequestException")
		create(t, env.V2, "sign.example")
		checkError("missing origin", raw(t, env, "PUT", "/v2/email/identities/sign.example/dkim/signing", []byte(`{}`)), 400, "BadRequestException")
		checkError("list page size type", raw(t, env, "POST", "/v2/email/list-identities", []byte(`{"PageSize":"2"}`)), 400, "BadRequestException")

		// An empty body on a PUT is {}.
		create(t, env.V2, "empty.example")
		r = raw(t, env, "PUT", "/v2/email/identities/empty.example/mail-from", nil)
		if r.Status != 200 || strings.TrimSpace(string(r.Body)) != "{}" {
			t.Errorf("PUT with empty body: %d %s", r.Status, r.Body)
		}
		r = raw(t, env, "PUT", "/v2/email/identities/empty.example/mail-from", []byte(`{"MailFromDomain":true}`))
		checkError("mail-from wrong type", r, 400, "BadRequestException")
		if !strings.Contains(string(r.Body), "MailFromDomain") {
			t.Errorf("type error does not name the member: %s", r.Body)
		}
	})
}
