#include "extensions/plts/json_text.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "common/utf8.h"

namespace plts {

namespace {

// A growable array in CurrentMemoryContext (no malloc per object or array).
template <typename T>
struct PArray {
  T* data = nullptr;
  size_t size = 0, cap = 0;
  T& push() {
    if (size == cap) {
      size_t ncap = cap ? cap * 2 : 4;
      T* nd =
          static_cast<T*>(palloc_extended(sizeof(T) * ncap, MCXT_ALLOC_NO_OOM | MCXT_ALLOC_HUGE));
      if (nd == nullptr) throw std::bad_alloc();
      if (size) memcpy(static_cast<void*>(nd), data, sizeof(T) * size);
      data = nd;
      cap = ncap;
    }
    return data[size++];
  }
};

struct Parser {
  const char* p;
  const char* end;
  Numeric (*make_number)(const char*, size_t);
  std::string error;

  void* alloc(size_t n) {
    void* m = palloc_extended(n ? n : 1, MCXT_ALLOC_NO_OOM | MCXT_ALLOC_HUGE);
    if (m == nullptr) throw std::bad_alloc();
    return m;
  }

  void ws() {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
  }

  bool fail(const char* why) {
    if (error.empty()) error = why;
    return false;
  }

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  bool hex4(unsigned* out) {
    if (end - p < 4) return fail("truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
      int h = hex(p[i]);
      if (h < 0) return fail("bad \\u escape");
      v = v * 16 + static_cast<unsigned>(h);
    }
    p += 4;
    *out = v;
    return true;
  }

  // A string token into a jbvString (p at the opening quote).
  bool string(JsonbValue* v) {
    p++;
    const char* start = p;
    while (p < end && *p != '"' && *p != '\\') p++;
    if (p < end && *p == '"') {  // no escapes: copy as is
      size_t n = static_cast<size_t>(p - start);
      char* s = static_cast<char*>(alloc(n));
      memcpy(s, start, n);
      p++;
      v->type = jbvString;
      v->val.string.val = s;
      v->val.string.len = static_cast<int>(n);
      return true;
    }
    std::string buf(start, p);
    while (p < end && *p != '"') {
      if (*p != '\\') {
        buf += *p++;
        continue;
      }
      if (++p >= end) return fail("truncated escape");
      char c = *p++;
      switch (c) {
        case '"':
          buf += '"';
          break;
        case '\\':
          buf += '\\';
          break;
        case '/':
          buf += '/';
          break;
        case 'b':
          buf += '\b';
          break;
        case 'f':
          buf += '\f';
          break;
        case 'n':
          buf += '\n';
          break;
        case 'r':
          buf += '\r';
          break;
        case 't':
          buf += '\t';
          break;
        case 'u': {
          unsigned cp = 0;
          if (!hex4(&cp)) return false;
          if (cp == 0) return fail("\\u0000 cannot be stored in jsonb");
          if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
            const char* save = p;
            p += 2;
            unsigned lo = 0;
            if (hex4(&lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              p = save;
              error.clear();
              cp = 0xFFFD;  // a lone surrogate: as V8's UTF-8 writer does
            }
          } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            cp = 0xFFFD;
          }
          pgx::append_utf8(buf, cp);
          break;
        }
        default:
          return fail("bad escape");
      }
    }
    if (p >= end) return fail("unterminated string");
    p++;
    char* s = static_cast<char*>(alloc(buf.size()));
    memcpy(s, buf.data(), buf.size());
    v->type = jbvString;
    v->val.string.val = s;
    v->val.string.len = static_cast<int>(buf.size());
    return true;
  }

