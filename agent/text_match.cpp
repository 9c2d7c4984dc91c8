// Implementation of text_match.h. The string measures use fixed stack buffers for inputs of up to
// kStackBytes bytes and the heap beyond, so the matcher's inner loop never allocates for names.
#include "text_match.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>

#include "pseudonym.h"

namespace mash::agent::text {

namespace {

constexpr size_t kStackBytes = 64;

// Matching flags for jaro: on the stack for short inputs, on the heap otherwise.
class Flags {
 public:
  explicit Flags(size_t n) {
    if (n > kStackBytes) {
      heap_ = std::make_unique<bool[]>(n);  // value-initialised: all false
      data_ = heap_.get();
    } else {
      data_ = stack_.data();
    }
  }
  bool& operator[](size_t i) { return data_[i]; }

 private:
  std::array<bool, kStackBytes> stack_{};
  std::unique_ptr<bool[]> heap_;
  bool* data_;
};

// Jaro with the first string's characters taking the earliest free match in the second. The
// result does not depend on which string comes first (see the symmetry test).
double jaro_impl(std::string_view a, std::string_view b) {
  const size_t la = a.size(), lb = b.size();
  const size_t window = std::max(la, lb) / 2 > 0 ? std::max(la, lb) / 2 - 1 : 0;
  Flags ma(la), mb(lb);
  size_t m = 0;
  for (size_t i = 0; i < la; ++i) {
    const size_t lo = i > window ? i - window : 0;
    const size_t hi = std::min(lb, i + window + 1);
    for (size_t j = lo; j < hi; ++j) {
      if (!mb[j] && a[i] == b[j]) {
        ma[i] = mb[j] = true;
        ++m;
        break;
      }
    }
  }
  if (m == 0) return 0.0;
  // Matched characters read in order from each string; each position where they disagree is half
  // a transposition. Halved with integer division, as in Winkler's strcmp95 reference code.
  size_t out_of_order = 0;
  for (size_t i = 0, j = 0; i < la; ++i) {
    if (!ma[i]) continue;
    while (!mb[j]) ++j;
    if (a[i] != b[j]) ++out_of_order;
    ++j;
  }
  const double md = static_cast<double>(m);
  const double t = static_cast<double>(out_of_order / 2);
  return (md / static_cast<double>(la) + md / static_cast<double>(lb) + (md - t) / md) / 3.0;
}

// OSA distance with rows of |b|+1 cells; b is the shorter string.
int osa_impl(std::string_view a, std::string_view b, int* before, int* prev, int* cur) {
  const int la = static_cast<int>(a.size()), lb = static_cast<int>(b.size());
  for (int j = 0; j <= lb; ++j) prev[j] = j;
  for (int i = 1; i <= la; ++i) {
    cur[0] = i;
    for (int j = 1; j <= lb; ++j) {
      const int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      int v = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        v = std::min(v, before[j - 2] + 1);
      }
      cur[j] = v;
    }
    // Rotate rows: the oldest becomes the scratch row for the next i.
    int* oldest = before;
    before = prev;
    prev = cur;
    cur = oldest;
  }
  return prev[lb];
}

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ascii_upper(char c) { return c >= 'A' && c <= 'Z'; }
char ascii_lower(char c) { return is_ascii_upper(c) ? static_cast<char>(c - 'A' + 'a') : c; }
char ascii_upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

// Soundex digit of a lower-case letter: '0' for a vowel or Y (which separates equal codes), 'h'
// for H and W (which do not), 0 for a non-letter.
char soundex_code(char c) {
  //                                          abcdefghijklmnopqrstuvwxyz
  static constexpr std::string_view kCodes = "0123012h02245501262301h202";
  return (c >= 'a' && c <= 'z') ? kCodes[c - 'a'] : 0;
}

// Length of a separator for name_tokens at the front of s (0 if none). Besides the ASCII ones,
// the Unicode spaces and dashes that word processors and web forms substitute for them, so that
// "Mary–Jane" splits like "Mary-Jane" instead of normalising to "maryjane".
size_t separator_length(std::string_view s) {
  const char c = s[0];
  if (is_ascii_space(c) || c == '-' || c == ',' || c == '.') return 1;
  const auto byte = [&](size_t i) { return i < s.size() ? static_cast<uint8_t>(s[i]) : 0u; };
  if (byte(0) == 0xC2 && byte(1) == 0xA0) return 2;  // U+00A0 no-break space
  if (byte(0) == 0xE2 && byte(1) == 0x80) {
    const unsigned b2 = byte(2);
    if (b2 >= 0x80 && b2 <= 0x8A) return 3;  // U+2000..U+200A spaces
    if (b2 >= 0x90 && b2 <= 0x95) return 3;  // U+2010..U+2015 hyphens and dashes
    if (b2 == 0xAF) return 3;                // U+202F narrow no-break space
  }
  if (byte(0) == 0xE2 && byte(1) == 0x81 && byte(2) == 0x9F) return 3;  // U+205F
  if (byte(0) == 0xE3 && byte(1) == 0x80 && byte(2) == 0x80) return 3;  // U+3000
  return 0;
}

// One (nickname, root) pair; a nickname with several roots has one entry per root, and a
// nickname that is also a name in its own right has an entry naming itself.
struct Nickname {
  std::string_view alias;
  std::string_view root;
};

constexpr bool nickname_less(const Nickname& x, const Nickname& y) {
  return x.alias != y.alias ? x.alias < y.alias : x.root < y.root;
}

// clang-format off
// Common UK/English given-name nicknames, diminutives and spelling variants, sorted by (alias,
// root). Kept deliberately conservative: a wrong entry makes strangers look alike, a missing one
// only leaves the pair to the string measures.
constexpr Nickname kNicknames[] = {
    {"abbie", "abigail"}, {"abby", "abigail"}, {"abe", "abraham"}, {"al", "alan"}, {"al", "albert"},
    {"al", "alexander"}, {"al", "alfred"}, {"alec", "alexander"}, {"alex", "alexander"},
    {"alex", "alexandra"}, {"alexa", "alexandra"}, {"alf", "alfred"}, {"alfie", "alfie"},
    {"alfie", "alfred"}, {"ali", "ali"}, {"ali", "alison"}, {"ali", "alistair"},
    {"alick", "alexander"}, {"allie", "alexandra"}, {"allie", "alison"}, {"ally", "alexandra"},
    {"ally", "alison"}, {"andy", "andrew"}, {"angie", "angela"}, {"ann", "ann"}, {"ann", "anne"},
    {"annie", "anne"}, {"antony", "anthony"}, {"antony", "antony"}, {"archie", "archibald"},
    {"archie", "archie"}, {"art", "arthur"}, {"artie", "arthur"}, {"babs", "barbara"},
    {"barb", "barbara"}, {"barbie", "barbara"}, {"barney", "barnabas"}, {"barney", "bernard"},
    {"bart", "bartholomew"}, {"baz", "barry"}, {"bazza", "barry"}, {"bea", "beatrice"},
    {"bec", "rebecca"}, {"becca", "rebecca"}, {"becky", "rebecca"}, {"ben", "benedict"},
    {"ben", "benjamin"}, {"benji", "benjamin"}, {"benny", "benjamin"}, {"bernie", "bernadette"},
    {"bernie", "bernard"}, {"bert", "albert"}, {"bert", "bertram"}, {"bert", "herbert"},
    {"bertie", "albert"}, {"bertie", "bertram"}, {"bertie", "herbert"}, {"bess", "elizabeth"},
    {"bessie", "elizabeth"}, {"beth", "bethany"}, {"beth", "elizabeth"}, {"betsy", "elizabeth"},
    {"bettie", "elizabeth"}, {"betty", "elizabeth"}, {"bex", "rebecca"}, {"biddy", "bridget"},
    {"bill", "william"}, {"billie", "billie"}, {"billie", "william"}, {"billy", "william"},
    {"bob", "robert"}, {"bobbie", "robert"}, {"bobbie", "roberta"}, {"bobby", "robert"},
    {"brad", "bradley"}, {"cal", "callum"}, {"cal", "calum"}, {"cal", "calvin"},
    {"callum", "callum"}, {"callum", "calum"}, {"carrie", "caroline"}, {"cass", "cassandra"},
    {"cassie", "cassandra"}, {"cath", "catherine"}, {"cathy", "catherine"}, {"caz", "carol"},
    {"caz", "caroline"}, {"charlie", "charles"}, {"charlie", "charlie"}, {"charlie", "charlotte"},
    {"chas", "charles"}, {"chaz", "charles"}, {"chris", "christina"}, {"chris", "christine"},
    {"chris", "christopher"}, {"chrissie", "christina"}, {"chrissie", "christine"},
    {"chrissy", "christina"}, {"chrissy", "christine"}, {"chuck", "charles"}, {"cindy", "cynthia"},
    {"cindy", "lucinda"}, {"clem", "clement"}, {"clem", "clementine"}, {"col", "colin"},
    {"connie", "constance"}, {"cyd", "sidney"}, {"dan", "daniel"}, {"dani", "daniel"},
    {"dani", "danielle"}, {"danny", "daniel"}, {"dave", "david"}, {"davey", "david"},
    {"davie", "david"}, {"davy", "david"}, {"daz", "darren"}, {"dazza", "darren"},
    {"deb", "deborah"}, {"debbie", "deborah"}, {"debby", "deborah"}, {"debra", "deborah"},
    {"debra", "debra"}, {"debs", "deborah"}, {"del", "derek"}, {"den", "dennis"},
    {"denny", "dennis"}, {"des", "desmond"}, {"di", "diana"}, {"di", "diane"}, {"dick", "richard"},
    {"dickie", "richard"}, {"dom", "dominic"}, {"don", "donald"}, {"donny", "donald"},
    {"dot", "dorothy"}, {"dottie", "dorothy"}, {"doug", "douglas"}, {"dougie", "douglas"},
    {"drew", "andrew"}, {"drew", "drew"}, {"ed", "edmund"}, {"ed", "edward"}, {"ed", "edwin"},
    {"eddie", "edmund"}, {"eddie", "edward"}, {"eddie", "edwin"}, {"eddy", "edmund"},
    {"eddy", "edward"}, {"eddy", "edwin"}, {"eliza", "elizabeth"}, {"ellie", "eleanor"},
    {"ellie", "ellie"}, {"elsie", "elizabeth"}, {"elsie", "elsie"}, {"em", "emily"}, {"em", "emma"},
    {"emmy", "emily"}, {"emmy", "emma"}, {"evie", "eve"}, {"evie", "evelyn"}, {"evie", "evie"},
    {"fanny", "frances"}, {"fi", "fiona"}, {"flo", "florence"}, {"flossie", "florence"},
    {"fran", "frances"}, {"fran", "francesca"}, {"fran", "francis"}, {"frank", "francis"},
    {"frank", "frank"}, {"frankie", "frances"}, {"frankie", "francis"}, {"frankie", "frank"},
    {"fred", "alfred"}, {"fred", "frederick"}, {"freddie", "freddie"}, {"freddie", "frederick"},
    {"freddy", "frederick"}, {"gabby", "gabriel"}, {"gabby", "gabriella"}, {"gabby", "gabrielle"},
    {"gaz", "gareth"}, {"gaz", "gary"}, {"gazza", "gareth"}, {"gazza", "gary"},
    {"geoff", "geoffrey"}, {"gerry", "gerald"}, {"gerry", "geraldine"}, {"gerry", "gerard"},
    {"gill", "gillian"}, {"gina", "georgina"}, {"gina", "regina"}, {"ginny", "virginia"},
    {"greg", "gregory"}, {"gus", "angus"}, {"gus", "augustus"}, {"gwen", "gwendolen"},
    {"hal", "harold"}, {"hal", "henry"}, {"hank", "henry"}, {"harry", "harold"}, {"harry", "harry"},
    {"harry", "henry"}, {"hattie", "harriet"}, {"herbie", "herbert"}, {"hetty", "henrietta"},
    {"hetty", "hester"}, {"isabelle", "isabel"}, {"isabelle", "isabelle"}, {"isobel", "isabel"},
    {"isobel", "isobel"}, {"issy", "isabel"}, {"issy", "isabella"}, {"izzie", "isabel"},
    {"izzie", "isabella"}, {"izzy", "isabel"}, {"izzy", "isabella"}, {"jack", "jack"},
    {"jack", "john"}, {"jackie", "jacqueline"}, {"jackie", "john"}, {"jake", "jacob"},
    {"jamie", "james"}, {"jamie", "jamie"}, {"jan", "janet"}, {"jan", "janice"}, {"janey", "jane"},
    {"janie", "jane"}, {"jeff", "geoffrey"}, {"jeff", "jeffrey"}, {"jem", "jemima"},
    {"jem", "jeremy"}, {"jen", "jennifer"}, {"jenny", "jennifer"}, {"jenny", "jenny"},
    {"jerry", "gerald"}, {"jerry", "jeremy"}, {"jerry", "jerome"}, {"jess", "jessica"},
    {"jessie", "jessica"}, {"jez", "jeremy"}, {"jill", "gillian"}, {"jill", "jill"},
    {"jim", "james"}, {"jimmy", "james"}, {"jo", "joanna"}, {"jo", "joanne"}, {"jo", "joseph"},
    {"jo", "josephine"}, {"joe", "joseph"}, {"joey", "joseph"}, {"johnny", "john"}, {"jon", "john"},
    {"jon", "jonathan"}, {"jonny", "john"}, {"jonny", "jonathan"}, {"josh", "joshua"},
    {"judy", "judith"}, {"jules", "julia"}, {"jules", "julian"}, {"jules", "juliet"},
    {"kate", "catherine"}, {"kath", "catherine"}, {"kath", "kathleen"}, {"katharine", "catherine"},
    {"katharine", "katharine"}, {"katherine", "catherine"}, {"katherine", "katherine"},
    {"kathryn", "catherine"}, {"kathryn", "kathryn"}, {"kathy", "catherine"}, {"kathy", "kathleen"},
    {"katie", "catherine"}, {"katy", "catherine"}, {"kay", "catherine"}, {"ken", "kenneth"},
    {"kenny", "kenneth"}, {"kev", "kevin"}, {"kit", "catherine"}, {"kit", "christopher"},
    {"kitty", "catherine"}, {"larry", "laurence"}, {"larry", "lawrence"}, {"laurie", "laura"},
    {"laurie", "laurence"}, {"laurie", "lawrence"}, {"len", "leonard"}, {"lenny", "leonard"},
    {"leo", "leo"}, {"leo", "leonard"}, {"les", "lesley"}, {"les", "leslie"}, {"lew", "lewis"},
    {"lexi", "alexandra"}, {"lexi", "alexis"}, {"lexie", "alexandra"}, {"lexie", "alexis"},
    {"liam", "liam"}, {"liam", "william"}, {"libby", "elizabeth"}, {"lil", "lillian"},
    {"lisa", "elizabeth"}, {"lisa", "lisa"}, {"liz", "elizabeth"}, {"liza", "elizabeth"},
    {"lizzie", "elizabeth"}, {"lizzy", "elizabeth"}, {"lottie", "charlotte"},
    {"lotty", "charlotte"}, {"lou", "louis"}, {"lou", "louise"}, {"louie", "louis"},
    {"maddie", "madeleine"}, {"maddie", "madison"}, {"maddy", "madeleine"}, {"maddy", "madison"},
    {"madge", "margaret"}, {"maggie", "margaret"}, {"mags", "margaret"}, {"maisie", "maisie"},
    {"maisie", "margaret"}, {"mandy", "amanda"}, {"marge", "margaret"}, {"marge", "marjorie"},
    {"margie", "margaret"}, {"margie", "marjorie"}, {"matt", "matthew"}, {"matty", "matthew"},
    {"max", "max"}, {"max", "maximilian"}, {"max", "maxwell"}, {"meg", "margaret"},
    {"meg", "megan"}, {"mel", "melanie"}, {"mel", "melissa"}, {"mel", "melvin"},
    {"mick", "michael"}, {"mickey", "michael"}, {"micky", "michael"}, {"mike", "michael"},
    {"mikey", "michael"}, {"millie", "amelia"}, {"millie", "millicent"}, {"millie", "millie"},
    {"milly", "amelia"}, {"milly", "millicent"}, {"mitch", "mitchell"}, {"mo", "maureen"},
    {"mo", "maurice"}, {"mo", "muhammad"}, {"mohamed", "mohamed"}, {"mohamed", "muhammad"},
    {"mohammad", "mohammad"}, {"mohammad", "muhammad"}, {"mohammed", "mohammed"},
    {"mohammed", "muhammad"}, {"molly", "mary"}, {"molly", "molly"}, {"muhammed", "muhammad"},
    {"muhammed", "muhammed"}, {"nan", "anne"}, {"nancy", "anne"}, {"nancy", "nancy"},
    {"nat", "natalie"}, {"nat", "nathan"}, {"nat", "nathaniel"}, {"ned", "edmund"},
    {"ned", "edward"}, {"nell", "eleanor"}, {"nell", "ellen"}, {"nell", "helen"},
    {"nellie", "eleanor"}, {"nellie", "ellen"}, {"nellie", "helen"}, {"nick", "nicholas"},
    {"nicky", "nicholas"}, {"nicky", "nicola"}, {"nige", "nigel"}, {"nikki", "nicola"},
    {"nikki", "nicole"}, {"norm", "norman"}, {"ollie", "oliver"}, {"ollie", "olivia"},
    {"olly", "oliver"}, {"olly", "olivia"}, {"paddy", "patrick"}, {"pam", "pamela"},
    {"pat", "patricia"}, {"pat", "patrick"}, {"patsy", "patricia"}, {"patty", "patricia"},
    {"peg", "margaret"}, {"peggy", "margaret"}, {"pete", "peter"}, {"phil", "philip"},
    {"phillip", "philip"}, {"phillip", "phillip"}, {"pip", "philip"}, {"pip", "philippa"},
    {"polly", "mary"}, {"polly", "polly"}, {"rach", "rachel"}, {"ray", "raymond"},
    {"reg", "reginald"}, {"reggie", "reginald"}, {"rich", "richard"}, {"richie", "richard"},
    {"rick", "frederick"}, {"rick", "richard"}, {"ricky", "frederick"}, {"ricky", "richard"},
    {"rob", "robert"}, {"robbie", "robert"}, {"robby", "robert"}, {"rod", "roderick"},
    {"rod", "rodney"}, {"ron", "ronald"}, {"ronnie", "ronald"}, {"ronnie", "veronica"},
    {"ros", "rosalind"}, {"ros", "rosamund"}, {"rosie", "rose"}, {"rosie", "rosemary"},
    {"rosie", "rosie"}, {"roxy", "roxanne"}, {"russ", "russell"}, {"sadie", "sarah"},
    {"sal", "sarah"}, {"sally", "sally"}, {"sally", "sarah"}, {"sam", "samantha"},
    {"sam", "samuel"}, {"sammy", "samantha"}, {"sammy", "samuel"}, {"sandy", "alexander"},
    {"sandy", "alexandra"}, {"sandy", "sandra"}, {"sara", "sara"}, {"sara", "sarah"},
    {"seb", "sebastian"}, {"shaz", "sharon"}, {"si", "simon"}, {"sid", "sidney"},
    {"stan", "stanley"}, {"steph", "stephanie"}, {"steve", "stephen"}, {"steve", "steven"},
    {"stevie", "stephen"}, {"stevie", "steven"}, {"stu", "stewart"}, {"stu", "stuart"},
    {"sue", "susan"}, {"susie", "susan"}, {"suzie", "susan"}, {"suzy", "susan"}, {"ted", "edward"},
    {"ted", "theodore"}, {"teddy", "edward"}, {"teddy", "theodore"}, {"terry", "terence"},
    {"terry", "terry"}, {"tess", "teresa"}, {"tessa", "teresa"}, {"tessa", "tessa"},
    {"theo", "theodore"}, {"theresa", "teresa"}, {"theresa", "theresa"}, {"tilly", "matilda"},
    {"tilly", "tilly"}, {"tim", "timothy"}, {"timmy", "timothy"}, {"toby", "tobias"},
    {"toby", "toby"}, {"tom", "thomas"}, {"tommy", "thomas"}, {"tony", "anthony"},
    {"tracey", "tracey"}, {"tracey", "tracy"}, {"trev", "trevor"}, {"tricia", "patricia"},
    {"trish", "patricia"}, {"val", "valerie"}, {"vic", "victor"}, {"vic", "victoria"},
    {"vicki", "victoria"}, {"vickie", "victoria"}, {"vicky", "victoria"}, {"vikki", "victoria"},
    {"vince", "vincent"}, {"vinny", "vincent"}, {"wally", "wallace"}, {"wally", "walter"},
    {"walt", "walter"}, {"will", "william"}, {"willie", "william"}, {"wills", "william"},
    {"willy", "william"}, {"winnie", "winifred"}, {"zach", "zachary"}, {"zack", "zachary"},
};
// clang-format on

constexpr std::span<const Nickname> kTable(kNicknames);

constexpr std::span<const Nickname> entries_for(std::string_view token) {
  const Nickname* end = std::end(kNicknames);
  const Nickname* first =
      std::lower_bound(std::begin(kNicknames), end, token,
                       [](const Nickname& n, std::string_view t) { return n.alias < t; });
  const Nickname* last = first;
  while (last != end && last->alias == token) ++last;
  return {first, last};
}

// The table must be sorted and free of duplicates (binary search relies on it), and every root
// that is also listed as a nickname must list itself, so that a root's own roots include it and
// nickname_match(nick, root) holds for every entry.
constexpr bool table_is_consistent() {
  for (size_t i = 1; i < kTable.size(); ++i) {
    if (!nickname_less(kTable[i - 1], kTable[i])) return false;
  }
  for (const Nickname& n : kTable) {
    if (n.alias.empty() || n.root.empty()) return false;
    const auto own = entries_for(n.root);
    if (own.empty()) continue;
    if (std::none_of(own.begin(), own.end(), [&](const Nickname& e) { return e.root == n.root; })) {
      return false;
    }
  }
  return true;
}
static_assert(table_is_consistent());
static_assert(kTable.size() >= 200);

// The roots of a token without allocating: the table entries, or the token itself.
class Roots {
 public:
  explicit Roots(std::string_view token) : entries_(entries_for(token)), self_(token) {}
  size_t size() const { return entries_.empty() ? 1 : entries_.size(); }
  std::string_view operator[](size_t i) const {
    return entries_.empty() ? self_ : entries_[i].root;
  }

