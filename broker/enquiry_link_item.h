// One acknowledgement or answer from the agent link on its way through a batch of the desk's
// link worker (enquiry_link.cpp). Private to the desk; here so that every part of it that
// holds the queue sees the whole type.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent_listener.h"
#include "audit_event.h"
#include "enquiries.h"
#include "enquiry_record.h"

namespace mash::broker {

// An acknowledgement or an answer from the link, on its way through one batch.
struct EnquiryDesk::LinkItem {
  bool is_answer = false;
  std::string agency;
  std::vector<uint8_t> delivery;  // acknowledgement: the delivery id
  AgentAnswer answer;             // answer
  std::function<void(bool)> done;
  std::function<void()> task;  // other work for the worker (a refusal), not part of the batch
  // Worked out in the batch.
  std::string d, enquiry;  // delivery id (hex), the enquiry it belongs to
  bool usable = false;     // resolved to one of our deliveries to this agency
  CopyEvent event = CopyEvent::kAcknowledged;
  std::string digest;
  AuditEvent audit;        // the record to append (type empty: none)
  bool recorded = false;   // the answer was on the record already (or comes again in this batch)
  LinkItem* first = nullptr;  // a repeat within the batch: the item it repeats
  bool late = false;
  bool stored = false, changed = false;
  AgencyStatus before = AgencyStatus::kQueued, after = AgencyStatus::kQueued;
  nlohmann::json status_event;  // what watchers are told, as it was when this item changed it
};

}  // namespace mash::broker
