#include "log.h"

#include "clock.h"

#include <ostream>

namespace mash {
namespace {

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarn: return "WARN";
    case LogLevel::kError: return "ERROR";
  }
  return "?";
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}

void append_value(std::string& out, std::string_view v) {
  if (!needs_quotes(v)) {
    out += v;
    return;
  }
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += '?';
    } else {
      out += c;
    }
  }
  out += '"';
}

void append_json_string(std::string& out, std::string_view v) {
  static const char* kHex = "0123456789abcdef";
  out += '"';
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;  // UTF-8 passes through
    }
  }
  out += '"';
}

}  // namespace

bool parse_log_format(std::string_view text, LogFormat* out) {
  if (text == "text") *out = LogFormat::kText;
  else if (text == "json") *out = LogFormat::kJson;
  else return false;
  return true;
}

std::string format_log_json(std::string_view timestamp, LogLevel level, std::string_view component,
                            std::string_view event, std::initializer_list<LogField> fields) {
  std::string line = "{\"time\":";
  line.reserve(128);
  append_json_string(line, timestamp);
  std::string lv = level_name(level);
  for (auto& c : lv) c = static_cast<char>(c - 'A' + 'a');
  line += ",\"level\":";
  append_json_string(line, lv);
  line += ",\"component\":";
  append_json_string(line, component);
  line += ",\"event\":";
  append_json_string(line, event);
  for (const auto& f : fields) {
    if (f.key == "time" || f.key == "level" || f.key == "component" || f.key == "event") continue;
    line += ',';
    append_json_string(line, f.key);
    line += ':';
    append_json_string(line, f.value);
  }
  line += '}';
  return line;
}

bool parse_log_level(std::string_view text, LogLevel* out) {
  if (text == "debug") *out = LogLevel::kDebug;
  else if (text == "info") *out = LogLevel::kInfo;
  else if (text == "warn") *out = LogLevel::kWarn;
  else if (text == "error") *out = LogLevel::kError;
  else return false;
  return true;
}

std::string format_log_line(std::string_view timestamp, LogLevel level, std::string_view component,
                            std::string_view event, std::initializer_list<LogField> fields) {
  std::string line;
  line.reserve(96);
  line += timestamp;
  line += ' ';
  line += level_name(level);
  line += ' ';
  line += component;
  line += ' ';
  line += event;
  for (const auto& f : fields) {
    line += ' ';
    line += f.key;
    line += '=';
    append_value(line, f.value);
  }
  return line;
}

Logger::Logger(std::ostream& out, LogLevel min_level, std::string component, LogFormat format)
    : sink_(std::make_shared<Sink>()), min_level_(min_level), component_(std::move(component)) {
  sink_->out = &out;
  sink_->format = format;
}

Logger::Logger(std::shared_ptr<Sink> sink, LogLevel min_level, std::string component)
    : sink_(std::move(sink)), min_level_(min_level), component_(std::move(component)) {}

Logger Logger::child(std::string_view name) const {
  return Logger(sink_, min_level_, component_ + "." + std::string(name));
}

void Logger::log(LogLevel level, std::string_view event,
                 std::initializer_list<LogField> fields) const {
  if (level < min_level_) return;
  std::string line = sink_->format == LogFormat::kJson
                         ? format_log_json(iso_time(unix_millis_now()), level, component_, event, fields)
                         : format_log_line(iso_time(unix_millis_now()), level, component_, event, fields);
  line += '\n';
  std::lock_guard lock(sink_->mutex);
  sink_->out->write(line.data(), static_cast<std::streamsize>(line.size()));
  sink_->out->flush();
}

}  // namespace mash
