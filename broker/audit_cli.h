// `mash-broker audit ...`: the data protection officer's command line over the broker's audit
// store (audit_tools.h): search, timeline, sar, stats and flags, as tables or JSON.
//
// A person is given as a JSON "person file" (never on the command line, where shell history
// would keep it), turned into pseudonyms in memory with the hub's hash key, and never stored or
// printed; error messages about the file name the file and the problem, never its contents.
// Person file format (every key optional, at least one usable identity required):
//
//   {
//     "forenames": "Mary Jane",          // only the first forename is used
//     "surname": "O'Brien",
//     "date_of_birth": "2012-02-29",     // YYYY-MM-DD; with forenames and surname gives name-dob
//     "identifiers": {                   // scheme -> value, or a list of values
//       "nhs": "943 476 5919", "upn": "A123456789012", "pnc": "12/345678A",
//       "probation": "...", "housing": ["...", "..."]
//     }
//   }
//
// Exit status: 0 done (finding nothing is not an error), 1 a problem with the store (a record
// that is not an event, an unreadable database), 2 usage or malformed input (options, times, a
// person file that is not the format above or gives no usable identity), 3 a file or the store
// could not be read. Output goes to std::cout, messages to std::cerr.
#pragma once

namespace mash::broker {

// argv[0] is "audit"; argv[1] the subcommand.
int run_audit_command(int argc, char** argv);

}  // namespace mash::broker
