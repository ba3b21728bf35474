#include "cli/import_scan.h"

#include <algorithm>
#include <cstdint>
#include <set>

#include "common/utf8.h"

namespace stopgap::cli {
namespace {

struct Token {
  enum Kind { kWord, kString, kPunct, kTemplate, kRegex } kind;
  std::string text;  // a string's decoded value; a punctuator's character(s)
};

bool is_word_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '$' || c >= 0x80;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads `count` hex digits at s[i...]; -1 when they are not all hex digits.
long read_hex(const std::string& s, std::size_t i, std::size_t count) {
  long v = 0;
  for (std::size_t k = 0; k < count; k++) {
    if (i + k >= s.size() || hex_value(s[i + k]) < 0) return -1;
    v = v * 16 + hex_value(s[i + k]);
  }
  return v;
}

class Tokenizer {
 public:
  explicit Tokenizer(const std::string& s) : s_(s) {}

  std::vector<Token> run() {
    if (s_.compare(0, 2, "#!") == 0)
      i_ = s_.find('\n') == std::string::npos ? s_.size() : s_.find('\n');
    while (i_ < s_.size()) step();
    return std::move(tokens_);
  }

 private:
  void step() {
    char c = s_[i_];
    char next = i_ + 1 < s_.size() ? s_[i_ + 1] : '\0';
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      i_++;
    } else if (c == '/' && next == '/') {
      auto eol = s_.find('\n', i_);
      i_ = eol == std::string::npos ? s_.size() : eol;
    } else if (c == '/' && next == '*') {
      auto end = s_.find("*/", i_ + 2);
      i_ = end == std::string::npos ? s_.size() : end + 2;
    } else if (c == '"' || c == '\'') {
      string_literal(c);
    } else if (c == '`') {
      i_++;
      template_part();
    } else if (c == '/' && regex_allowed()) {
      regex_literal();
    } else if (is_word_char(static_cast<unsigned char>(c))) {
      std::size_t start = i_;
      while (i_ < s_.size() && is_word_char(static_cast<unsigned char>(s_[i_]))) i_++;
      tokens_.push_back({Token::kWord, s_.substr(start, i_ - start)});
    } else if (c == '{') {
      depth_++;
      punct("{");
    } else if (c == '}') {
      if (!templates_.empty() && templates_.back() == depth_) {
        templates_.pop_back();  // the end of a ${...} substitution: back inside the template
        i_++;
        template_part();
      } else {
        depth_--;
        punct("}");
      }
    } else {
      punct(std::string(1, c));
    }
  }

  void punct(const std::string& p) {
    tokens_.push_back({Token::kPunct, p});
    i_ += p.size();
  }

  // A '/' starts a regular expression where an expression may start: not after a value.
  bool regex_allowed() const {
    static const std::set<std::string> kBeforeExpression = {
        "return", "typeof", "instanceof", "in",   "of",    "new",   "delete", "void",
        "throw",  "case",   "do",         "else", "yield", "await", "extends"};
    if (tokens_.empty()) return true;
    const Token& t = tokens_.back();
    switch (t.kind) {
      case Token::kWord:
        return kBeforeExpression.count(t.text) > 0;
      case Token::kPunct:
        return t.text != ")" && t.text != "]" && t.text != "}";
      default:
        return false;
    }
  }

  void string_literal(char quote) {
    std::string value;
    i_++;
    while (i_ < s_.size() && s_[i_] != quote && s_[i_] != '\n') {
      if (s_[i_] == '\\' && i_ + 1 < s_.size()) {
        i_ += escape(value);
      } else {
        value += s_[i_++];
      }
    }
    if (i_ < s_.size() && s_[i_] == quote) i_++;
    tokens_.push_back({Token::kString, value});
  }

  // Decodes the escape at s_[i_] ('\\') into value; returns its length.
  std::size_t escape(std::string& value) {
    char e = s_[i_ + 1];
    switch (e) {
      case 'n':
        value += '\n';
        return 2;
      case 't':
        value += '\t';
        return 2;
      case 'r':
        value += '\r';
        return 2;
      case 'b':
        value += '\b';
        return 2;
      case 'f':
        value += '\f';
        return 2;
      case 'v':
        value += '\v';
        return 2;
      case '0':
        value += '\0';
        return 2;
      case '\r':
        return i_ + 2 < s_.size() && s_[i_ + 2] == '\n' ? 3 : 2;  // line continuation
      case '\n':
        return 2;
      case 'x': {
        long v = read_hex(s_, i_ + 2, 2);
        if (v < 0) break;
        pgx::append_utf8(value, static_cast<std::uint32_t>(v));
        return 4;
      }
      case 'u': {
        if (i_ + 2 < s_.size() && s_[i_ + 2] == '{') {
          auto close = s_.find('}', i_ + 3);
          if (close == std::string::npos || close - (i_ + 3) > 6) break;
          long v = read_hex(s_, i_ + 3, close - (i_ + 3));
          if (v < 0 || v > 0x10FFFF) break;
          pgx::append_utf8(value, static_cast<std::uint32_t>(v));
          return close + 1 - i_;
        }
        long v = read_hex(s_, i_ + 2, 4);
        if (v < 0) break;
        pgx::append_utf8(value, static_cast<std::uint32_t>(v));
        return 6;
      }
      default:
        break;
    }
    value += e;
    return 2;
  }

