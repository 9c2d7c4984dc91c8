// A streaming CSV reader for agency extracts (RFC 4180 quoting, LF or CRLF, UTF-8), with hard
// limits, because the files come from outside: a record of at most `max_record_bytes` (a quoted
// field may span lines), at most `max_columns` columns. Errors name the line the record starts
// on. See agent/DATA.md for the rules the agency is told.
#pragma once

#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "result.h"

namespace mash::agent {

struct CsvLimits {
  size_t max_record_bytes = 64 * 1024;
  size_t max_columns = 64;
  size_t max_rows = 20'000'000;
};

class CsvReader {
 public:
  static Result<CsvReader> open(const std::filesystem::path& path, CsvLimits limits = {});
  CsvReader(CsvReader&&) noexcept;
  CsvReader& operator=(CsvReader&&) noexcept;
  ~CsvReader();

  enum class Next { kRecord, kEnd, kBadRecord };
  // Reads the next record into `fields`. kBadRecord: this record is malformed (bad UTF-8, an
  // unterminated or misplaced quote) and was skipped; error() says why and reading can go on.
  // A broken limit is an error Result: the file cannot be read further.
  Result<Next> next(std::vector<std::string>& fields);
  // The line the last record started on (1-based), for messages.
  size_t line() const { return record_line_; }
  const std::string& error() const { return error_; }
  size_t rows() const { return rows_; }

 private:
  CsvReader() = default;
  int get();
  void unget(int c);

  std::FILE* file_ = nullptr;
  std::unique_ptr<char[]> buffer_;
  size_t pos_ = 0, len_ = 0;
  int pushed_ = -1;
  CsvLimits limits_;
  size_t line_ = 1, record_line_ = 0, rows_ = 0;
  bool first_ = true;
  std::string error_, path_;
};

// True if `s` is well-formed UTF-8 without NUL or other C0 control characters (tab, CR and LF,
// which a quoted field may hold, are allowed).
bool valid_text(std::string_view s);

}  // namespace mash::agent
