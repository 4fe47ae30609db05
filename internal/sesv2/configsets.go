package sesv2

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/sesapi"
)

// Configuration sets and event destinations (ses-api.md §7 "Configuration
// sets", "Event destinations", §7.1).
//
// What Sesame cannot honour is refused with a BadRequestException naming
// the member, never stored and ignored: VdmOptions, ArchivingOptions,
// SuppressionOptions.ValidationOptions, a DeliveryOptions.SendingPoolName
// (Sesame has no dedicated IP pools: NotFoundException "Sending pool X
// does not exist.") and the EventBridge, Kinesis Firehose and Pinpoint
// destinations (Sesame supports SNS and CloudWatch destinations).

// Page sizes of ListConfigurationSets: SES's default is 50 (ses-api.md §16).
const (
	defaultSetPageSize = 50
	maxSetPageSize     = 1000
)

// Wire shapes.

type sendingOptions struct {
	SendingEnabled *bool `json:"SendingEnabled,omitempty"`
}

type reputationOptions struct {
	ReputationMetricsEnabled *bool  `json:"ReputationMetricsEnabled,omitempty"`
	LastFreshStart           *epoch `json:"LastFreshStart,omitempty"`
}

type deliveryOptions struct {
	TlsPolicy          string `json:"TlsPolicy,omitempty"`
	SendingPoolName    string `json:"SendingPoolName,omitempty"`
	MaxDeliverySeconds *int64 `json:"MaxDeliverySeconds,omitempty"`
}

type suppressionOptions struct {
	SuppressedReasons []string        `json:"SuppressedReasons"`
	SuppressionScope  string          `json:"SuppressionScope,omitempty"`
	ValidationOptions json.RawMessage `json:"ValidationOptions,omitempty"`
}

type trackingOptions struct {
	CustomRedirectDomain string `json:"CustomRedirectDomain,omitempty"`
	HttpsPolicy          string `json:"HttpsPolicy,omitempty"`
}

type createConfigurationSetInput struct {
	ConfigurationSetName string              `json:"ConfigurationSetName"`
	TrackingOptions      *trackingOptions    `json:"TrackingOptions"`
	DeliveryOptions      *deliveryOptions    `json:"DeliveryOptions"`
	ReputationOptions    *reputationOptions  `json:"ReputationOptions"`
	SendingOptions       *sendingOptions     `json:"SendingOptions"`
	Tags                 []tag               `json:"Tags"`
	SuppressionOptions   *suppressionOptions `json:"SuppressionOptions"`
	VdmOptions           json.RawMessage     `json:"VdmOptions"`
	ArchivingOptions     json.RawMessage     `json:"ArchivingOptions"`
}

type getConfigurationSetOutput struct {
	ConfigurationSetName string              `json:"ConfigurationSetName"`
	TrackingOptions      *trackingOptions    `json:"TrackingOptions,omitempty"`
	DeliveryOptions      *deliveryOptions    `json:"DeliveryOptions,omitempty"`
	ReputationOptions    reputationOptions   `json:"ReputationOptions"`
	SendingOptions       sendingOptions      `json:"SendingOptions"`
	Tags                 []tag               `json:"Tags"`
	SuppressionOptions   *suppressionOptions `json:"SuppressionOptions,omitempty"`
}