 private:
  std::span<const Nickname> entries_;
  std::string_view self_;
};

// Writes v as `width` decimal digits (keeping the low ones), for the one-edit date check.
void put_digits(long long v, int width, char* out) {
  if (v < 0) v = -v;
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

bool one_edit_apart(const std::array<char, 8>& x, const std::array<char, 8>& y) {
  int first = -1, count = 0;
  for (int i = 0; i < 8; ++i) {
    if (x[i] != y[i]) {
      if (count == 0) first = i;
      ++count;
    }
  }
  if (count == 1) return true;
  // Two differences are one slip only when they are neighbours holding each other's digit.
  return count == 2 && first < 7 && x[first] == y[first + 1] && x[first + 1] == y[first];
}

std::array<char, 8> date_digits(const Ymd& d) {
  std::array<char, 8> out{};
  put_digits(d.y, 4, out.data());
  put_digits(d.m, 2, out.data() + 4);
  put_digits(d.d, 2, out.data() + 6);
  return out;
}

// Days since 1970-01-01, or nullopt for a value that is not a date (such as the all-zero Ymd
// that stands for an unknown date of birth), for which chrono's count would be unspecified.
std::optional<long long> day_number(const Ymd& d) {
  using namespace std::chrono;
  if (d.y < 1 || d.y > 9999 || d.m < 1 || d.m > 12 || d.d < 1 || d.d > 31) return std::nullopt;
  const year_month_day ymd{year{d.y}, month{static_cast<unsigned>(d.m)},
                           day{static_cast<unsigned>(d.d)}};
  if (!ymd.ok()) return std::nullopt;
  return sys_days{ymd}.time_since_epoch().count();
}

}  // namespace

double jaro(std::string_view a, std::string_view b) {
  if (a.empty() && b.empty()) return 1.0;
  if (a.empty() || b.empty()) return 0.0;
  return jaro_impl(a, b);
}

double jaro_winkler(std::string_view a, std::string_view b, double p) {
  if (!(p > 0.0)) p = 0.0;  // also catches NaN
  p = std::min(p, 0.25);
  const double j = jaro(a, b);
  size_t prefix = 0;
  while (prefix < 4 && prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix]) ++prefix;
  return j + static_cast<double>(prefix) * p * (1.0 - j);
}

