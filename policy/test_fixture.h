// A small, valid agreement for unit tests; tests derive broken variants by editing its text.
#pragma once

#include <string>

namespace mash::policy::testing {

inline const std::string kAgreement = R"(
[agreement]
id = "test-isa"
version = 3
title = "Test agreement"
effective = 2026-04-01
review = 2027-03-31

[[agreement.signatories]]
organisation = "Test Council"
name = "A. Person"
role = "Director of Children's Services"
signed = 2026-03-20

[retention]
case_content_days = 2190
audit_metadata_days = 2920

[rate_limits]
enquiries_per_user_per_hour = 20
enquiries_per_user_per_day = 100

[[brag]]
id = "blue"
name = "Blue"
rank = 1
deadline_hours = 120

[[brag]]
id = "green"
name = "Green"
rank = 2
deadline_hours = 72

[[brag]]
id = "amber"
name = "Amber"
rank = 3
deadline_hours = 24

[[brag]]
id = "red"
name = "Red"
rank = 4
deadline_hours = 4

[[purposes]]
id = "mash-risk-assessment"
name = "MASH risk assessment"

[[purposes]]
id = "early-help-assessment"
name = "Early help assessment"

[[legal_bases]]
id = "ca1989-s47"
name = "Children Act 1989 s47"

[[legal_bases]]
id = "ca1989-s17"
name = "Children Act 1989 s17"

[[legal_bases]]
id = "consent"
name = "Consent"
requires_consent = true

[[consent_states]]
id = "given"
name = "Consent given"
given = true

[[consent_states]]
id = "refused"
name = "Consent refused"

[[consent_states]]
id = "not-sought-risk"
name = "Not sought: could increase the risk of harm"
requires_reason = true

[[agencies]]
id = "police"
name = "Police"
certificate = "urn:mash:agency:police"
restricted_contact = "Police MASH desk"

[[agencies]]
id = "health"
name = "Health"
certificate = "urn:mash:agency:health"
restricted_contact = "Named nurse for safeguarding"

[[fields]]
id = "police.known"
agency = "police"
type = "boolean"
description = "Known to police"

[[fields]]
id = "police.incidents"
agency = "police"
type = "text"
description = "Incidents summary"

[[fields]]
id = "police.intelligence"
agency = "police"
type = "text"
description = "Intelligence summary"

[[fields]]
id = "health.gp"
agency = "health"
type = "text"
description = "GP registration"

[[fields]]
id = "health.sexual-health"
agency = "health"
type = "text"
special_category = true
description = "Sexual health involvement"

[[grants]]
id = "G-POL-1"
agency = "police"
purposes = ["mash-risk-assessment"]
legal_bases = ["ca1989-s47"]
consent = ["given", "refused", "not-sought-risk"]
min_brag = "green"
fields = ["police.known", "police.incidents"]
lookback_months = 72

[[grants]]
id = "G-POL-2"
agency = "police"
purposes = ["mash-risk-assessment"]
legal_bases = ["ca1989-s47"]
consent = ["not-sought-risk", "refused"]
min_brag = "red"
fields = ["police.intelligence"]
lookback_months = 24
review = true

[[grants]]
id = "G-POL-3"
agency = "police"
purposes = ["mash-risk-assessment"]
legal_bases = ["ca1989-s17"]
consent = ["given"]
min_brag = "amber"
fields = ["police.known"]
lookback_months = 12

[[grants]]
id = "G-HEA-1"
agency = "health"
purposes = ["mash-risk-assessment", "early-help-assessment"]
legal_bases = ["ca1989-s47", "consent"]
consent = ["given", "refused", "not-sought-risk"]
min_brag = "blue"
fields = ["health.gp", "health.sexual-health"]
lookback_months = 36

[[forbids]]
id = "F-HEA-1"
agency = "health"
fields = ["health.sexual-health"]
consent = ["refused"]
reason = "Sexual health information is never shared against the family's wishes"

[[restricted]]
id = "R-POL-1"
agency = "police"
record_types = ["ongoing-investigation"]
handling = "flag-only"

[[tests]]
name = "s47 at red releases everything police holds"
agency = "police"
purpose = "mash-risk-assessment"
basis = "ca1989-s47"
consent = "not-sought-risk"
brag = "red"
released = ["police.known", "police.incidents", "police.intelligence"]

[[tests]]
name = "intelligence needs red"
agency = "police"
purpose = "mash-risk-assessment"
basis = "ca1989-s47"
consent = "refused"
brag = "amber"
released = ["police.known", "police.incidents"]
withheld = { "police.intelligence" = "below-min-brag" }
)";

}  // namespace mash::policy::testing