// present reports whether an optional object member was sent (not absent
// and not null).
func present(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

// refuseUnsupported rejects the members Sesame cannot honour.
func refuseUnsupported(vdm, archiving json.RawMessage) error {
	switch {
	case present(vdm):
		return badRequest("VdmOptions are not supported: Sesame has no Virtual Deliverability Manager; remove VdmOptions.")
	case present(archiving):
		return badRequest("ArchivingOptions are not supported: Sesame has no Mail Manager archives; remove ArchivingOptions.")
	}
	return nil
}

func checkSuppressionOptions(o *suppressionOptions) error {
	if present(o.ValidationOptions) {
		return badRequest("SuppressionOptions.ValidationOptions are not supported: Sesame has no Auto Validation; remove ValidationOptions.")
	}
	if o.SuppressionScope != "" && o.SuppressionScope != "ACCOUNT" {
		return badRequest("Invalid SuppressionOptions.SuppressionScope %q: Sesame supports only ACCOUNT (it has no tenants).", o.SuppressionScope)
	}
	return nil
}

func checkDeliveryOptions(o *deliveryOptions) error {
	if o.SendingPoolName != "" {
		return notFound("Sending pool %s does not exist.", o.SendingPoolName)
	}
	return nil
}

// setError maps the configset store's errors to v2's codes.
func setError(err error) error {
	var (
		nf *configset.NotFoundError
		ex *configset.ExistsError
		le *configset.LimitError
		ie *configset.InvalidError
	)
	switch {
	case errors.As(err, &nf):
		return notFound("%s", nf.Error())
	case errors.As(err, &ex):
		return alreadyExists("%s", ex.Error())
	case errors.As(err, &le):
		return sesapi.Errorf(http.StatusBadRequest, "LimitExceededException", "%s", le.Msg)
	case errors.As(err, &ie):
		return badRequest("%s", ie.Msg)
	}
	return err
}

func (h *handler) sets() (*configset.Store, error) {
	if h.configSets == nil {
		return nil, errors.New("sesv2: configuration sets are not configured (Options.ConfigSets is nil)")
	}
	return h.configSets, nil
}

// namedSet returns the store and the path's ConfigurationSetName, and
// decodes the body into in unless it is nil: the start of every operation
// on one set.
func (h *handler) namedSet(r *http.Request, in any) (*configset.Store, string, error) {
	s, err := h.sets()
	if err != nil {
		return nil, "", err
	}
	name, err := setName(r)
	if err != nil {
		return nil, "", err
	}
	if in != nil {
		if err := decodeBody(r, in); err != nil {
			return nil, "", err
		}
	}
	return s, name, nil
}

func setName(r *http.Request) (string, error) {
	n := r.PathValue("ConfigurationSetName")
	if n == "" {
		return "", badRequest("ConfigurationSetName is required.")
	}
	return n, nil
}

// CreateConfigurationSet: POST /v2/email/configuration-sets.
func (h *handler) createConfigurationSet(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.sets()
	if err != nil {
		return nil, err
	}
	var in createConfigurationSetInput
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	if err := refuseUnsupported(in.VdmOptions, in.ArchivingOptions); err != nil {
		return nil, err
	}
	st := configset.NewSet(c.AccountID, in.ConfigurationSetName)
	if o := in.TrackingOptions; o != nil {
		if o.CustomRedirectDomain == "" {
			return nil, badRequest("TrackingOptions.CustomRedirectDomain is required when TrackingOptions are given.")
		}
		st.Tracking = &configset.TrackingOptions{CustomRedirectDomain: o.CustomRedirectDomain, HTTPSPolicy: o.HttpsPolicy}
	}
	if o := in.SendingOptions; o != nil {
		// SendingEnabled absent is false, as in PutConfigurationSetSendingOptions
		// (the SDKs leave a false out: SendingOptions{SendingEnabled: false}
		// arrives as {}).
		st.SendingEnabled = o.SendingEnabled != nil && *o.SendingEnabled
	}
	if o := in.ReputationOptions; o != nil {
		if o.ReputationMetricsEnabled != nil {
			st.ReputationMetricsEnabled = *o.ReputationMetricsEnabled
		}
		if o.LastFreshStart != nil {
			st.LastFreshStart = time.Time(*o.LastFreshStart)
		}
	}
	if o := in.DeliveryOptions; o != nil {
		if err := checkDeliveryOptions(o); err != nil {
			return nil, err
		}
		st.TLSPolicy = o.TlsPolicy
		if o.MaxDeliverySeconds != nil {
			st.MaxDeliverySeconds = *o.MaxDeliverySeconds
		}
	}
	if o := in.SuppressionOptions; o != nil {
		if err := checkSuppressionOptions(o); err != nil {
			return nil, err
		}
		st.SuppressedReasons = o.SuppressedReasons
		if st.SuppressedReasons == nil {
			st.SuppressedReasons = []string{}
		}
	}
	st.Tags = storeTags[configset.Tag](in.Tags)
	return nil, setError(s.Create(r.Context(), st))
}

// GetConfigurationSet: GET /v2/email/configuration-sets/{ConfigurationSetName}.
func (h *handler) getConfigurationSet(r *http.Request, c sesapi.Caller) (any, error) {
	s, name, err := h.namedSet(r, nil)
	if err != nil {
		return nil, err
	}
	st, err := s.Get(r.Context(), c.AccountID, name)
	if err != nil {
		return nil, setError(err)
	}
	out := getConfigurationSetOutput{
		ConfigurationSetName: st.Name,
		ReputationOptions:    reputationOptions{ReputationMetricsEnabled: &st.ReputationMetricsEnabled, LastFreshStart: timestamp(st.LastFreshStart)},
		SendingOptions:       sendingOptions{SendingEnabled: &st.SendingEnabled},
		Tags:                 apiTags(st.Tags),
	}
	// Each options block only when set (ses-api.md §7.1).
	if t := st.Tracking; t != nil {
		out.TrackingOptions = &trackingOptions{CustomRedirectDomain: t.CustomRedirectDomain, HttpsPolicy: t.HTTPSPolicy}
	}
	if st.TLSPolicy != "" || st.MaxDeliverySeconds != 0 {
		out.DeliveryOptions = &deliveryOptions{TlsPolicy: st.TLSPolicy}
		if out.DeliveryOptions.TlsPolicy == "" {
			out.DeliveryOptions.TlsPolicy = "OPTIONAL"
		}
		if st.MaxDeliverySeconds != 0 {
			out.DeliveryOptions.MaxDeliverySeconds = &st.MaxDeliverySeconds
		}
	}
	if st.SuppressedReasons != nil {
		out.SuppressionOptions = &suppressionOptions{SuppressedReasons: st.SuppressedReasons}
	}
	return out, nil
}

// ListConfigurationSets: GET /v2/email/configuration-sets?NextToken=&PageSize=,
// or POST /v2/email/list-configuration-sets.

type listConfigurationSetsOutput struct {
	ConfigurationSets []string `json:"ConfigurationSets"`
	NextToken         string   `json:"NextToken,omitempty"`
}

func (h *handler) listConfigurationSetsGet(r *http.Request, c sesapi.Caller) (any, error) {
	q := r.URL.Query()
	size := defaultSetPageSize
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, badRequest("Invalid PageSize %q: it must be a number from 1 to %d.", v, maxSetPageSize)
		}
		size = n
	}
	return h.listConfigurationSets(r, c, q.Get("NextToken"), size)
}