  bool value(JsonbValue* v, int depth) {
    if (depth > kMaxJsonbDepth) return fail("nested too deeply");
    ws();
    if (p >= end) return fail("unexpected end");
    char c = *p;
    if (c == '"') return string(v);
    if (c == '{') return object(v, depth);
    if (c == '[') return array(v, depth);
    if (c == 't' && end - p >= 4 && memcmp(p, "true", 4) == 0) {
      p += 4;
      v->type = jbvBool;
      v->val.boolean = true;
      return true;
    }
    if (c == 'f' && end - p >= 5 && memcmp(p, "false", 5) == 0) {
      p += 5;
      v->type = jbvBool;
      v->val.boolean = false;
      return true;
    }
    if (c == 'n' && end - p >= 4 && memcmp(p, "null", 4) == 0) {
      p += 4;
      v->type = jbvNull;
      return true;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      // JSON's number grammar exactly: make_number's fast path reads the digits of an integer
      // without checking them (fuzz_json_text caught "1-2" reaching it).
      const char* start = p;
      auto digits = [&] {
        const char* from = p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        return p > from;
      };
      if (*p == '-') p++;
      if (p < end && *p == '0') {
        p++;
      } else if (!digits()) {
        return fail("bad number");
      }
      if (p < end && *p == '.' && (++p, !digits())) return fail("bad number");
      if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (!digits()) return fail("bad number");
      }
      v->type = jbvNumeric;
      v->val.numeric = make_number(start, static_cast<size_t>(p - start));
      return true;
    }
    return fail("unexpected character");
  }

  bool array(JsonbValue* v, int depth) {
    p++;
    PArray<JsonbValue> elems;
    ws();
    if (p < end && *p == ']') {
      p++;
    } else {
      for (;;) {
        if (!value(&elems.push(), depth + 1)) return false;
        ws();
        if (p < end && *p == ',') {
          p++;
          continue;
        }
        if (p < end && *p == ']') {
          p++;
          break;
        }
        return fail("expected , or ]");
      }
    }
    v->type = jbvArray;
    v->val.array.rawScalar = false;
    v->val.array.nElems = static_cast<int>(elems.size);
    v->val.array.elems =
        elems.size ? elems.data : static_cast<JsonbValue*>(alloc(sizeof(JsonbValue)));
    return true;
  }

  bool object(JsonbValue* v, int depth) {
    p++;
    PArray<JsonbPair> pairs;
    ws();
    if (p < end && *p == '}') {
      p++;
    } else {
      for (;;) {
        ws();
        if (p >= end || *p != '"') return fail("expected a key");
        JsonbPair& pair = pairs.push();
        if (!string(&pair.key)) return false;
        ws();
        if (p >= end || *p != ':') return fail("expected :");
        p++;
        if (!value(&pair.value, depth + 1)) return false;
        pair.order = static_cast<uint32>(pairs.size - 1);
        ws();
        if (p < end && *p == ',') {
          p++;
          continue;
        }
        if (p < end && *p == '}') {
          p++;
          break;
        }
        return fail("expected , or }");
      }
    }
    // jsonb keeps object keys sorted by length, then bytes; on duplicates the last one wins.
    auto less = [](const JsonbPair& a, const JsonbPair& b) {
      if (a.key.val.string.len != b.key.val.string.len)
        return a.key.val.string.len < b.key.val.string.len;
      return memcmp(a.key.val.string.val, b.key.val.string.val, a.key.val.string.len) < 0;
    };
    if (pairs.size <= 16) {
      // Most objects are small: a stable insertion sort, without std::stable_sort's buffer.
      for (size_t i = 1; i < pairs.size; i++) {
        JsonbPair x = pairs.data[i];
        size_t j = i;
        for (; j > 0 && less(x, pairs.data[j - 1]); j--) pairs.data[j] = pairs.data[j - 1];
        pairs.data[j] = x;
      }
    } else {
      std::stable_sort(pairs.data, pairs.data + pairs.size, less);
    }
    size_t n = 0;
    JsonbPair* ps = pairs.data;
    for (size_t i = 0; i < pairs.size; i++) {
      if (n > 0 && ps[n - 1].key.val.string.len == ps[i].key.val.string.len &&
          memcmp(ps[n - 1].key.val.string.val, ps[i].key.val.string.val,
                 ps[i].key.val.string.len) == 0) {
        ps[n - 1] = ps[i];
      } else {
        ps[n++] = ps[i];
      }
    }
    v->type = jbvObject;
    v->val.object.nPairs = static_cast<int>(n);
    v->val.object.pairs = n ? ps : static_cast<JsonbPair*>(alloc(sizeof(JsonbPair)));
    return true;
  }
};

}  // namespace

std::string json_text_to_jsonb_value(const char* text, size_t len, JsonbValue* out,
                                     Numeric (*make_number)(const char*, size_t)) {
  Parser ps{text, text + len, make_number, {}};
  if (!ps.value(out, 0)) return ps.error;
  ps.ws();
  if (ps.p != ps.end) return "trailing characters";
  return "";
}

}  // namespace plts
