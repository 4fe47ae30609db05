package sesv1

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/sesame-email/sesame/internal/configset"
	"github.com/sesame-email/sesame/internal/sesapi"
)

// Configuration sets and event destinations, v1 (ses-api.md §6
// "Configuration sets and event destinations", §6.1). v1 spells event
// types in lower camel case (send, renderingFailure, ...), dimension
// sources messageTag/emailHeader/linkTag, and the SNS destination
// SNSDestination.TopicARN. Kinesis Firehose destinations are refused with
// InvalidFirehoseDestination: Sesame supports SNS and CloudWatch
// destinations only.

// ListConfigurationSets' page size when MaxItems is absent (SES documents
// no bound; 1000 is the largest page Sesame gives).
const defaultSetItems = 1000

// v1EventTypes maps v1's event type spelling to v2's.
var v1EventTypes = map[string]string{
	"send": "SEND", "reject": "REJECT", "bounce": "BOUNCE", "complaint": "COMPLAINT", "delivery": "DELIVERY",
	"open": "OPEN", "click": "CLICK", "renderingFailure": "RENDERING_FAILURE",
	"deliveryDelay": "DELIVERY_DELAY", "subscription": "SUBSCRIPTION",
}

// v1Sources maps v1's DimensionValueSource spelling to v2's.
var v1Sources = map[string]string{"messageTag": configset.SourceMessageTag, "emailHeader": configset.SourceEmailHeader, "linkTag": configset.SourceLinkTag}

func v1Name(m map[string]string, v2 string) string {
	for k, v := range m {
		if v == v2 {
			return k
		}
	}
	return v2
}

// setError maps the configset store's errors to v1's codes.
func setError(err error) error {
	var (
		nf *configset.NotFoundError
		ex *configset.ExistsError
		le *configset.LimitError
		ie *configset.InvalidError
		te *configset.TrackingError
	)
	e := func(code, msg string) error {
		return &sesapi.Error{Code: code, Status: http.StatusBadRequest, Message: msg}
	}
	switch {
	case errors.As(err, &nf) && nf.Destination != "":
		return e("EventDestinationDoesNotExist", nf.Error())
	case errors.As(err, &nf):
		return e("ConfigurationSetDoesNotExist", nf.Error())
	case errors.As(err, &ex) && ex.Destination != "":
		return e("EventDestinationAlreadyExists", ex.Error())
	case errors.As(err, &ex):
		return e("ConfigurationSetAlreadyExists", ex.Error())
	case errors.As(err, &le):
		return e("LimitExceeded", le.Msg)
	case errors.As(err, &te) && te.Exists:
		return e("TrackingOptionsAlreadyExistsException", te.Error())
	case errors.As(err, &te):
		return e("TrackingOptionsDoesNotExistException", te.Error())
	case errors.As(err, &ie):
		code := map[string]string{
			configset.InvalidSet:        "InvalidConfigurationSet",
			configset.InvalidSNS:        "InvalidSNSDestination",
			configset.InvalidCloudWatch: "InvalidCloudWatchDestination",
			configset.InvalidDelivery:   "InvalidDeliveryOptions",
			configset.InvalidTracking:   "InvalidTrackingOptions",
		}[ie.Kind]
		if code == "" {
			code = "InvalidParameterValue"
		}
		return e(code, ie.Msg)
	}
	return err
}

// namedSet returns the store and the required ConfigurationSetName: the
// start of every operation on one set.
func (h *handler) namedSet(c *call) (*configset.Store, string, error) {
	s, err := h.sets()
	if err != nil {
		return nil, "", err
	}
	name, err := c.required("ConfigurationSetName")
	if err != nil {
		return nil, "", err
	}
	return s, name, nil
}

func (h *handler) sets() (*configset.Store, error) {
	if h.configSets == nil {
		return nil, errors.New("sesv1: configuration sets are not configured (Options.ConfigSets is nil)")
	}
	return h.configSets, nil
}

// CreateConfigurationSet: ConfigurationSet.Name.
func (h *handler) createConfigurationSet(c *call) (any, error) {
	s, err := h.sets()
	if err != nil {
		return nil, err
	}
	name, err := c.required("ConfigurationSet.Name")
	if err != nil {
		return nil, err
	}
	return nil, setError(s.Create(c.ctx, configset.NewSet(c.account, name)))
}

// DeleteConfigurationSet: ConfigurationSetName.
func (h *handler) deleteConfigurationSet(c *call) (any, error) {
	s, name, err := h.namedSet(c)
	if err != nil {
		return nil, err
	}
	return nil, setError(s.Delete(c.ctx, c.account, name))
}

type configurationSetXML struct {
	Name string `xml:"Name"`
}