// listConfigurationSetsPost is ListConfigurationSets as newer SDKs send
// it: POST /v2/email/list-configuration-sets with NextToken and PageSize
// in the body.
func (h *handler) listConfigurationSetsPost(r *http.Request, c sesapi.Caller) (any, error) {
	var in struct {
		NextToken string `json:"NextToken"`
		PageSize  *int   `json:"PageSize"`
	}
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	size := defaultSetPageSize
	if in.PageSize != nil {
		size = *in.PageSize
	}
	return h.listConfigurationSets(r, c, in.NextToken, size)
}

func (h *handler) listConfigurationSets(r *http.Request, c sesapi.Caller, token string, size int) (any, error) {
	s, err := h.sets()
	if err != nil {
		return nil, err
	}
	if size < 1 || size > maxSetPageSize {
		return nil, badRequest("Invalid PageSize %d: it must be a number from 1 to %d.", size, maxSetPageSize)
	}
	names, next, err := s.ListNames(r.Context(), c.AccountID, token, size)
	if err != nil {
		return nil, setError(err)
	}
	if names == nil {
		names = []string{}
	}
	return listConfigurationSetsOutput{ConfigurationSets: names, NextToken: next}, nil
}

// DeleteConfigurationSet: DELETE /v2/email/configuration-sets/{ConfigurationSetName}.
func (h *handler) deleteConfigurationSet(r *http.Request, c sesapi.Caller) (any, error) {
	s, name, err := h.namedSet(r, nil)
	if err != nil {
		return nil, err
	}
	return nil, setError(s.Delete(r.Context(), c.AccountID, name))
}

