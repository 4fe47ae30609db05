package sesv2

import (
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/sesame-email/sesame/internal/identity"
	"github.com/sesame-email/sesame/internal/sesapi"
)

// The tag operations (TagResource, UntagResource, ListTagsForResource)
// address a resource by its ARN, arn:<partition>:ses:<region>:<account
// id>:<type>/<name> (ses-api.md §5). Identities (type "identity"),
// configuration sets ("configuration-set") and contact lists
// ("contact-list") carry tags in Sesame.

// Resource ARN parts.
var (
	partitionRE = regexp.MustCompile(`^aws(-[a-z0-9]+)*$`)
	regionRE    = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	accountRE   = regexp.MustCompile(`^[0-9]{12}$`)
	typeRE      = regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`)
)

const (
	resourceIdentity         = "identity"
	resourceConfigurationSet = "configuration-set"
	resourceContactList      = "contact-list"
)

// storeTags converts the API's tags to a store's Tag (identity.Tag,
// configset.Tag, contact.Tag: each a Key and a Value); none: nil.
func storeTags[T ~struct{ Key, Value string }](ts []tag) []T {
	var out []T
	for _, t := range ts {
		out = append(out, T(t))
	}
	return out
}

// apiTags converts a store's tags to the API's; never nil, so that no
// tags is [] on the wire.
func apiTags[T ~struct{ Key, Value string }](ts []T) []tag {
	out := make([]tag, 0, len(ts))
	for _, t := range ts {
		out = append(out, tag(t))
	}
	return out
}

// resourceARN is a parsed, well-formed SES resource ARN.
type resourceARN struct {
	raw     string
	region  string
	account string // "" stands for the caller's account (see taggedIdentity)
	typ     string // "identity", "configuration-set", ...
	name    string // the part after the type's slash
}

// parseARN checks that v (the member named field) is a well-formed SES
// resource ARN. It says nothing about whether the resource exists.
func parseARN(field, v string) (resourceARN, error) {
	if v == "" {
		return resourceARN{}, badRequest("%s is required.", field)
	}
	bad := func(why string) (resourceARN, error) {
		return resourceARN{}, badRequest("Invalid %s %q: %s; expected arn:aws:ses:<region>:<account id>:identity/<email address or domain>.", field, v, why)
	}
	// The resource part keeps any further colons (an address may quote one).
	p := strings.SplitN(v, ":", 6)
	if len(p) != 6 || p[0] != "arn" {
		return bad("not an ARN")
	}
	a := resourceARN{raw: v, region: p[3], account: p[4]}
	switch {
	case !partitionRE.MatchString(p[1]):
		return bad("invalid partition " + quote(p[1]))
	case p[2] != "ses":
		return bad("not an SES resource (service " + quote(p[2]) + ")")
	case !regionRE.MatchString(a.region):
		return bad("invalid region " + quote(a.region))
	case a.account != "" && !accountRE.MatchString(a.account):
		return bad("the account id must be 12 digits")
	}
	typ, name, ok := strings.Cut(p[5], "/")
	if !ok || !typeRE.MatchString(typ) || name == "" {
		return bad("the resource must be <type>/<name>")
	}
	a.typ, a.name = typ, name
	return a, nil
}

func quote(s string) string { return `"` + s + `"` }

// resourceNotFound is the NotFoundException for an ARN that names nothing
// the caller owns.
func resourceNotFound(a resourceARN) *sesapi.Error {
	return notFound("Resource not found: %s.", a.raw)
}

// taggedIdentity checks that a names an identity of the caller's account
// in the caller's region and returns the identity's name. Another
// account's or another region's resource is reported as not found, as SES
// does: the caller cannot see it.
//
// An empty account id is taken as the caller's own. Real SES has no need
// for this, but Terraform builds identity ARNs itself from the account id
// it learns from STS, and against Sesame (which serves no STS) it runs
// with skip_requesting_account_id, so its ARNs read
// arn:aws:ses:<region>::identity/<name>; refusing them would break every
// read of aws_sesv2_email_identity, which lists the tags.
func taggedIdentity(a resourceARN, c sesapi.Caller) (string, error) {
	if (a.account != "" && a.account != c.AccountID) || a.region != c.Region {
		return "", resourceNotFound(a)
	}
	if a.typ != resourceIdentity {
		// Templates, custom verification templates and
		// dedicated IP pools are taggable in SES, but Sesame does not have
		// those resources yet, so no such ARN names anything.
		// Extend this when they are added.
		return "", resourceNotFound(a)
	}
	n, _, _, err := identity.Parse("ResourceArn", a.name)
	if err != nil {
		// No identity can have a name that is not an address or a domain.
		return "", resourceNotFound(a)
	}
	return n, nil
}

// tagError maps the store's errors for a tag operation: an unknown
// identity is a NotFoundException for the ARN; tag rule violations pass
// through to apiError (BadRequestException with the rule).
func tagError(err error, a resourceARN) error {
	if errors.Is(err, identity.ErrNotFound) {
		return resourceNotFound(a)
	}
	return err
}

// TagResource: POST /v2/email/tags.

type tagResourceInput struct {
	ResourceArn string `json:"ResourceArn"`
	Tags        []tag  `json:"Tags"`
}

func (h *handler) tagResource(r *http.Request, c sesapi.Caller) (any, error) {
	var in tagResourceInput
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	a, err := parseARN("ResourceArn", in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if in.Tags == nil {
		return nil, badRequest("Tags is required.")
	}
	if a.typ == resourceConfigurationSet {
		return nil, h.tagConfigurationSet(r, c, a, in.Tags)
	}
	if a.typ == resourceContactList {
		return nil, h.tagContactList(r, c, a, in.Tags)
	}
	name, err := taggedIdentity(a, c)
	if err != nil {
		return nil, err
	}
	return nil, tagError(h.ids.TagIdentity(r.Context(), c.AccountID, name, storeTags[identity.Tag](in.Tags)), a)
}

// UntagResource: DELETE /v2/email/tags?ResourceArn=...&TagKeys=a&TagKeys=b.

func (h *handler) untagResource(r *http.Request, c sesapi.Caller) (any, error) {
	q := r.URL.Query()
	a, err := parseARN("ResourceArn", q.Get("ResourceArn"))
	if err != nil {
		return nil, err
	}
	keys, ok := q["TagKeys"]
	if !ok || len(keys) == 0 {
		return nil, badRequest("TagKeys is required.")
	}
	for _, k := range keys {
		if k == "" || len(k) > 128 {
			return nil, badRequest("Tag keys must be 1-128 characters long (got %q).", k)
		}
	}
	if a.typ == resourceConfigurationSet {
		return nil, h.untagConfigurationSet(r, c, a, keys)
	}
	if a.typ == resourceContactList {
		return nil, h.untagContactList(r, c, a, keys)
	}
	name, err := taggedIdentity(a, c)
	if err != nil {
		return nil, err
	}
	return nil, tagError(h.ids.UntagIdentity(r.Context(), c.AccountID, name, keys), a)
}

// ListTagsForResource: GET /v2/email/tags?ResourceArn=....

type listTagsForResourceOutput struct {
	Tags []tag `json:"Tags"` // always present, [] when none
}

func (h *handler) listTagsForResource(r *http.Request, c sesapi.Caller) (any, error) {
	a, err := parseARN("ResourceArn", r.URL.Query().Get("ResourceArn"))
	if err != nil {
		return nil, err
	}
	if a.typ == resourceConfigurationSet {
		return h.listConfigurationSetTags(r, c, a)
	}
	if a.typ == resourceContactList {
		return h.listContactListTags(r, c, a)
	}
	name, err := taggedIdentity(a, c)
	if err != nil {
		return nil, err
	}
	i, err := h.ids.Get(r.Context(), c.AccountID, name)
	if err != nil {
		return nil, tagError(err, a)
	}
	return listTagsForResourceOutput{Tags: apiTags(i.Tags)}, nil
}