int osa_distance(std::string_view a, std::string_view b) {
  if (a.size() < b.size()) std::swap(a, b);  // rows as long as the shorter string
  if (b.empty()) return static_cast<int>(a.size());
  const size_t row = b.size() + 1;
  if (row <= kStackBytes + 1) {
    std::array<int, kStackBytes + 1> r0, r1, r2;
    return osa_impl(a, b, r0.data(), r1.data(), r2.data());
  }
  auto rows = std::make_unique<int[]>(3 * row);
  return osa_impl(a, b, rows.get(), rows.get() + row, rows.get() + 2 * row);
}

std::string soundex(std::string_view name) {
  std::string folded;
  if (std::any_of(name.begin(), name.end(), [](char c) { return c & 0x80; })) {
    folded = mash::normalise_name(name);
    name = folded;
  }
  std::string out;
  char last = 0;
  for (char c : name) {
    c = ascii_lower(c);
    const char code = soundex_code(c);
    if (code == 0) continue;  // not a letter
    if (out.empty()) {
      out.reserve(4);
      out += ascii_upper(c);
      last = code == 'h' ? '0' : code;
      continue;
    }
    if (code == 'h') continue;  // H and W: the codes either side still merge
    if (code != '0' && code != last) {
      out += code;
      if (out.size() == 4) break;
    }
    last = code;
  }
  if (!out.empty()) out.resize(4, '0');
  return out;
}