// PutConfigurationSetSendingOptions: PUT .../{ConfigurationSetName}/sending.
func (h *handler) putSendingOptions(r *http.Request, c sesapi.Caller) (any, error) {
	var in sendingOptions
	s, name, err := h.namedSet(r, &in)
	if err != nil {
		return nil, err
	}
	// SendingEnabled absent is false, as SES's model default.
	return nil, setError(s.SetSendingEnabled(r.Context(), c.AccountID, name, in.SendingEnabled != nil && *in.SendingEnabled))
}

// PutConfigurationSetReputationOptions: PUT .../reputation-options.
func (h *handler) putReputationOptions(r *http.Request, c sesapi.Caller) (any, error) {
	var in reputationOptions
	s, name, err := h.namedSet(r, &in)
	if err != nil {
		return nil, err
	}
	return nil, setError(s.PutReputationOptions(r.Context(), c.AccountID, name, in.ReputationMetricsEnabled != nil && *in.ReputationMetricsEnabled))
}

// PutConfigurationSetSuppressionOptions: PUT .../suppression-options.
// SuppressedReasons absent or empty: the set suppresses nothing.
func (h *handler) putSuppressionOptions(r *http.Request, c sesapi.Caller) (any, error) {
	var in suppressionOptions
	s, name, err := h.namedSet(r, &in)
	if err != nil {
		return nil, err
	}
	if err := checkSuppressionOptions(&in); err != nil {
		return nil, err
	}
	reasons := in.SuppressedReasons
	if reasons == nil {
		reasons = []string{}
	}
	return nil, setError(s.PutSuppressionOptions(r.Context(), c.AccountID, name, reasons))
}

// PutConfigurationSetDeliveryOptions: PUT .../delivery-options.
func (h *handler) putDeliveryOptions(r *http.Request, c sesapi.Caller) (any, error) {
	var in deliveryOptions
	s, name, err := h.namedSet(r, &in)
	if err != nil {
		return nil, err
	}
	if err := checkDeliveryOptions(&in); err != nil {
		return nil, err
	}
	var maxSec int64
	if in.MaxDeliverySeconds != nil {
		maxSec = *in.MaxDeliverySeconds
	}
	return nil, setError(s.PutDeliveryOptions(r.Context(), c.AccountID, name, in.TlsPolicy, maxSec))
}

// PutConfigurationSetTrackingOptions: PUT
// /v2/email/configuration-sets/{ConfigurationSetName}/tracking-options.
// A body with neither member removes the set's TrackingOptions, as in SES.
func (h *handler) putTrackingOptions(r *http.Request, c sesapi.Caller) (any, error) {
	var in trackingOptions
	s, name, err := h.namedSet(r, &in)
	if err != nil {
		return nil, err
	}
	return nil, setError(s.PutTrackingOptions(r.Context(), c.AccountID, name,
		&configset.TrackingOptions{CustomRedirectDomain: in.CustomRedirectDomain, HTTPSPolicy: in.HttpsPolicy}))
}

// PutConfigurationSetVdmOptions, PutConfigurationSetArchivingOptions:
// refused, not ignored.
func (h *handler) putVdmOptions(*http.Request, sesapi.Caller) (any, error) {
	return nil, refuseUnsupported(json.RawMessage("{}"), nil)
}

func (h *handler) putArchivingOptions(*http.Request, sesapi.Caller) (any, error) {
	return nil, refuseUnsupported(nil, json.RawMessage("{}"))
}

// Event destinations.

type snsDestination struct {
	TopicArn string `json:"TopicArn"`
}

type dimensionConfiguration struct {
	DimensionName         string `json:"DimensionName"`
	DimensionValueSource  string `json:"DimensionValueSource"`
	DefaultDimensionValue string `json:"DefaultDimensionValue"`
}

type cloudWatchDestination struct {
	DimensionConfigurations []dimensionConfiguration `json:"DimensionConfigurations"`
}

type eventDestinationDefinition struct {
	Enabled                    *bool                  `json:"Enabled,omitempty"`
	MatchingEventTypes         []string               `json:"MatchingEventTypes"`
	SnsDestination             *snsDestination        `json:"SnsDestination,omitempty"`
	CloudWatchDestination      *cloudWatchDestination `json:"CloudWatchDestination,omitempty"`
	KinesisFirehoseDestination json.RawMessage        `json:"KinesisFirehoseDestination,omitempty"`
	EventBridgeDestination     json.RawMessage        `json:"EventBridgeDestination,omitempty"`
	PinpointDestination        json.RawMessage        `json:"PinpointDestination,omitempty"`
}

