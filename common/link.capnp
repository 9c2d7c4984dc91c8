# The agent link: messages between mash-broker and mash-agent.
#
# Each message travels as one frame: a 4-byte big-endian length, then a Cap'n Proto message in
# the standard (unpacked) serialisation with its segment table. See framing.h for the limits.
# Evolve only by adding fields and union members with new ordinals; never renumber.
# Who speaks for an agency comes from the TLS certificate, never from a field here.

@0xd8a8de97cf36856a;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("mash::wire");

const protocolVersion :UInt32 = 1;

struct Message {
  union {
    hello @0 :Hello;
    policyBundle @1 :PolicyBundle;
    enquiry @2 :Enquiry;
    acknowledgement @3 :Acknowledgement;
    answer @4 :Answer;
    heartbeat @5 :Heartbeat;
    error @6 :Error;
    auditCheckpoint @7 :AuditCheckpoint;
    consistencyRequest @8 :ConsistencyRequest;
    consistencyProof @9 :ConsistencyProof;
  }
}

# First message in each direction after the TLS handshake.
struct Hello {
  protocolVersion @0 :UInt32;
  software @1 :Text;            # e.g. "mash-agent 0.1.0"
  signingKey @2 :Data;          # sender's Ed25519 public key (32 bytes) for enquiries/answers
  policyVersion @3 :UInt64;     # ISA version the sender holds; 0 when none
  features @4 :List(Text);      # optional capabilities, for negotiation
  heartbeatIntervalMs @5 :UInt32;  # how often the sender will send heartbeats
}

# The signed Information Sharing Agreement, broker to agent, sent after Hello when the agent's
# Hello names an older version (or none).
struct PolicyBundle {
  agreementId @0 :Text;
  version @1 :UInt64;
  document @2 :Data;            # the agreement's TOML text as signed
  signature @3 :Data;           # the signature file's text (policy/signing.h): the agent checks
                                # it over the document's canonical bytes with the ISA signer's key
}

# An enquiry for one agency. `body` holds the canonical bytes of an EnquiryBody message; the
# signature covers exactly those bytes (with a domain prefix, common/envelope.h), so the agent can
# keep them as evidence.
struct Enquiry {
  id @0 :Data;                  # 16 random bytes; repeated deliveries carry the same id
  body @1 :Data;
  signature @2 :Data;           # broker's Ed25519 signature over `body`
}

struct EnquiryBody {
  id @0 :Data;
  agency @1 :Text;              # the agency this copy is addressed to
  agreementId @2 :Text;
  policyVersion @3 :UInt64;
  issuedAtMs @4 :Int64;
  deadlineMs @5 :Int64;
  caseRef @6 :Text;
  purpose @7 :Text;
  legalBasis @8 :Text;
  consent @9 :Text;
  brag @10 :Text;
  justification @11 :Text;
  fields @12 :List(Text);       # field ids from the agreement's catalogue
  subjects @13 :List(Subject);
}

struct Subject {
  ref @0 :Text;                 # the enquiry's own label for this person, e.g. "s1"
  role @1 :Text;                # child, mother, father, carer, sibling, other adult
  forenames @2 :Text;
  surname @3 :Text;
  otherNames @4 :List(Text);
  dateOfBirth @5 :Text;         # YYYY-MM-DD
  gender @6 :Text;
  postcode @7 :Text;
  address @8 :Text;
  identifiers @9 :List(Identifier);
  uprn @10 :Text;               # Unique Property Reference Number of the address, if known
}

struct Identifier {
  scheme @0 :Text;              # nhs, upn, pnc, probation, housing
  value @1 :Text;
}

# Agent to hub: the agent has the enquiry durably and will answer it. Hub to agent: the hub has
# stored the answer whose body has SHA-256 `answerDigest` (so that an acknowledgement of an
# answer held for review is not taken for the answer released later under the same id).
struct Acknowledgement {
  enquiryId @0 :Data;
  answerDigest @1 :Data;        # hub to agent; empty from older hubs
}

# An answer, agent to broker. `body` holds the canonical bytes of an AnswerBody message.
struct Answer {
  enquiryId @0 :Data;
  body @1 :Data;
  signature @2 :Data;           # agent's Ed25519 signature over `body`
}

struct AnswerBody {
  enquiryId @0 :Data;
  agency @1 :Text;
  policyVersion @2 :UInt64;
  answeredAtMs @3 :Int64;
  status @4 :Status;
  subjects @5 :List(SubjectAnswer);
  declineReason @6 :Text;       # a code, for `declined`: e.g. agreement-not-held, field-outside-agreement

  enum Status {
    answered @0;
    declined @1;
    awaitingReview @2;
  }
}

struct SubjectAnswer {
  ref @0 :Text;
  outcome @1 :Outcome;
  score @2 :Float64;
  candidateCount @3 :UInt32;    # for `possible`: how many, never who
  released @4 :List(FieldValue);
  withheld @5 :List(Withheld);
  restricted @6 :Bool;
  restrictedContact @7 :Text;
  matchBasis @8 :Text;          # how the outcome was reached: identifier:nhs, score, too-close, ...

  enum Outcome {
    noRecord @0;
    possible @1;
    matched @2;
  }
}

struct FieldValue {
  field @0 :Text;
  value @1 :Text;
  date @2 :Text;
  source @3 :Text;              # the agency's own reference for the record
}

struct Withheld {
  field @0 :Text;
  reason @1 :Text;
  clause @2 :Text;
}

# Witnessing: each side sends the signed checkpoints of its audit log; the other keeps the
# latest it verified and asks for a proof that each newer one extends it (RFC 6962), so neither
# can rewrite or truncate its history unnoticed.
struct AuditCheckpoint {
  note @0 :Text;                # signed note (common/signed_note.h)
}

struct ConsistencyRequest {
  oldSize @0 :UInt64;
  newSize @1 :UInt64;
}

struct ConsistencyProof {
  oldSize @0 :UInt64;
  newSize @1 :UInt64;
  hashes @2 :List(Data);        # 32 bytes each
}

struct Heartbeat {
  seq @0 :UInt64;
  sentAtMs @1 :Int64;
}

# Sent before closing a connection deliberately, so the other side can log why; or, with
# enquiryId, when one enquiry is refused (the agent tells the hub, which retries the transient
# refusals, overloaded and auditUnavailable and unspecified, and marks the others failed).
struct Error {
  code @0 :Code;
  message @1 :Text;             # for operators; never personal data
  enquiryId @2 :Data;           # set when one enquiry is refused and the connection stays open

  enum Code {
    unspecified @0;
    protocol @1;                # unexpected or malformed message
    unsupportedVersion @2;
    replaced @3;                # a newer connection for the same agency took over
    badSignature @4;
    policyRejected @5;
    overloaded @6;
    shuttingDown @7;
    auditUnavailable @8;        # the sender cannot record the action, so it refuses it
    witnessAlarm @9;            # the sender found the other's audit history inconsistent
  }
}
