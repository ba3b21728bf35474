// The error of a parser of untrusted text. The parsers in this directory depend on neither
// PostgreSQL nor V8, so they can be unit-tested and fuzzed standalone; their PostgreSQL-side
// callers turn a ParseError into a PgError with the SQLSTATE of the context.
#pragma once

#include <exception>
#include <string>
#include <utility>

namespace plts {

class ParseError : public std::exception {
 public:
  explicit ParseError(std::string message, std::string hint = {})
      : message_(std::move(message)), hint_(std::move(hint)) {}

  const char* what() const noexcept override { return message_.c_str(); }
  const std::string& message() const { return message_; }
  const std::string& hint() const { return hint_; }

 private:
  std::string message_, hint_;
};

}  // namespace plts