type eventDestination struct {
	Name string `json:"Name"`
	eventDestinationDefinition
}

// unsupportedDestination names the destination kinds Sesame cannot
// deliver to.
func unsupportedDestination(field string) error {
	return badRequest("%s is not supported: Sesame publishes events to SnsDestination (its SNS-compatible topics) and CloudWatchDestination (Prometheus metrics) only.", field)
}

// destination turns a definition into the store's Destination.
func destination(name string, d *eventDestinationDefinition) (configset.Destination, error) {
	switch {
	case present(d.EventBridgeDestination):
		return configset.Destination{}, unsupportedDestination("EventDestination.EventBridgeDestination")
	case present(d.KinesisFirehoseDestination):
		return configset.Destination{}, unsupportedDestination("EventDestination.KinesisFirehoseDestination")
	case present(d.PinpointDestination):
		return configset.Destination{}, unsupportedDestination("EventDestination.PinpointDestination")
	}
	// Enabled absent is false (SES's model default).
	out := configset.Destination{Name: name, Enabled: d.Enabled != nil && *d.Enabled, MatchingEventTypes: d.MatchingEventTypes}
	if d.SnsDestination != nil {
		if d.SnsDestination.TopicArn == "" {
			return out, badRequest("EventDestination.SnsDestination.TopicArn is required.")
		}
		out.SNSTopicARN = d.SnsDestination.TopicArn
	}
	if d.CloudWatchDestination != nil {
		out.CloudWatch = []configset.Dimension{}
		for _, dc := range d.CloudWatchDestination.DimensionConfigurations {
			out.CloudWatch = append(out.CloudWatch, configset.Dimension{Name: dc.DimensionName, Source: dc.DimensionValueSource, Default: dc.DefaultDimensionValue})
		}
	}
	return out, nil
}

type createEventDestinationInput struct {
	EventDestinationName string                      `json:"EventDestinationName"`
	EventDestination     *eventDestinationDefinition `json:"EventDestination"`
}

// CreateConfigurationSetEventDestination: POST .../event-destinations.
func (h *handler) createEventDestination(r *http.Request, c sesapi.Caller) (any, error) {
	var in createEventDestinationInput
	s, name, err := h.namedSet(r, &in)
	if err != nil {
		return nil, err
	}
	if in.EventDestination == nil {
		return nil, badRequest("EventDestination is required.")
	}
	d, err := destination(in.EventDestinationName, in.EventDestination)
	if err != nil {
		return nil, err
	}
	return nil, setError(s.CreateDestination(r.Context(), c.AccountID, name, d))
}

// UpdateConfigurationSetEventDestination: PUT .../event-destinations/{EventDestinationName}.
func (h *handler) updateEventDestination(r *http.Request, c sesapi.Caller) (any, error) {
	var in struct {
		EventDestination *eventDestinationDefinition `json:"EventDestination"`
	}
	s, name, err := h.namedSet(r, &in)
	if err != nil {
		return nil, err
	}
	if in.EventDestination == nil {
		return nil, badRequest("EventDestination is required.")
	}
	d, err := destination(r.PathValue("EventDestinationName"), in.EventDestination)
	if err != nil {
		return nil, err
	}
	return nil, setError(s.UpdateDestination(r.Context(), c.AccountID, name, d))
}

// DeleteConfigurationSetEventDestination: DELETE .../event-destinations/{EventDestinationName}.
func (h *handler) deleteEventDestination(r *http.Request, c sesapi.Caller) (any, error) {
	s, name, err := h.namedSet(r, nil)
	if err != nil {
		return nil, err
	}
	return nil, setError(s.DeleteDestination(r.Context(), c.AccountID, name, r.PathValue("EventDestinationName")))
}

// GetConfigurationSetEventDestinations: GET .../event-destinations.

type getEventDestinationsOutput struct {
	EventDestinations []eventDestination `json:"EventDestinations"`
}

