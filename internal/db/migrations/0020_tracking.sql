-- Open and click tracking ([8/10] part 4).
--
-- TrackingOptions of a configuration set: tracking_redirect_domain is
-- CustomRedirectDomain, NULL when the set has no TrackingOptions ('' when
-- it has them without a domain, which v2 allows on Put);
-- tracking_https_policy is HttpsPolicy (REQUIRE, REQUIRE_OPEN_ONLY or
-- OPTIONAL; '' when not given, which means OPTIONAL).
ALTER TABLE configuration_sets ADD COLUMN tracking_redirect_domain TEXT;
ALTER TABLE configuration_sets ADD COLUMN tracking_https_policy TEXT NOT NULL DEFAULT '';
