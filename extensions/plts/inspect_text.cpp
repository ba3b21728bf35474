#include "extensions/plts/inspect_text.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>

namespace plts {

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); i++) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

bool is_js_identifier(const std::string& s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (unsigned char c : s)
    if (!(std::isalnum(c) || c == '_' || c == '$')) return false;
  return true;
}

std::string js_quote(const std::string& s) {
  char q = s.find('\'') != std::string::npos && s.find('"') == std::string::npos ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\v':
        out += "\\v";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (c == q) {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\x%02X", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += q;
  return out;
}

std::string iso_date_text(double ms) {
  if (!std::isfinite(ms) || std::fabs(ms) > 8.64e15) return "Invalid Date";
  int64_t t = static_cast<int64_t>(std::floor(ms));
  int64_t days = t / 86400000, rem = t % 86400000;
  if (rem < 0) {
    rem += 86400000;
    days--;
  }
  // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
  int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
  int64_t y = yoe + era * 400 + (m <= 2);
  char buf[64];
  const char* yfmt = y >= 0 && y <= 9999 ? "%04lld" : (y < 0 ? "-%06lld" : "+%06lld");
  int n = snprintf(buf, sizeof buf, yfmt, static_cast<long long>(y < 0 ? -y : y));
  snprintf(buf + n, sizeof buf - n, "-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ",
           static_cast<long long>(m), static_cast<long long>(d),
           static_cast<long long>(rem / 3600000), static_cast<long long>(rem / 60000 % 60),
           static_cast<long long>(rem / 1000 % 60), static_cast<long long>(rem % 1000));
  return buf;
}

std::string layout_list(const std::string& open, const std::vector<std::string>& parts,
                        bool brackets, int depth) {
  const char* o = brackets ? "[" : "{";
  const char* close = brackets ? "]" : "}";
  std::string pre = open.empty() ? "" : open + " ";
  if (parts.empty()) return pre + o + close;
  size_t total = open.size();
  bool multiline = false;
  for (const auto& p : parts) {
    total += p.size() + 2;
    if (p.find('\n') != std::string::npos) multiline = true;
  }
  if (!multiline && total + depth * 2 <= 72) return pre + o + " " + join(parts, ", ") + " " + close;
  std::string ind(2 * (depth + 1), ' '), end = "\n" + std::string(2 * depth, ' ') + close;
  if (!multiline && brackets && parts.size() > 6) {
    // Many short entries (numbers, say) share lines, as node groups them.
    size_t widest = 0;
    for (const auto& p : parts)
      if (p.rfind("... ", 0) != 0) widest = std::max(widest, p.size());
    if (widest <= 16) {
      std::string body, line;
      for (size_t i = 0; i < parts.size(); i++) {
        std::string item = parts[i] + (i + 1 < parts.size() ? "," : "");
        if (!line.empty() && ind.size() + line.size() + 1 + item.size() > 76) {
          body += "\n" + ind + line;
          line.clear();
        }
        line += (line.empty() ? "" : " ") + item;
      }
      return pre + o + body + "\n" + ind + line + end;
    }
  }
  std::string sep = ",\n" + ind;
  return pre + o + "\n" + ind + join(parts, sep.c_str()) + end;
}

void cut_utf8(std::string& s, size_t max) {
  if (s.size() <= max) return;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) n--;
  s.resize(n);
}

}  // namespace plts
