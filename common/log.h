// Structured log lines for operators: one event per line, as text (the default)
//   2026-11-22T02:30:00.123Z INFO broker agent-connected agency=police peer=127.0.0.1:51234
// or as JSON (`[log] format = "json"`, for log collectors), every value a string:
//   {"time":"2026-11-22T02:30:00.123Z","level":"info","component":"broker","event":"agent-connected","agency":"police",...}
// Values are quoted when they contain spaces or quotes. Never pass personal data (names, dates of
// birth, identifiers, free text from users) to a logger: log ids, counts and codes instead.
//
// A Logger is built in main() and passed to whatever needs it; it is safe to share across threads.
#pragma once

#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace mash {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Parses "debug", "info", "warn", "error"; returns false for anything else.
bool parse_log_level(std::string_view text, LogLevel* out);

enum class LogFormat { kText, kJson };
// Parses "text", "json"; returns false for anything else.
bool parse_log_format(std::string_view text, LogFormat* out);

struct LogField {
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(v) {}
  LogField(std::string_view k, const char* v) : key(k), value(v) {}
  template <typename N, typename = std::enable_if_t<std::is_arithmetic_v<N>>>
  LogField(std::string_view k, N v) : key(k), owned(std::to_string(v)), value(owned) {}
  LogField(const LogField& o) : key(o.key), owned(o.owned), value(o.owned.empty() ? o.value : owned) {}

  std::string_view key;
  std::string owned;
  std::string_view value;
};

class Logger {
 public:
  // Writes to `out` (not owned; must outlive the logger), dropping lines below `min_level`.
  Logger(std::ostream& out, LogLevel min_level, std::string component, LogFormat format = LogFormat::kText);

  // A logger for a sub-component sharing the same output, e.g. "broker.link".
  Logger child(std::string_view name) const;

  void log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields = {}) const;
  void debug(std::string_view e, std::initializer_list<LogField> f = {}) const { log(LogLevel::kDebug, e, f); }
  void info(std::string_view e, std::initializer_list<LogField> f = {}) const { log(LogLevel::kInfo, e, f); }
  void warn(std::string_view e, std::initializer_list<LogField> f = {}) const { log(LogLevel::kWarn, e, f); }
  void error(std::string_view e, std::initializer_list<LogField> f = {}) const { log(LogLevel::kError, e, f); }

 private:
  struct Sink {
    std::ostream* out;
    LogFormat format = LogFormat::kText;
    std::mutex mutex;
  };
  Logger(std::shared_ptr<Sink> sink, LogLevel min_level, std::string component);

  std::shared_ptr<Sink> sink_;
  LogLevel min_level_;
  std::string component_;
};

// Formats one log line (without the newline); exposed for tests.
std::string format_log_line(std::string_view timestamp, LogLevel level, std::string_view component,
                            std::string_view event, std::initializer_list<LogField> fields);
std::string format_log_json(std::string_view timestamp, LogLevel level, std::string_view component,
                            std::string_view event, std::initializer_list<LogField> fields);

}  // namespace mash
