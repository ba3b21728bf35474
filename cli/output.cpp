#include "cli/output.h"

#include <algorithm>
#include <sstream>

namespace stopgap::cli {
namespace {

using json = nlohmann::json;

const json& expect(const json& doc, const char* key, json::value_t type, const char* what) {
  if (!doc.is_object() || !doc.contains(key) || doc[key].type() != type)
    throw DecodeError(std::string(what) + ": expected \"" + key + "\" in " + json_line(doc));
  return doc[key];
}

// A scalar as text: strings unquoted, null as "-".
std::string text(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::string field(const json& doc, const char* key) {
  return doc.is_object() && doc.contains(key) ? text(doc[key]) : "-";
}

// A function's name for humans: its path when the server gives one.
std::string function_label(const json& fn) {
  if (fn.contains("path") && fn["path"].is_string()) return fn["path"].get<std::string>();
  return field(fn, "fn_name");
}

std::string change_mark(const std::string& change) {
  if (change == "added") return "+";
  if (change == "removed") return "-";
  if (change == "changed") return "~";
  return " ";
}

std::string counts_line(const json& summary) {
  std::ostringstream s;
  bool first = true;
  for (const char* k : {"added", "changed", "removed", "unchanged", "errors"}) {
    if (!summary.contains(k)) continue;
    s << (first ? "" : ", ") << text(summary[k]) << " " << k;
    first = false;
  }
  return s.str();
}

// "+ api.users.get (changed: source)" lines for the functions that change.
void change_lines(std::ostringstream& s, const json& functions) {
  if (!functions.is_array()) return;
  for (const auto& fn : functions) {
    std::string change = field(fn, "change");
    if (change == "unchanged") continue;
    s << "  " << change_mark(change) << " " << function_label(fn);
    if (fn.contains("reasons") && fn["reasons"].is_array() && !fn["reasons"].empty()) {
      s << " (";
      for (std::size_t i = 0; i < fn["reasons"].size(); i++)
        s << (i ? ", " : "") << text(fn["reasons"][i]);
      s << ")";
    }
    s << "\n";
  }
}

}  // namespace

std::string json_line(const nlohmann::json& doc) {
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string format_deploy_report(const json& report) {
  if (!report.is_object())
    throw DecodeError("deploy report: expected an object, got " + json_line(report));
  std::ostringstream s;
  const std::string env = field(report, "env");
  const json id = report.contains("deployment_id") ? report["deployment_id"] : json();
  const bool dry_run = report.value("dry_run", false);
  if (dry_run) {
    s << "dry run for " << env << ": nothing was changed\n";
  } else if (report.value("unchanged", false) || id.is_null()) {
    s << "nothing to deploy: " << env << " already runs this code";
    if (report.contains("active_deployment") && !report["active_deployment"].is_null())
      s << " (deployment " << text(report["active_deployment"]) << ")";
    s << "\n";
  } else {
    s << "deployed to " << env << ": deployment " << text(id);
    if (report.contains("label") && report["label"].is_string())
      s << " \"" << report["label"].get<std::string>() << "\"";
    s << "\n";
  }
  if (report.contains("summary") && report["summary"].is_object())
    s << "  " << counts_line(report["summary"]) << "\n";
  if (report.contains("functions")) change_lines(s, report["functions"]);
  return s.str();
}

std::string format_diff(const json& diff) {
  const json& summary = expect(diff, "summary", json::value_t::object, "diff");
  std::ostringstream s;
  s << counts_line(summary) << "\n";
  if (diff.contains("functions")) change_lines(s, diff["functions"]);
  if (diff.contains("errors") && diff["errors"].is_array())
    for (const auto& e : diff["errors"])
      s << "  error: " << field(e, "function") << ": " << field(e, "message") << "\n";
  return s.str();
}

std::string format_status(const json& status) {
  if (!status.is_object())
    throw DecodeError("status: expected an object, got " + json_line(status));
  std::ostringstream s;
  s << "environment " << field(status, "env") << " (live schema " << field(status, "live_schema")
    << ")\n";
  const json active = status.value("active_deployment", json());
  if (active.is_object()) {
    s << "active: deployment " << field(active, "id");
    if (active.contains("label") && active["label"].is_string())
      s << " \"" << active["label"].get<std::string>() << "\"";
    s << ", " << field(status, "function_count") << " functions, activated "
      << field(active, "activated_at") << "\n";
  } else {
    s << "active: none (nothing deployed yet)\n";
  }
  // A project's functions by path (a deployment from a schema has none).
  const json paths = status.value("paths", json::array());
  if (paths.is_array())
    for (const auto& p : paths)
      if (p.is_string()) s << "  " << p.get<std::string>() << "\n";
  const json drift = status.value("drift", json::array());
  if (!drift.is_array() || drift.empty()) {
    s << "drift: none\n";
  } else {
    s << "drift: " << drift.size() << " problem" << (drift.size() == 1 ? "" : "s") << "\n";
    for (const auto& d : drift) {
      s << "  " << field(d, "problem");
      if (d.contains("fn_name") || d.contains("path")) s << " " << function_label(d);
      if (d.contains("schema")) s << " " << field(d, "schema");
      s << "\n";
    }
  }
  return s.str();
}

std::string format_deployments(const json& list) {
  if (!list.is_array()) throw DecodeError("deployments: expected an array, got " + json_line(list));
  if (list.empty()) return "no deployments\n";
  std::vector<std::vector<std::string>> rows = {
      {"", "ID", "STATUS", "LABEL", "FUNCTIONS", "CREATED AT", "CREATED BY"}};
  for (const auto& d : list) {
    if (!d.is_object()) throw DecodeError("deployments: expected objects, got " + json_line(d));
    rows.push_back({d.value("is_active", false) ? "*" : "", field(d, "id"), field(d, "status"),
                    field(d, "label"),
                    d.contains("functions") && d["functions"].is_array()
                        ? std::to_string(d["functions"].size())
                        : "-",
                    field(d, "created_at"), field(d, "created_by")});
  }
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& r : rows)
    for (std::size_t c = 0; c < r.size(); c++) width[c] = std::max(width[c], r[c].size());
  std::ostringstream s;
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t c = 0; c < r.size(); c++) {
      line += r[c];
      if (c + 1 < r.size()) line += std::string(width[c] - r[c].size() + (c ? 2 : 1), ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    s << line << "\n";
  }
  return s.str();
}

std::string format_call_result(const json& result) {
  return result.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string format_api_error(const ApiError& e) {
  std::ostringstream s;
  s << "error: " << e.message;
  if (!e.sqlstate.empty()) s << " (SQLSTATE " << e.sqlstate << ")";
  s << "\n";
  if (!e.detail.empty()) s << e.detail << (e.detail.back() == '\n' ? "" : "\n");
  if (!e.hint.empty()) s << "hint: " << e.hint << "\n";
  return s.str();
}

json api_error_document(const ApiError& e) {
  return {
      {"error",
       {{"sqlstate", e.sqlstate}, {"message", e.message}, {"detail", e.detail}, {"hint", e.hint}}}};
}

}  // namespace stopgap::cli