type listConfigurationSetsResult struct {
	ConfigurationSets struct {
		Member []configurationSetXML `xml:"member"`
	} `xml:"ConfigurationSets"`
	NextToken string `xml:"NextToken,omitempty"`
}

// ListConfigurationSets: NextToken, MaxItems.
func (h *handler) listConfigurationSets(c *call) (any, error) {
	s, err := h.sets()
	if err != nil {
		return nil, err
	}
	size := defaultSetItems
	if v := c.param("MaxItems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListItems {
			return nil, invalidParameter("Invalid MaxItems %q: must be an integer from 1 to %d.", v, maxListItems)
		}
		size = n
	}
	names, next, err := s.ListNames(c.ctx, c.account, c.param("NextToken"), size)
	if err != nil {
		return nil, setError(err)
	}
	var out listConfigurationSetsResult
	out.ConfigurationSets.Member = []configurationSetXML{}
	for _, n := range names {
		out.ConfigurationSets.Member = append(out.ConfigurationSets.Member, configurationSetXML{Name: n})
	}
	out.NextToken = next
	return out, nil
}

// UpdateConfigurationSetSendingEnabled: ConfigurationSetName, Enabled.
func (h *handler) updateConfigurationSetSendingEnabled(c *call) (any, error) {
	return h.setFlag(c, (*configset.Store).SetSendingEnabled)
}

// UpdateConfigurationSetReputationMetricsEnabled: ConfigurationSetName, Enabled.
func (h *handler) updateConfigurationSetReputationMetricsEnabled(c *call) (any, error) {
	return h.setFlag(c, (*configset.Store).PutReputationOptions)
}

func (h *handler) setFlag(c *call, set func(*configset.Store, context.Context, string, string, bool) error) (any, error) {
	s, name, err := h.namedSet(c)
	if err != nil {
		return nil, err
	}
	on, err := c.requiredBool("Enabled")
	if err != nil {
		return nil, err
	}
	return nil, setError(set(s, c.ctx, c.account, name, on))
}

// PutConfigurationSetDeliveryOptions: ConfigurationSetName,
// DeliveryOptions.TlsPolicy (Require | Optional; absent: Optional).
func (h *handler) putConfigurationSetDeliveryOptions(c *call) (any, error) {
	s, name, err := h.namedSet(c)
	if err != nil {
		return nil, err
	}
	var policy string
	switch p := c.param("DeliveryOptions.TlsPolicy"); p {
	case "":
	case "Require":
		policy = "REQUIRE"
	case "Optional":
		policy = "OPTIONAL"
	default:
		return nil, &sesapi.Error{Code: "InvalidDeliveryOptions", Status: http.StatusBadRequest,
			Message: "Invalid DeliveryOptions.TlsPolicy \"" + p + "\": must be Require or Optional."}
	}
	// Only TlsPolicy exists in v1; the set's MaxDeliverySeconds is kept.
	st, err := s.Get(c.ctx, c.account, name)
	if err != nil {
		return nil, setError(err)
	}
	return nil, setError(s.PutDeliveryOptions(c.ctx, c.account, name, policy, st.MaxDeliverySeconds))
}

// DescribeConfigurationSet: ConfigurationSetName,
// ConfigurationSetAttributeNames (eventDestinations, trackingOptions,
// deliveryOptions, reputationOptions).

type eventDestinationXML struct {
	Name               string `xml:"Name"`
	Enabled            bool   `xml:"Enabled"`
	MatchingEventTypes struct {
		Member []string `xml:"member"`
	} `xml:"MatchingEventTypes"`
	CloudWatchDestination *struct {
		DimensionConfigurations struct {
			Member []dimensionXML `xml:"member"`
		} `xml:"DimensionConfigurations"`
	} `xml:"CloudWatchDestination,omitempty"`
	SNSDestination *struct {
		TopicARN string `xml:"TopicARN"`
	} `xml:"SNSDestination,omitempty"`
}

type dimensionXML struct {
	DimensionName         string `xml:"DimensionName"`
	DimensionValueSource  string `xml:"DimensionValueSource"`
	DefaultDimensionValue string `xml:"DefaultDimensionValue"`
}

type describeConfigurationSetResult struct {
	ConfigurationSet  configurationSetXML `xml:"ConfigurationSet"`
	EventDestinations *struct {
		Member []eventDestinationXML `xml:"member"`
	} `xml:"EventDestinations,omitempty"`
	DeliveryOptions *struct {
		TlsPolicy string `xml:"TlsPolicy"`
	} `xml:"DeliveryOptions,omitempty"`
	ReputationOptions *struct {
		SendingEnabled           bool   `xml:"SendingEnabled"`
		ReputationMetricsEnabled bool   `xml:"ReputationMetricsEnabled"`
		LastFreshStart           string `xml:"LastFreshStart,omitempty"`
	} `xml:"ReputationOptions,omitempty"`
	TrackingOptions *trackingOptionsXML `xml:"TrackingOptions,omitempty"`
}

