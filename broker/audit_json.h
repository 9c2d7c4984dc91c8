// The DPO's audit reports as JSON, and a person's details read from JSON into pseudonyms: shared
// by `mash-broker audit ... --json` and the API's /api/v1/audit/... endpoints, so both say the
// same thing in the same words.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit_tools.h"
#include "pseudonym.h"
#include "result.h"

namespace mash::broker {

nlohmann::json event_json(uint64_t index, const AuditEvent& e);
nlohmann::json events_json(const EventList& list);
nlohmann::json sar_json(const SubjectAccessReport& r);
nlohmann::json statistics_json(const AccessStatistics& s);
nlohmann::json flags_json(const PatternReport& r);

// A person as {"forenames", "surname", "date_of_birth", "identifiers": {scheme: value or
// [values]}} (every key optional). Errors name the key and the problem, never a value.
Result<PersonDetails> person_from_json(const nlohmann::json& j);

// The person's pseudonyms. Every identifier given must be usable (a mistyped one would quietly
// narrow a search), and there must be at least one pseudonym. `warning` is set when forenames,
// surname and date of birth were given only in part (they count only together).
Result<std::vector<std::string>> person_pseudonyms(const PersonDetails& person, const Pseudonymizer& pseudonymizer,
                                                   std::string* warning = nullptr);

}  // namespace mash::broker
