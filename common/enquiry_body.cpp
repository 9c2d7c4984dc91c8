#include "enquiry_body.h"

#include <capnp/message.h>

#include "framing.h"
#include "link.capnp.h"

namespace mash {

std::vector<uint8_t> encode_enquiry_body(const EnquiryBodyFields& f) {
  capnp::MallocMessageBuilder b;
  auto body = b.initRoot<wire::EnquiryBody>();
  body.setId(capnp::Data::Reader(f.id.data(), f.id.size()));
  body.setAgency(f.agency);
  body.setAgreementId(f.agreement_id);
  body.setPolicyVersion(f.policy_version);
  body.setIssuedAtMs(f.issued_ms);
  body.setDeadlineMs(f.deadline_ms);
  body.setCaseRef(f.case_ref);
  body.setPurpose(f.purpose);
  body.setLegalBasis(f.legal_basis);
  body.setConsent(f.consent);
  body.setBrag(f.brag);
  body.setJustification(f.justification);
  auto fields = body.initFields(static_cast<unsigned>(f.fields.size()));
  for (unsigned i = 0; i < f.fields.size(); ++i) fields.set(i, f.fields[i]);
  auto subjects = body.initSubjects(static_cast<unsigned>(f.subjects.size()));
  for (unsigned i = 0; i < f.subjects.size(); ++i) {
    const EnquirySubject& s = f.subjects[i];
    auto o = subjects[i];
    o.setRef(s.ref);
    o.setRole(s.role);
    o.setForenames(s.forenames);
    o.setSurname(s.surname);
    o.setDateOfBirth(s.date_of_birth);
    o.setGender(s.gender);
    o.setPostcode(s.postcode);
    o.setAddress(s.address);
    o.setUprn(s.uprn);
    auto other = o.initOtherNames(static_cast<unsigned>(s.other_names.size()));
    for (unsigned k = 0; k < s.other_names.size(); ++k) other.set(k, s.other_names[k]);
    auto ids = o.initIdentifiers(static_cast<unsigned>(s.identifiers.size()));
    for (unsigned k = 0; k < s.identifiers.size(); ++k) {
      ids[k].setScheme(s.identifiers[k].first);
      ids[k].setValue(s.identifiers[k].second);
    }
  }
  return serialize_message(b);
}

}  // namespace mash