std::vector<std::string> name_tokens(std::string_view name) {
  std::vector<std::string> out;
  size_t start = 0, i = 0;
  auto flush = [&](size_t end) {
    if (end > start) {
      std::string token = mash::normalise_name(name.substr(start, end - start));
      if (!token.empty()) out.push_back(std::move(token));
    }
  };
  while (i < name.size()) {
    const size_t sep = separator_length(name.substr(i));
    if (sep == 0) {
      ++i;
      continue;
    }
    flush(i);
    i += sep;
    start = i;
  }
  flush(name.size());
  return out;
}

std::vector<std::string_view> forename_roots(std::string_view token) {
  const Roots roots(token);
  std::vector<std::string_view> out;
  out.reserve(roots.size());
  for (size_t i = 0; i < roots.size(); ++i) out.push_back(roots[i]);
  return out;
}

std::string_view forename_root(std::string_view token) { return Roots(token)[0]; }

bool nickname_match(std::string_view a, std::string_view b) {
  if (a == b) return true;
  const Roots ra(a), rb(b);
  // Both lists are sorted: walk them together looking for a common root.
  size_t i = 0, j = 0;
  while (i < ra.size() && j < rb.size()) {
    const std::string_view x = ra[i], y = rb[j];
    if (x == y) return true;
    if (x < y) {
      ++i;
    } else {
      ++j;
    }
  }
  return false;
}