func (h *handler) getEventDestinations(r *http.Request, c sesapi.Caller) (any, error) {
	s, name, err := h.namedSet(r, nil)
	if err != nil {
		return nil, err
	}
	ds, err := s.EventDestinations(r.Context(), c.AccountID, name)
	if err != nil {
		return nil, setError(err)
	}
	out := getEventDestinationsOutput{EventDestinations: []eventDestination{}}
	for _, d := range ds {
		e := eventDestination{Name: d.Name}
		e.Enabled = &d.Enabled
		e.MatchingEventTypes = d.MatchingEventTypes
		if d.SNSTopicARN != "" {
			e.SnsDestination = &snsDestination{TopicArn: d.SNSTopicARN}
		}
		if d.CloudWatch != nil {
			cw := &cloudWatchDestination{DimensionConfigurations: []dimensionConfiguration{}}
			for _, dim := range d.CloudWatch {
				cw.DimensionConfigurations = append(cw.DimensionConfigurations, dimensionConfiguration{DimensionName: dim.Name, DimensionValueSource: dim.Source, DefaultDimensionValue: dim.Default})
			}
			e.CloudWatchDestination = cw
		}
		out.EventDestinations = append(out.EventDestinations, e)
	}
	return out, nil
}

// PutEmailIdentityConfigurationSetAttributes: PUT
// /v2/email/identities/{EmailIdentity}/configuration-set. An absent or
// empty ConfigurationSetName clears the default; a named set must exist.
func (h *handler) putIdentityConfigurationSet(r *http.Request, c sesapi.Caller) (any, error) {
	name, err := identityName(r)
	if err != nil {
		return nil, err
	}
	var in struct {
		ConfigurationSetName string `json:"ConfigurationSetName"`
	}
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	if err := h.checkSetExists(r, c, in.ConfigurationSetName); err != nil {
		return nil, err
	}
	return nil, mapNotFound(h.ids.SetConfigurationSet(r.Context(), c.AccountID, name, in.ConfigurationSetName), name)
}

// checkSetExists refuses a default configuration set the account does not
// have (NotFoundException); "" is fine.
func (h *handler) checkSetExists(r *http.Request, c sesapi.Caller, name string) error {
	if name == "" {
		return nil
	}
	s, err := h.sets()
	if err != nil {
		return err
	}
	if _, err := s.Get(r.Context(), c.AccountID, name); err != nil {
		return setError(err)
	}
	return nil
}

// taggedSet checks that a names a configuration set of the caller's
// account and region, and returns its name (see taggedIdentity).
func (h *handler) taggedSet(a resourceARN, c sesapi.Caller) (*configset.Store, string, error) {
	if (a.account != "" && a.account != c.AccountID) || a.region != c.Region || h.configSets == nil {
		return nil, "", resourceNotFound(a)
	}
	return h.configSets, a.name, nil
}

// setTagError maps the store's errors for a tag operation on a set.
func setTagError(err error, a resourceARN) error {
	if errors.Is(err, configset.ErrNotFound) {
		return resourceNotFound(a)
	}
	return setError(err)
}

// tagConfigurationSet, untagConfigurationSet and listConfigurationSetTags
// are TagResource, UntagResource and ListTagsForResource on a
// configuration-set ARN.
func (h *handler) tagConfigurationSet(r *http.Request, c sesapi.Caller, a resourceARN, tags []tag) error {
	s, name, err := h.taggedSet(a, c)
	if err != nil {
		return err
	}
	return setTagError(s.TagSet(r.Context(), c.AccountID, name, storeTags[configset.Tag](tags)), a)
}

func (h *handler) untagConfigurationSet(r *http.Request, c sesapi.Caller, a resourceARN, keys []string) error {
	s, name, err := h.taggedSet(a, c)
	if err != nil {
		return err
	}
	return setTagError(s.UntagSet(r.Context(), c.AccountID, name, keys), a)
}

func (h *handler) listConfigurationSetTags(r *http.Request, c sesapi.Caller, a resourceARN) (any, error) {
	s, name, err := h.taggedSet(a, c)
	if err != nil {
		return nil, err
	}
	st, err := s.Get(r.Context(), c.AccountID, name)
	if err != nil {
		return nil, setTagError(err, a)
	}
	return listTagsForResourceOutput{Tags: apiTags(st.Tags)}, nil
}