  // Template text up to its closing '`' (a kTemplate token) or to a "${" (a "${" punctuator; the
  // matching '}' resumes the template).
  void template_part() {
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == '\\') {
        i_ += 2;
      } else if (c == '`') {
        i_++;
        tokens_.push_back({Token::kTemplate, ""});
        return;
      } else if (c == '$' && i_ + 1 < s_.size() && s_[i_ + 1] == '{') {
        templates_.push_back(depth_);
        punct("${");
        return;
      } else {
        i_++;
      }
    }
    tokens_.push_back({Token::kTemplate, ""});
  }

  void regex_literal() {
    bool in_class = false;
    i_++;
    while (i_ < s_.size() && s_[i_] != '\n') {
      char c = s_[i_];
      if (c == '\\') {
        i_ += 2;
        continue;
      }
      i_++;
      if (c == '[')
        in_class = true;
      else if (c == ']')
        in_class = false;
      else if (c == '/' && !in_class)
        break;
    }
    while (i_ < s_.size() && is_word_char(static_cast<unsigned char>(s_[i_]))) i_++;  // flags
    tokens_.push_back({Token::kRegex, ""});
  }

  const std::string& s_;
  std::size_t i_ = 0;
  int depth_ = 0;               // open '{' in code
  std::vector<int> templates_;  // depth_ at each open ${ substitution
  std::vector<Token> tokens_;
};

bool is(const std::vector<Token>& t, std::size_t k, Token::Kind kind, const char* text = nullptr) {
  return k < t.size() && t[k].kind == kind && (text == nullptr || t[k].text == text);
}

// From t[k] on, the clause of an import/export statement up to `from "x"`: words, ',', '*' and
// braced lists. Returns the index of the specifier's string token, or 0 when there is none.
std::size_t find_from(const std::vector<Token>& t, std::size_t k) {
  for (; k < t.size(); k++) {
    if (is(t, k, Token::kWord, "from") && is(t, k + 1, Token::kString)) return k + 1;
    if (is(t, k, Token::kPunct, "{")) {
      while (k < t.size() && !is(t, k, Token::kPunct, "}")) {
        if (t[k].kind == Token::kPunct && t[k].text != "{" && t[k].text != ",") return 0;
        k++;
      }
      continue;
    }
    if (t[k].kind == Token::kWord && t[k].text != "import" && t[k].text != "export") continue;
    if (is(t, k, Token::kPunct, ",") || is(t, k, Token::kPunct, "*")) continue;
    return 0;
  }
  return 0;
}

}  // namespace

std::vector<std::string> scan_imports(const std::string& source) {
  auto t = Tokenizer(source).run();
  std::vector<std::string> found;
  auto add = [&](const std::string& spec) {
    if (std::find(found.begin(), found.end(), spec) == found.end()) found.push_back(spec);
  };
  for (std::size_t k = 0; k < t.size(); k++) {
    if (t[k].kind != Token::kWord || (k > 0 && is(t, k - 1, Token::kPunct, "."))) continue;
    if (t[k].text == "import") {
      if (is(t, k + 1, Token::kPunct, "(")) {  // import("x") or import("x", options)
        if (is(t, k + 2, Token::kString) &&
            (is(t, k + 3, Token::kPunct, ")") || is(t, k + 3, Token::kPunct, ",")))
          add(t[k + 2].text);
      } else if (is(t, k + 1, Token::kString)) {
        add(t[k + 1].text);
      } else if (is(t, k + 1, Token::kWord)) {
        // `import type X from`, `import type {..} from`, `import type * as` are type-only;
        // `import type from "x"` binds a default export named "type".
        bool type_only = t[k + 1].text == "type" &&
                         (is(t, k + 2, Token::kPunct, "{") || is(t, k + 2, Token::kPunct, "*") ||
                          (is(t, k + 2, Token::kWord) && t[k + 2].text != "from"));
        std::size_t at = find_from(t, k + 1);
        if (at && !type_only) add(t[at].text);
      } else if (is(t, k + 1, Token::kPunct, "{") || is(t, k + 1, Token::kPunct, "*")) {
        std::size_t at = find_from(t, k + 1);
        if (at) add(t[at].text);
      }
    } else if (t[k].text == "export") {
      if (is(t, k + 1, Token::kPunct, "{") || is(t, k + 1, Token::kPunct, "*")) {
        std::size_t at = find_from(t, k + 1);
        if (at) add(t[at].text);
      }
    }
  }
  return found;
}

std::vector<FunctionExport> scan_function_exports(const std::string& source) {
  auto t = Tokenizer(source).run();
  std::vector<FunctionExport> found;
  for (std::size_t k = 0; k + 5 < t.size(); k++) {
    if (!is(t, k, Token::kWord, "export") || (k > 0 && is(t, k - 1, Token::kPunct, "."))) continue;
    if (!is(t, k + 1, Token::kWord) ||
        (t[k + 1].text != "const" && t[k + 1].text != "let" && t[k + 1].text != "var"))
      continue;
    if (!is(t, k + 2, Token::kWord) || !is(t, k + 3, Token::kPunct, "=")) continue;
    std::size_t callee = k + 4;
    // `= rt.query(`: a namespace import of @stopgap/runtime.
    if (is(t, callee, Token::kWord) && is(t, callee + 1, Token::kPunct, ".")) callee += 2;
    if (!is(t, callee, Token::kWord) || !is(t, callee + 1, Token::kPunct, "(")) continue;
    const std::string& kind = t[callee].text;
    if (kind != "query" && kind != "mutation") continue;
    found.push_back({t[k + 2].text, kind});
  }
  return found;
}

}  // namespace stopgap::cli