std::optional<Postcode> parse_uk_postcode(std::string_view text) {
  // At most 7 characters once spaces are gone; anything longer is refused without copying it.
  std::array<char, 7> buf{};
  size_t n = 0;
  for (char c : text) {
    if (is_ascii_space(c)) continue;
    const char u = ascii_upper(c);
    if (!is_ascii_upper(u) && !is_ascii_digit(u)) return std::nullopt;
    if (n == buf.size()) return std::nullopt;
    buf[n++] = u;
  }
  if (n < 5) return std::nullopt;
  const std::string_view compact(buf.data(), n);
  const std::string_view outward = compact.substr(0, n - 3);
  const std::string_view inward = compact.substr(n - 3);

  // The shape of the outward code, letters as 'A' and digits as '9'.
  std::array<char, 4> shape_buf{};
  for (size_t i = 0; i < outward.size(); ++i) {
    shape_buf[i] = is_ascii_digit(outward[i]) ? '9' : 'A';
  }
  const std::string_view shape(shape_buf.data(), outward.size());
  const bool girobank = compact == "GIR0AA";  // the one postcode outside the six formats
  const bool outward_ok = shape == "A9" || shape == "A99" || shape == "AA9" || shape == "AA99" ||
                          shape == "A9A" || shape == "AA9A";
  const bool inward_ok =
      is_ascii_digit(inward[0]) && is_ascii_upper(inward[1]) && is_ascii_upper(inward[2]);
  if (!girobank && !(outward_ok && inward_ok)) return std::nullopt;

  Postcode pc;
  pc.district = std::string(outward);
  pc.full = pc.district + ' ' + std::string(inward);
  pc.sector = pc.district + ' ' + inward[0];
  const size_t letters =
      std::find_if(outward.begin(), outward.end(), is_ascii_digit) - outward.begin();
  pc.area = std::string(outward.substr(0, letters));
  return pc;
}

std::optional<Ymd> parse_ymd(std::string_view iso) {
  if (!mash::valid_iso_date(iso)) return std::nullopt;
  const auto number = [&](size_t pos, size_t len) {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) v = v * 10 + (iso[i] - '0');
    return v;
  };
  return Ymd{number(0, 4), number(5, 2), number(8, 2)};
}

DateLevel compare_dates(const Ymd& a, const Ymd& b) {
  if (a == b) return DateLevel::kExact;
  // a != b, so day == month cannot reach here as a swap of itself.
  if (a.y == b.y && a.d == b.m && a.m == b.d) return DateLevel::kDayMonthSwap;
  if (one_edit_apart(date_digits(a), date_digits(b))) return DateLevel::kOneEdit;
  const auto da = day_number(a), db = day_number(b);
  if (da && db && std::llabs(*da - *db) <= 31) return DateLevel::kNear;
  if (a.m == b.m && a.d == b.d &&
      std::llabs(static_cast<long long>(a.y) - static_cast<long long>(b.y)) == 1) {
    return DateLevel::kNear;
  }
  return DateLevel::kDifferent;
}

}  // namespace mash::agent::text