// trackingOptionsXML is v1's TrackingOptions: only CustomRedirectDomain
// (HttpsPolicy is v2's).
type trackingOptionsXML struct {
	CustomRedirectDomain string `xml:"CustomRedirectDomain,omitempty"`
}

func (h *handler) describeConfigurationSet(c *call) (any, error) {
	s, name, err := h.namedSet(c)
	if err != nil {
		return nil, err
	}
	attrs, err := c.list("ConfigurationSetAttributeNames", false)
	if err != nil {
		return nil, err
	}
	for _, a := range attrs {
		switch a {
		case "eventDestinations", "trackingOptions", "deliveryOptions", "reputationOptions":
		default:
			return nil, enumError("ConfigurationSetAttributeNames.member", a, "deliveryOptions", "eventDestinations", "reputationOptions", "trackingOptions")
		}
	}
	st, err := s.Get(c.ctx, c.account, name)
	if err != nil {
		return nil, setError(err)
	}
	out := describeConfigurationSetResult{ConfigurationSet: configurationSetXML{Name: st.Name}}
	for _, a := range attrs {
		switch a {
		case "eventDestinations":
			if out.EventDestinations != nil {
				continue
			}
			ds, err := s.EventDestinations(c.ctx, c.account, name)
			if err != nil {
				return nil, setError(err)
			}
			out.EventDestinations = &struct {
				Member []eventDestinationXML `xml:"member"`
			}{Member: []eventDestinationXML{}}
			for _, d := range ds {
				x := eventDestinationXML{Name: d.Name, Enabled: d.Enabled}
				for _, t := range d.MatchingEventTypes {
					x.MatchingEventTypes.Member = append(x.MatchingEventTypes.Member, v1Name(v1EventTypes, t))
				}
				if d.SNSTopicARN != "" {
					x.SNSDestination = &struct {
						TopicARN string `xml:"TopicARN"`
					}{TopicARN: d.SNSTopicARN}
				}
				if d.CloudWatch != nil {
					x.CloudWatchDestination = &struct {
						DimensionConfigurations struct {
							Member []dimensionXML `xml:"member"`
						} `xml:"DimensionConfigurations"`
					}{}
					for _, dim := range d.CloudWatch {
						x.CloudWatchDestination.DimensionConfigurations.Member = append(x.CloudWatchDestination.DimensionConfigurations.Member,
							dimensionXML{DimensionName: dim.Name, DimensionValueSource: v1Name(v1Sources, dim.Source), DefaultDimensionValue: dim.Default})
					}
				}
				out.EventDestinations.Member = append(out.EventDestinations.Member, x)
			}
		case "deliveryOptions":
			if st.TLSPolicy != "" {
				p := "Optional"
				if st.TLSPolicy == "REQUIRE" {
					p = "Require"
				}
				out.DeliveryOptions = &struct {
					TlsPolicy string `xml:"TlsPolicy"`
				}{TlsPolicy: p}
			}
		case "reputationOptions":
			out.ReputationOptions = &struct {
				SendingEnabled           bool   `xml:"SendingEnabled"`
				ReputationMetricsEnabled bool   `xml:"ReputationMetricsEnabled"`
				LastFreshStart           string `xml:"LastFreshStart,omitempty"`
			}{SendingEnabled: st.SendingEnabled, ReputationMetricsEnabled: st.ReputationMetricsEnabled}
			if !st.LastFreshStart.IsZero() {
				out.ReputationOptions.LastFreshStart = st.LastFreshStart.UTC().Format("2006-01-02T15:04:05.000Z")
			}
		case "trackingOptions":
			if st.Tracking != nil {
				out.TrackingOptions = &trackingOptionsXML{CustomRedirectDomain: st.Tracking.CustomRedirectDomain}
			}
		}
	}
	return out, nil
}

// CreateConfigurationSetTrackingOptions, UpdateConfigurationSetTrackingOptions:
// ConfigurationSetName, TrackingOptions.CustomRedirectDomain (v1 has no
// HttpsPolicy: Update keeps the set's).
func (h *handler) createConfigurationSetTrackingOptions(c *call) (any, error) {
	s, name, err := h.namedSet(c)
	if err != nil {
		return nil, err
	}
	t := configset.TrackingOptions{CustomRedirectDomain: c.param("TrackingOptions.CustomRedirectDomain")}
	return nil, setError(s.CreateTrackingOptions(c.ctx, c.account, name, t))
}

func (h *handler) updateConfigurationSetTrackingOptions(c *call) (any, error) {
	s, name, err := h.namedSet(c)
	if err != nil {
		return nil, err
	}
	t := configset.TrackingOptions{CustomRedirectDomain: c.param("TrackingOptions.CustomRedirectDomain")}
	if st, err := s.Get(c.ctx, c.account, name); err == nil && st.Tracking != nil {
		t.HTTPSPolicy = st.Tracking.HTTPSPolicy
	}
	return nil, setError(s.UpdateTrackingOptions(c.ctx, c.account, name, t))
}

