#include "csv.h"

#include <cerrno>
#include <cstring>

namespace mash::agent {

namespace {
constexpr size_t kBufferSize = 1 << 20;
}

bool valid_text(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
      if (c == 0x7f) return false;
      ++i;
      continue;
    }
    size_t n = 0;
    uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

Result<CsvReader> CsvReader::open(const std::filesystem::path& path, CsvLimits limits) {
  CsvReader r;
  r.file_ = std::fopen(path.c_str(), "rb");
  if (r.file_ == nullptr) {
    return make_error(ErrorCode::kNotFound,
                      path.string() + ": cannot open: " + std::strerror(errno));
  }
  r.buffer_ = std::make_unique<char[]>(kBufferSize);
  r.limits_ = limits;
  r.path_ = path.string();
  return r;
}

CsvReader::CsvReader(CsvReader&& o) noexcept { *this = std::move(o); }

CsvReader& CsvReader::operator=(CsvReader&& o) noexcept {
  if (this != &o) {
    if (file_ != nullptr) std::fclose(file_);
    file_ = o.file_;
    o.file_ = nullptr;
    buffer_ = std::move(o.buffer_);
    pos_ = o.pos_;
    len_ = o.len_;
    pushed_ = o.pushed_;
    limits_ = o.limits_;
    line_ = o.line_;
    record_line_ = o.record_line_;
    rows_ = o.rows_;
    first_ = o.first_;
    error_ = std::move(o.error_);
    path_ = std::move(o.path_);
  }
  return *this;
}

CsvReader::~CsvReader() {
  if (file_ != nullptr) std::fclose(file_);
}

int CsvReader::get() {
  if (pushed_ >= 0) {
    int c = pushed_;
    pushed_ = -1;
    return c;
  }
  if (pos_ == len_) {
    len_ = std::fread(buffer_.get(), 1, kBufferSize, file_);
    pos_ = 0;
    if (len_ == 0) return EOF;
  }
  return static_cast<unsigned char>(buffer_[pos_++]);
}

void CsvReader::unget(int c) { pushed_ = c; }

Result<CsvReader::Next> CsvReader::next(std::vector<std::string>& fields) {
  if (first_) {
    first_ = false;
    int a = get();
    if (a == 0xef) {
      int b = get(), c = get();
      if (b != 0xbb || c != 0xbf) {
        return make_error(ErrorCode::kInvalidArgument,
                          path_ + ":1: starts with a broken byte-order mark (not UTF-8?)");
      }
    } else if (a != EOF) {
      unget(a);
    }
  }
  for (;;) {
    fields.clear();
    error_.clear();
    record_line_ = line_;
    size_t bytes = 0;
    std::string field;
    enum class State { kStart, kUnquoted, kQuoted, kQuoteInQuoted } state = State::kStart;
    bool bad = false;
    bool any = false;
    int c;
    for (;;) {
      c = get();
      if (c == EOF) break;
      any = true;
      if (++bytes > limits_.max_record_bytes) {
        return make_error(ErrorCode::kInvalidArgument,
                          path_ + ":" + std::to_string(record_line_) + ": a record longer than " +
                              std::to_string(limits_.max_record_bytes) +
                              " bytes (limit); the file is refused");
      }
      if (c == '\n') ++line_;
      if (state == State::kQuoted) {
        if (c == '"') {
          state = State::kQuoteInQuoted;
        } else {
          field.push_back(static_cast<char>(c));
        }
        continue;
      }
      if (state == State::kQuoteInQuoted) {
        if (c == '"') {
          field.push_back('"');
          state = State::kQuoted;
          continue;
        }
        state = State::kUnquoted;
        if (c != ',' && c != '\n' && c != '\r') {
          bad = true;
          if (error_.empty()) error_ = "text after a closing quote";
          continue;
        }
      }
      if (c == ',') {
        fields.push_back(std::move(field));
        field.clear();
        state = State::kStart;
        if (fields.size() >= limits_.max_columns) {
          return make_error(ErrorCode::kInvalidArgument,
                            path_ + ":" + std::to_string(record_line_) + ": more than " +
                                std::to_string(limits_.max_columns) +
                                " columns (limit); the file is refused");
        }
        continue;
      }
      if (c == '\r') {
        int d = get();
        if (d == '\n') {
          ++line_;
          break;
        }
        if (d != EOF) unget(d);
        field.push_back('\r');  // a lone CR is data
        continue;
      }
      if (c == '\n') break;
      if (c == '"') {
        if (state == State::kStart) {
          state = State::kQuoted;
          continue;
        }
        bad = true;
        if (error_.empty()) error_ = "a quote inside an unquoted field";
      }
      if (state == State::kStart) state = State::kUnquoted;
      field.push_back(static_cast<char>(c));
    }
    if (c == EOF && !any) return Next::kEnd;
    if (state == State::kQuoted) {
      bad = true;
      error_ = "a quoted field is not closed before the end of the file";
    }
    fields.push_back(std::move(field));
    if (fields.size() == 1 && fields[0].empty() && !bad) {
      if (c == EOF) return Next::kEnd;
      continue;  // a blank line
    }
    if (++rows_ > limits_.max_rows) {
      return make_error(ErrorCode::kInvalidArgument,
                        path_ + ": more than " + std::to_string(limits_.max_rows) +
                            " rows (limit); the file is refused");
    }
    if (!bad) {
      for (const auto& f : fields) {
        if (!valid_text(f)) {
          bad = true;
          error_ = "not valid UTF-8 text (or holds control characters)";
          break;
        }
      }
    }
    return bad ? Next::kBadRecord : Next::kRecord;
  }
}

}  // namespace mash::agent