// DeleteConfigurationSetTrackingOptions: ConfigurationSetName.
func (h *handler) deleteConfigurationSetTrackingOptions(c *call) (any, error) {
	s, name, err := h.namedSet(c)
	if err != nil {
		return nil, err
	}
	return nil, setError(s.DeleteTrackingOptions(c.ctx, c.account, name))
}

// eventDestination reads EventDestination.* into the store's form.
func (c *call) eventDestination() (configset.Destination, error) {
	p := "EventDestination."
	name, err := c.required(p + "Name")
	if err != nil {
		return configset.Destination{}, err
	}
	d := configset.Destination{Name: name}
	if v := c.param(p + "Enabled"); v != "" {
		if d.Enabled, err = c.requiredBool(p + "Enabled"); err != nil {
			return d, err
		}
	}
	types, err := c.list(p+"MatchingEventTypes", true)
	if err != nil {
		return d, err
	}
	for _, t := range types {
		v2, ok := v1EventTypes[t]
		if !ok {
			return d, enumError(p+"MatchingEventTypes.member", t, "bounce", "click", "complaint", "delivery", "open", "reject", "renderingFailure", "send")
		}
		d.MatchingEventTypes = append(d.MatchingEventTypes, v2)
	}
	if c.form.sub(p+"KinesisFirehoseDestination") != nil {
		return d, &sesapi.Error{Code: "InvalidFirehoseDestination", Status: http.StatusBadRequest,
			Message: "EventDestination.KinesisFirehoseDestination is not supported: Sesame publishes events to SNSDestination (its SNS-compatible topics) and CloudWatchDestination (Prometheus metrics) only."}
	}
	if c.form.sub(p+"SNSDestination") != nil {
		if d.SNSTopicARN, err = c.required(p + "SNSDestination.TopicARN"); err != nil {
			return d, err
		}
	}
	if c.form.sub(p+"CloudWatchDestination") != nil {
		members, _, err := c.form.items(p + "CloudWatchDestination.DimensionConfigurations")
		if err != nil {
			return d, validationError("Value at '%s' failed to satisfy constraint: %v", memberName(p+"CloudWatchDestination.DimensionConfigurations"), err)
		}
		d.CloudWatch = []configset.Dimension{}
		for _, m := range members {
			n, _ := m.get("DimensionName")
			src, _ := m.get("DimensionValueSource")
			def, _ := m.get("DefaultDimensionValue")
			v2, ok := v1Sources[src]
			if !ok {
				return d, &sesapi.Error{Code: "InvalidCloudWatchDestination", Status: http.StatusBadRequest,
					Message: "Invalid DimensionValueSource \"" + src + "\" of dimension " + n + ": must be messageTag, emailHeader or linkTag."}
			}
			d.CloudWatch = append(d.CloudWatch, configset.Dimension{Name: n, Source: v2, Default: def})
		}
	}
	return d, nil
}

// CreateConfigurationSetEventDestination: ConfigurationSetName, EventDestination.
func (h *handler) createConfigurationSetEventDestination(c *call) (any, error) {
	return h.writeDestination(c, (*configset.Store).CreateDestination)
}

// UpdateConfigurationSetEventDestination: ConfigurationSetName, EventDestination.
func (h *handler) updateConfigurationSetEventDestination(c *call) (any, error) {
	return h.writeDestination(c, (*configset.Store).UpdateDestination)
}

func (h *handler) writeDestination(c *call, write func(*configset.Store, context.Context, string, string, configset.Destination) error) (any, error) {
	s, name, err := h.namedSet(c)
	if err != nil {
		return nil, err
	}
	d, err := c.eventDestination()
	if err != nil {
		return nil, err
	}
	err = write(s, c.ctx, c.account, name, d)
	// v1 reports a bad SNS destination's topic by the destination kind.
	var ie *configset.InvalidError
	if errors.As(err, &ie) && ie.Kind == configset.InvalidOther && strings.HasPrefix(ie.Field, "SnsDestination") {
		ie.Kind = configset.InvalidSNS
	}
	return nil, setError(err)
}

// DeleteConfigurationSetEventDestination: ConfigurationSetName, EventDestinationName.
func (h *handler) deleteConfigurationSetEventDestination(c *call) (any, error) {
	s, name, err := h.namedSet(c)
	if err != nil {
		return nil, err
	}
	dest, err := c.required("EventDestinationName")
	if err != nil {
		return nil, err
	}
	return nil, setError(s.DeleteDestination(c.ctx, c.account, name, dest))
}
