// deploy/grafana: the provisioned data sources and every dashboard (CTest `grafana`).
//
// Grafana is not installed here (no Debian package), so this test does what Grafana's PostgreSQL
// data source does with a panel's SQL and runs the result on the real PostgreSQL of
// scripts/services.sh, holding a known workload written through PostgresStore::write (the path
// `scope server` ingests by):
//   1. the dashboard's template variables are interpolated as Grafana's frontend does for SQL
//      data sources (templateSrv + SqlDatasource.interpolateVariable): a multi-value or
//      include-All variable's values are each quoted as a literal ('x', quotes doubled) and
//      joined with commas; "All" with a custom all value is that value, unformatted; $__interval
//      and $__interval_ms are the panel's interval;
//   2. the macros are expanded as Grafana's backend does (pkg/tsdb/grafana-postgresql-datasource/
//      macros.go): the regex \$(\w+)\(([^)]*)\), arguments split on commas and trimmed, and
//        $__unixEpochNanoFilter(c)    -> c >= FROM_NS AND c <= TO_NS
//        $__unixEpochNanoTo()         -> TO_NS
//        $__unixEpochGroupAlias(e,I)  -> floor((e)/SECONDS)*SECONDS AS "time"  (SECONDS: I as
//                                        Go's %v prints a float64)
//      (the only macros the dashboards use; any other fails the test).
// Every panel's query and every variable's query is run and its rows compared with what the
// known workload must give, exactly; the totals also with what the query API (server/queries.h)
// answers on the same store. A query that fails, or a panel without an expected answer, fails.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "event/row.h"
#include "event/schema.h"
#include "http/router.h"
#include "server/queries.h"
#include "store/postgres/postgres_store.h"

namespace scope::grafanatest {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr int64_t kS = 1'000'000'000;
constexpr int64_t kT0 = 1'700'000'040 * kS;  // a whole minute
constexpr const char* kSchema = "grafana_test";

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path grafana_dir() { return fs::path(SCOPE_SOURCE_DIR) / "deploy" / "grafana"; }

struct Dashboard {
  std::string file;
  json doc;
};

std::vector<Dashboard> dashboards() {
  std::vector<Dashboard> out;
  for (const auto& e : fs::directory_iterator(grafana_dir() / "dashboards"))
    if (e.path().extension() == ".json")
      out.push_back({e.path().filename().string(), json::parse(slurp(e.path()), nullptr, false)});
  std::sort(out.begin(), out.end(),
            [](const Dashboard& a, const Dashboard& b) { return a.file < b.file; });
  return out;
}

// ---- Grafana's interpolation -----------------------------------------------------------------

struct Range {
  int64_t from_ns, to_ns;  // Grafana's range has millisecond precision
};

// A variable's current value: All (empty `values`) or the values selected.
struct Selection {
  std::vector<std::string> values;
};

std::string quote_literal(const std::string& v) {
  std::string out = "'";
  for (char c : v) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// templateSrv.replace for an SQL data source: $name, ${name} (the forms the dashboards use).
std::string interpolate_variables(const std::string& sql, const json& templating,
                                  const std::map<std::string, Selection>& current,
                                  const std::string& interval, int64_t interval_ms) {
  static const std::regex var(R"(\$(\w+)|\$\{(\w+)\})");
  std::string out;
  auto begin = std::sregex_iterator(sql.begin(), sql.end(), var);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    std::string name = m[1].matched ? m[1].str() : m[2].str();
    std::string replacement = m.str();
    if (name == "__interval") {
      replacement = interval;
    } else if (name == "__interval_ms") {
      replacement = std::to_string(interval_ms);
    } else {
      for (const auto& v : templating["list"]) {
        if (v["name"] != name) continue;
        auto sel = current.find(name);
        const bool all = sel == current.end() || sel->second.values.empty();
        if (all && v.contains("allValue") && v["allValue"].is_string() &&
            !v["allValue"].get<std::string>().empty()) {
          replacement = v["allValue"].get<std::string>();  // a custom all value: unformatted
        } else if (all) {
          ADD_FAILURE() << "variable " << name << ": All without a custom all value";
        } else {
          replacement.clear();
          for (size_t i = 0; i < sel->second.values.size(); ++i)
            replacement += (i ? "," : "") + quote_literal(sel->second.values[i]);
        }
      }
    }
    out += sql.substr(last, static_cast<size_t>(m.position()) - last) + replacement;
    last = static_cast<size_t>(m.position() + m.length());
  }
  return out + sql.substr(last);
}

// gtime.ParseInterval's seconds for the intervals used here ("1m", "30s", "500ms", "1h").
double interval_seconds(std::string s) {
  if (s.size() >= 2 && s.front() == '\'' && s.back() == '\'') s = s.substr(1, s.size() - 2);
  size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits]))) ++digits;
  double n = std::atof(s.substr(0, digits).c_str());
  std::string unit = s.substr(digits);
  if (unit == "ms") return n / 1000;
  if (unit == "s") return n;
  if (unit == "m") return n * 60;
  if (unit == "h") return n * 3600;
  if (unit == "d") return n * 86400;
  ADD_FAILURE() << "interval " << s;
  return 0;
}

// Go's %v of a float64: the shortest representation.
std::string go_float(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string expand_macros(const std::string& sql, const Range& range) {
  static const std::regex macro(R"(\$([_a-zA-Z0-9]+)\(([^\)]*)\))");
  std::string out;
  size_t last = 0;
  for (auto it = std::sregex_iterator(sql.begin(), sql.end(), macro); it != std::sregex_iterator();
       ++it) {
    const auto& m = *it;
    std::vector<std::string> args;
    std::stringstream in(m[2].str());
    for (std::string a; std::getline(in, a, ',');) {
      a.erase(0, a.find_first_not_of(' '));
      a.erase(a.find_last_not_of(' ') + 1);
      args.push_back(a);
    }
    if (m[2].str().empty()) args = {""};  // strings.Split("", ",") is [""]
    const std::string name = m[1].str();
    std::string r;
    if (name == "__unixEpochNanoFilter" && !args[0].empty()) {
      r = args[0] + " >= " + std::to_string(range.from_ns) + " AND " + args[0] +
          " <= " + std::to_string(range.to_ns);
    } else if (name == "__unixEpochNanoTo") {
      r = std::to_string(range.to_ns);
    } else if (name == "__unixEpochGroupAlias" && args.size() >= 2) {
      std::string secs = go_float(interval_seconds(args[1]));
      r = "floor((" + args[0] + ")/" + secs + ")*" + secs + " AS \"time\"";
    } else {
      ADD_FAILURE() << "a macro this test does not expand: " << m.str();
      r = "macro_error()";
    }
    out += sql.substr(last, static_cast<size_t>(m.position()) - last) + r;
    last = static_cast<size_t>(m.position() + m.length());
  }
  return out + sql.substr(last);
}

// ---- PostgreSQL, as Grafana's data source reads it ---------------------------------------------

struct Rows {
  std::string error;
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;  // text; NULL as "NULL"
};

class Reader {
 public:
  explicit Reader(const char* schema = kSchema)
      : conn_(PQconnectdb(std::getenv("SCOPE_TEST_POSTGRES_URL"))) {
    exec(std::string("SET search_path TO ") + schema + "; SET TimeZone TO 'UTC'");
  }
  ~Reader() { PQfinish(conn_); }
  // One read-only transaction per query, as a SELECT-only role would run it.
  Rows run(const std::string& sql) {
    exec("BEGIN READ ONLY");
    Rows out;
    PGresult* r = PQexec(conn_, sql.c_str());
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      out.error = PQresultErrorMessage(r);
    } else {
      for (int c = 0; c < PQnfields(r); ++c) out.columns.push_back(PQfname(r, c));
      for (int i = 0; i < PQntuples(r); ++i) {
        std::vector<std::string> row;
        for (int c = 0; c < PQnfields(r); ++c)
          row.push_back(PQgetisnull(r, i, c) ? "NULL" : PQgetvalue(r, i, c));
        out.rows.push_back(std::move(row));
      }
    }
    PQclear(r);
    exec("ROLLBACK");
    return out;
  }

 private:
  void exec(const std::string& sql) { PQclear(PQexec(conn_, sql.c_str())); }
  PGconn* conn_;
};

// Rows as "a|b|c" lines; a time series' "time" (Unix seconds) as its offset from kT0: "t+60".
std::vector<std::string> lines(const Rows& r) {
  std::vector<std::string> out;
  for (const auto& row : r.rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      std::string v = row[c];
      if (r.columns[c] == "time" && v.find(':') == std::string::npos)
        v = "t+" + std::to_string(std::llround(std::atof(v.c_str())) - kT0 / kS);
      line += (c ? "|" : "") + v;
    }
    out.push_back(line);
  }
  return out;
}

// ---- the known workload
// --------------------------------------------------------------------------

class Events {
 public:
  event::EventRow& add(const char* family, int64_t at, uint32_t pid, const std::string& comm,
                       const std::map<std::string, event::Value>& columns) {
    batch_.events.push_back(event::make_row(*event::schema_for(family), kT0 + at, pid, pid, comm));
    for (const auto& [name, v] : columns) event::set_column(batch_.events.back(), name, v);
    return batch_.events.back();
  }
  event::Batch take(const std::string& node) {
    batch_.node = node;
    batch_.boot_id = "boot-1";
    batch_.first_seq = 1;
    return std::move(batch_);
  }

 private:
  event::Batch batch_;
};

using V = event::Value;
V s(const char* v) { return V(std::string(v)); }
V i(int64_t v) { return V(v); }

// Node n1: a trainer (pid 100) launching kernels, allocating, copying and decoding; o'hare (101,
// a quote in its name); bash (200) and cat (300). Node n2: one launch and some scheduling.
void write_workload(store::Store& st) {
  Events e;
  auto launch = [&](int64_t at, uint32_t pid, const char* comm, V kernel, int64_t ns) {
    e.add("cuda", at, pid, comm,
          {{"call", s("cudaLaunchKernel")},
           {"op", s("launch")},
           {"ret", i(0)},
           {"kernel", std::move(kernel)},
           {"grid", s("[4,1,1]")},
           {"block", s("[128,1,1]")},
           {"duration_ns", i(ns)}});
  };
  launch(10 * kS, 100, "trainer", s("k_gemm"), 100);
  launch(20 * kS, 100, "trainer", s("k_gemm"), 300);
  launch(30 * kS, 100, "trainer", s("k_relu"), 50);
  launch(70 * kS, 101, "o'hare", s("k_gemm"), 200);
  launch(75 * kS, 100, "trainer", V{}, 5);
  auto mem = [&](int64_t at, uint32_t pid, const char* comm, const char* op, int64_t ptr, V bytes) {
    e.add("cuda", at, pid, comm,
          {{"call", s(op == std::string("alloc") ? "cudaMalloc" : "cudaFree")},
           {"op", s(op)},
           {"ret", i(0)},
           {"ptr", i(ptr)},
           {"bytes", std::move(bytes)}});
  };
  mem(1 * kS, 100, "trainer", "alloc", 0x1000, i(1000));
  mem(40 * kS, 100, "trainer", "alloc", 0x2000, i(500));
  mem(50 * kS, 100, "trainer", "free", 0x1000, V{});
  mem(71 * kS, 101, "o'hare", "alloc", 0x3000, i(64));
  auto copy = [&](int64_t at, const char* kind, int64_t bytes, int64_t ns) {
    e.add("cuda", at, 100, "trainer",
          {{"call", s("cudaMemcpy")},
           {"op", s("memcpy")},
           {"kind", s(kind)},
           {"bytes", i(bytes)},
           {"duration_ns", i(ns)}});
  };
  copy(10 * kS, "htod", 1'000'000, 1'000'000);
  copy(11 * kS, "dtoh", 2'000'000, 4'000'000);
  copy(12 * kS, "htod", 1'000'000, 1'000'000);
  copy(65 * kS, "dtod", 3'000'000, 1'000'000);
  for (int64_t ns : {int64_t{500}, int64_t{5000}, 2 * kS})
    e.add("cuda", 13 * kS, 100, "trainer",
          {{"call", s("cudaDeviceSynchronize")}, {"op", s("sync")}, {"duration_ns", i(ns)}});
  e.add("cuda", 66 * kS, 100, "trainer",
        {{"call", s("cudaStreamSynchronize")}, {"op", s("sync")}, {"duration_ns", i(20'000)}});

  e.add("exec", 1 * kS, 200, "bash",
        {{"call", s("execve")},
         {"ppid", i(1)},
         {"uid", i(0)},
         {"filename", s("/usr/bin/bash")},
         {"argv", s(R"(["bash","-c","exit 3"])")},
         {"ret", i(0)}});
  e.add("exec", 2 * kS, 100, "trainer",
        {{"call", s("execve")},
         {"ppid", i(200)},
         {"filename", s("/opt/trainer")},
         {"argv", s(R"(["/opt/trainer","--model","x.gguf"])")},
         {"ret", i(0)}});
  e.add("exec", 5 * kS, 200, "bash",
        {{"call", s("exit")}, {"exit_code", i(3)}, {"lifetime_ns", i(4 * kS)}});
  e.add("exec", 200 * kS, 100, "trainer", {{"call", s("exit")}, {"exit_code", i(0)}});

  auto open = [&](int64_t at, uint32_t pid, const char* comm, const char* path, int64_t ret) {
    e.add("open", at, pid, comm, {{"call", s("openat")}, {"path", s(path)}, {"ret", i(ret)}});
  };
  open(1 * kS, 300, "cat", "/etc/passwd", 3);
  open(2 * kS, 300, "cat", "/etc/passwd", 3);
  open(3 * kS, 300, "cat", "/nope", -2);
  open(64 * kS, 101, "o'hare", "/x", 3);

  auto sys = [&](int64_t at, uint32_t pid, const char* comm, const char* name, int64_t count,
                 int64_t errors, int64_t ns) {
    e.add("syscalls", at, pid, comm,
          {{"name", s(name)}, {"count", i(count)}, {"errors", i(errors)}, {"total_ns", i(ns)}});
  };
  sys(1 * kS, 300, "cat", "read", 6, 1, 60);
  sys(2 * kS, 300, "cat", "read", 4, 0, 40);
  sys(2 * kS, 300, "cat", "write", 5, 3, 1000);
  sys(3 * kS, 100, "trainer", "ioctl", 20, 0, 5000);

  auto sched = [&](int64_t at, uint32_t pid, const char* comm, int64_t sw, int64_t off,
                   int64_t runq) {
    e.add("sched", at, pid, comm,
          {{"switches", i(sw)},
           {"voluntary", i(sw - 1)},
           {"involuntary", i(1)},
           {"offcpu_ns", i(off)},
           {"runq_ns", i(runq)}});
  };
  sched(1 * kS, 100, "trainer", 10, 100, 5);
  sched(2 * kS, 100, "trainer", 10, 100, 5);
  sched(61 * kS, 300, "cat", 2, 1, 1);

  e.add("net", 3 * kS, 100, "trainer",
        {{"op", s("connect")},
         {"family", s("ipv4")},
         {"saddr", s("10.0.0.1")},
         {"sport", i(40000)},
         {"daddr", s("10.0.0.2")},
         {"dport", i(443)},
         {"error", i(0)},
         {"handshake_ns", i(1500)}});
  e.add("net", 9 * kS, 100, "trainer",
        {{"op", s("close")},
         {"family", s("ipv4")},
         {"saddr", s("10.0.0.1")},
         {"sport", i(40000)},
         {"daddr", s("10.0.0.2")},
         {"dport", i(443)},
         {"duration_ns", i(6 * kS)},
         {"rx_bytes", i(4096)},
         {"tx_bytes", i(512)}});

  auto decode = [&](int64_t at, const char* phase, int64_t tokens, int64_t ns) {
    e.add("llama", at, 100, "trainer",
          {{"call", s("llama_decode")},
           {"op", s("decode")},
           {"phase", s(phase)},
           {"tokens", i(tokens)},
           {"duration_ns", i(ns)},
           {"ctx", i(0xc0)},
           {"ret", i(0)}});
  };
  decode(1 * kS, "prompt", 10, 100);
  decode(1 * kS + 200, "prompt", 5, 50);
  decode(2 * kS, "generation", 1, 20);
  decode(2 * kS + 100, "generation", 1, 30);
  decode(61 * kS, "prompt", 8, 80);
  decode(62 * kS, "generation", 1, 25);
  e.add("ggml", 2 * kS, 100, "trainer",
        {{"call", s("ggml_backend_graph_compute")},
         {"op", s("graph")},
         {"duration_ns", i(40)},
         {"nodes", i(12)}});
  e.add("ggml", 1 * kS, 100, "trainer",
        {{"call", s("ggml_backend_alloc")},
         {"op", s("alloc")},
         {"ptr", i(0xa0)},
         {"bytes", i(4096)}});
  auto w = st.write(e.take("n1"));
  ASSERT_TRUE(w) << w.error();

  launch(15 * kS, 400, "other", s("k_gemm"), 7);
  sched(15 * kS, 400, "other", 3, 9, 2);
  w = st.write(e.take("n2"));
  ASSERT_TRUE(w) << w.error();
}

const char* skip_reason() {
  return std::getenv("SCOPE_TEST_POSTGRES_URL") ? nullptr
                                                : "SCOPE_TEST_POSTGRES_URL is not set (source "
                                                  "scripts/services.sh)";
}

// ---- running a dashboard
// -------------------------------------------------------------------------

bool is_postgres(const json& ds) {
  return ds.is_object() && ds.value("uid", "") == "scope-postgres";
}

// Every PostgreSQL query of `d` (its variables', then its panels'), with the variables at
// `current`, keyed "FILE/$VAR" and "FILE/PANEL TITLE/REFID".
std::map<std::string, Rows> run_dashboard(Reader& db, const Dashboard& d,
                                          const std::map<std::string, Selection>& current,
                                          const Range& range, const std::string& interval,
                                          int64_t interval_ms) {
  std::map<std::string, Rows> out;
  const json& templating = d.doc["templating"];
  auto run = [&](const std::string& key, const std::string& sql) {
    std::string expanded = expand_macros(
        interpolate_variables(sql, templating, current, interval, interval_ms), range);
    Rows r = db.run(expanded);
    EXPECT_EQ(r.error, "") << key << "\n" << expanded;
    out[key] = std::move(r);
  };
  for (const auto& v : templating["list"])
    if (is_postgres(v["datasource"])) run(d.file + "/$" + v["name"].get<std::string>(), v["query"]);
  for (const auto& p : d.doc["panels"])
    for (const auto& t : p["targets"])
      if (is_postgres(t["datasource"]))
        run(d.file + "/" + p["title"].get<std::string>() + "/" + t["refId"].get<std::string>(),
            t["rawSql"]);
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& l : v) s += "  " + l + "\n";
  return s;
}

// Two lines of fields equal, numbers within a relative 1e-12 (PostgreSQL's float8 text and
// JSON's doubles print alike values differently).
bool same_line(const std::string& a, const std::string& b) {
  std::vector<std::string> fa, fb;
  std::stringstream sa(a), sb(b);
  for (std::string f; std::getline(sa, f, '|');) fa.push_back(f);
  for (std::string f; std::getline(sb, f, '|');) fb.push_back(f);
  if (fa.size() != fb.size()) return false;
  for (size_t k = 0; k < fa.size(); ++k) {
    if (fa[k] == fb[k]) continue;
    char *ea = nullptr, *eb = nullptr;
    double x = std::strtod(fa[k].c_str(), &ea), y = std::strtod(fb[k].c_str(), &eb);
    if (fa[k].empty() || fb[k].empty() || *ea || *eb) return false;
    if (std::abs(x - y) > 1e-12 * std::max(std::abs(x), std::abs(y))) return false;
  }
  return true;
}

void expect_same(const std::vector<std::string>& panel, const std::vector<std::string>& api,
                 const std::string& what) {
  bool ok = panel.size() == api.size();
  for (size_t k = 0; ok && k < panel.size(); ++k) ok = same_line(panel[k], api[k]);
  EXPECT_TRUE(ok) << what << ": the panel gives\n" << joined(panel) << "the API\n" << joined(api);
}

// ---- the tests
// -----------------------------------------------------------------------------------

TEST(GrafanaProvisioning, DashboardsParseAndReferOnlyToTheProvisionedDataSources) {
  const std::string sources = slurp(grafana_dir() / "provisioning/datasources/scope.yaml");
  for (const char* uid : {"scope-postgres", "scope-prometheus"})
    EXPECT_NE(sources.find(std::string("uid: ") + uid), std::string::npos) << uid;
  const std::string provider = slurp(grafana_dir() / "provisioning/dashboards/scope.yaml");
  EXPECT_NE(provider.find("path: /var/lib/grafana/dashboards"), std::string::npos);
  const std::set<std::string> uids = {"scope-postgres", "scope-prometheus"};

  auto all = dashboards();
  ASSERT_EQ(all.size(), 4u);  // cuda, fleet, host, llm
  std::set<std::string> seen_uids;
  for (const auto& d : all) {
    SCOPED_TRACE(d.file);
    ASSERT_FALSE(d.doc.is_discarded()) << d.file << " is not JSON";
    EXPECT_TRUE(seen_uids.insert(d.doc.value("uid", "")).second) << "uid " << d.doc["uid"];
    // Every "datasource" anywhere in the dashboard names one of the provisioned uids.
    std::function<void(const json&)> walk = [&](const json& j) {
      if (j.is_object()) {
        for (const auto& [k, v] : j.items()) {
          if (k == "datasource") {
            EXPECT_TRUE(v.is_object() && uids.count(v.value("uid", ""))) << v.dump();
          }
          walk(v);
        }
      } else if (j.is_array()) {
        for (const auto& v : j) walk(v);
      }
    };
    walk(d.doc);
    std::set<int> ids;
    ASSERT_TRUE(d.doc["panels"].is_array());
    for (const auto& p : d.doc["panels"]) {
      EXPECT_TRUE(ids.insert(p.value("id", 0)).second) << "panel id " << p["id"];
      ASSERT_TRUE(p["targets"].is_array() && !p["targets"].empty()) << p["title"];
      for (const auto& t : p["targets"]) {
        EXPECT_EQ(t["datasource"], p["datasource"]) << p["title"];
        if (is_postgres(t["datasource"])) {
          EXPECT_TRUE(t["rawSql"].is_string() && t.value("rawQuery", false)) << p["title"];
          const std::string fmt = t.value("format", "");
          EXPECT_TRUE(fmt == "time_series" || fmt == "table") << p["title"];
          // A time series needs a "time" column: here always $__unixEpochGroupAlias.
          if (fmt == "time_series") {
            EXPECT_NE(t["rawSql"].get<std::string>().find("$__unixEpochGroupAlias("),
                      std::string::npos)
                << p["title"];
          }
        } else {
          EXPECT_TRUE(t["expr"].is_string()) << p["title"];
        }
      }
    }
  }
}

// The Prometheus panels read only metric names scope registers (src/: counter/gauge/histogram
// calls), a histogram's through its _bucket series.
TEST(GrafanaProvisioning, FleetHealthReadsMetricsScopeExports) {
  std::set<std::string> registered, histograms;
  static const std::regex reg(R"re((counter|gauge|histogram)\(\s*"(scope_[a-z0-9_]+)")re");
  for (const auto& e : fs::recursive_directory_iterator(fs::path(SCOPE_SOURCE_DIR) / "src")) {
    if (e.path().extension() != ".cpp" && e.path().extension() != ".h") continue;
    std::string text = slurp(e.path());
    for (auto it = std::sregex_iterator(text.begin(), text.end(), reg);
         it != std::sregex_iterator(); ++it) {
      registered.insert((*it)[2].str());
      if ((*it)[1].str() == "histogram") histograms.insert((*it)[2].str());
    }
  }
  ASSERT_TRUE(registered.count("scope_events_received_total")) << "the scan found nothing";
  static const std::regex name(R"(scope_[a-z0-9_]+)");
  size_t checked = 0;
  for (const auto& d : dashboards())
    for (const auto& p : d.doc["panels"])
      for (const auto& t : p["targets"]) {
        if (is_postgres(t["datasource"])) continue;
        std::string expr = t["expr"];
        for (auto it = std::sregex_iterator(expr.begin(), expr.end(), name);
             it != std::sregex_iterator(); ++it) {
          std::string m = it->str();
          if (m.size() > 7 && m.ends_with("_bucket") && histograms.count(m.substr(0, m.size() - 7)))
            m = m.substr(0, m.size() - 7);
          EXPECT_TRUE(registered.count(m)) << p["title"] << ": " << it->str() << " is not exported";
          ++checked;
        }
      }
  EXPECT_GE(checked, 8u);
}

class GrafanaPanels : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (skip_reason()) return;
    PGconn* c = PQconnectdb(std::getenv("SCOPE_TEST_POSTGRES_URL"));
    PQclear(PQexec(c, (std::string("SET client_min_messages TO warning; DROP SCHEMA IF EXISTS ") +
                       kSchema + " CASCADE")
                          .c_str()));
    PQfinish(c);
    store::PostgresOptions o;
    o.url = std::getenv("SCOPE_TEST_POSTGRES_URL");
    o.schema = kSchema;
    auto s = store::PostgresStore::open(o);
    ASSERT_TRUE(s) << s.error();
    store_ = std::move(s.value());
    write_workload(*store_);
  }
  static void TearDownTestSuite() { store_.reset(); }
  void SetUp() override {
    if (const char* why = skip_reason()) {
      std::printf("skipped: %s\n", why);
      GTEST_SKIP() << why;
    }
    ASSERT_TRUE(store_);
  }

  // All of them, with every variable at All, over [kT0, kT0 + 10 min] in 1-minute intervals.
  static std::map<std::string, Rows> run_all(const std::map<std::string, Selection>& current = {}) {
    Reader db;
    std::map<std::string, Rows> out;
    for (const auto& d : dashboards()) {
      auto r = run_dashboard(db, d, current, kRange, "1m", 60000);
      out.insert(r.begin(), r.end());
    }
    return out;
  }

  static json api(const std::string& path, std::map<std::string, std::string> query = {}) {
    http::Router router;
    server::add_query_routes(router, *store_);
    auto m = router.match("GET", "/api/v1/query" + path);
    EXPECT_TRUE(m.route) << path;
    if (!m.route) return {};
    http::Request req;
    req.method = "GET";
    req.path = "/api/v1/query" + path;
    query["from"] = std::to_string(kRange.from_ns);
    query["to"] = std::to_string(kRange.to_ns);
    req.query = std::move(query);
    req.params = m.params;
    http::Response res = m.route->handler(req);
    EXPECT_EQ(res.status, 200) << path << ": " << res.body;
    return json::parse(res.body, nullptr, false);
  }

  static constexpr Range kRange{kT0, kT0 + 600 * kS};
  static inline std::unique_ptr<store::PostgresStore> store_;
};

// What each query must answer on the known workload (see write_workload), all variables at All,
// worked out from it by hand, e.g.: k_gemm launched 4 times (3 on n1, 1 on n2) for 607 ns;
// htod 2 MB in 2 ms of copy calls = 1e9 B/s; trainer's 0x1000 freed, 0x2000 (500 B) outstanding
// when it exits at 200 s (a leak), o'hare's 64 B outstanding and alive; decodes of 20, 25, 30,
// 50, 80 and 100 ns: nearest rank p50 = 30, p99 = 100; the first request's prompt decodes end
// 250 ns after it starts, the second's 80 ns; 23 prompt tokens in 230 ns = 1e8 tokens/s.
const std::map<std::string, std::vector<std::string>>& expected() {
  static const std::map<std::string, std::vector<std::string>> e = {
      {"cuda.json/$comm", {"bash", "cat", "o'hare", "other", "trainer"}},
      {"cuda.json/$node", {"n1", "n2"}},
      {"cuda.json/$pid", {"100", "101", "200", "300", "400"}},
      {"cuda.json/Copies by direction/A",
       {"dtod|1|3000000|1000000|3000000000", "dtoh|1|2000000|4000000|500000000",
        "htod|2|2000000|2000000|1000000000"}},
      {"cuda.json/Copy bandwidth by direction/A",
       {"t+0|dtoh|500000000", "t+0|htod|1000000000", "t+60|dtod|3000000000"}},
      {"cuda.json/Device memory in use per process/A", {"t+0|n1:100|1500", "t+60|n1:101|64"}},
      {"cuda.json/Kernel launches per interval/A",
       {"t+0|k_gemm|3", "t+0|k_relu|1", "t+60|(unnamed)|1", "t+60|k_gemm|1"}},
      {"cuda.json/Outstanding device memory at the end of the range/A",
       {"n1|100|trainer|1|500|t", "n1|101|o'hare|1|64|f"}},
      {"cuda.json/Synchronisation stall time per interval/A",
       {"t+0|2000005500|2000000000", "t+60|20000|20000"}},
      {"cuda.json/Synchronisation stalls by duration/A",
       {"< 1 µs|1", "< 10 µs|1", "< 100 µs|1", "≥ 1 s|1"}},
      {"cuda.json/Top kernels/A", {"k_gemm|4|607|151.75", "k_relu|1|50|50", "(unnamed)|1|5|5"}},
      {"host.json/$comm", {"bash", "cat", "o'hare", "other", "trainer"}},
      {"host.json/$node", {"n1", "n2"}},
      {"host.json/$pid", {"100", "101", "200", "300", "400"}},
      {"host.json/Context switches per command/A", {"t+0|other|3", "t+0|trainer|20", "t+60|cat|2"}},
      {"host.json/File opens per command/A", {"t+0|cat|3", "t+60|o'hare|1"}},
      {"host.json/Off-CPU time per command/A", {"t+0|other|9", "t+0|trainer|200", "t+60|cat|1"}},
      {"host.json/Process starts and exits per interval/A",
       {"t+0|execs|2", "t+0|exits|1", "t+180|exits|1"}},
      {"host.json/Process starts/A",
       {R"(2023-11-14 22:14:02+00|n1|100|200|trainer|/opt/trainer|["/opt/trainer","--model","x.gguf"]|0|0|NULL)",
        R"(2023-11-14 22:14:01+00|n1|200|1|bash|/usr/bin/bash|["bash","-c","exit 3"]|0|3|NULL)"}},
      {"host.json/Run-queue latency per command/A",
       {"t+0|other|2", "t+0|trainer|10", "t+60|cat|1"}},
      {"host.json/Scheduling by command/A",
       {"trainer|20|18|2|200|10", "other|3|2|1|9|2", "cat|2|1|1|1|1"}},
      {"host.json/Syscalls: top by count/A",
       {"ioctl|20|0|5000", "read|10|1|100", "write|5|3|1000"}},
      {"host.json/Syscalls: top by errors/A",
       {"write|5|3|1000", "read|10|1|100", "ioctl|20|0|5000"}},
      {"host.json/Syscalls: top by time/A", {"ioctl|20|0|5000", "write|5|3|1000", "read|10|1|100"}},
      {"host.json/TCP connections/A",
       {"2023-11-14 "
        "22:14:09+00|n1|100|trainer|close|10.0.0.1:40000|10.0.0.2:443|NULL|NULL|6000000000|4096|"
        "512",
        "2023-11-14 "
        "22:14:03+00|n1|100|trainer|connect|10.0.0.1:40000|10.0.0.2:443|0|1500|NULL|NULL|NULL"}},
      {"host.json/TCP events per interval/A", {"t+0|close|1", "t+0|connect|1"}},
      {"host.json/Top opened paths/A", {"/etc/passwd|2|0", "/nope|1|1", "/x|1|0"}},
      {"llm.json/$comm", {"bash", "cat", "o'hare", "other", "trainer"}},
      {"llm.json/$node", {"n1", "n2"}},
      {"llm.json/$pid", {"100", "101", "200", "300", "400"}},
      {"llm.json/Decode latency over the range/A", {"6|30|100"}},
      {"llm.json/Decode latency p50 / p99/A", {"t+0|30|100", "t+60|25|80"}},
      {"llm.json/Time to first token over the range/A", {"2|80|250"}},
      {"llm.json/Time to first token per interval/A", {"t+0|1|250", "t+60|1|80"}},
      {"llm.json/Tokens over the range/A", {"generation|3|40000000", "prompt|23|100000000"}},
      {"llm.json/Tokens per second: prompt vs generation/A",
       {"t+0|generation|40000000", "t+0|prompt|100000000", "t+60|generation|40000000",
        "t+60|prompt|100000000"}},
      {"llm.json/ggml graph computes/A", {"t+0|1|40"}},
      {"llm.json/ggml memory in use per process/A", {"t+0|n1:100|4096"}},
  };
  return e;
}

TEST_F(GrafanaPanels, EveryPanelAndVariableAnswersTheKnownWorkloadExactly) {
  auto results = run_all();
  const bool print = std::getenv("SCOPE_GRAFANA_PRINT") != nullptr;
  std::set<std::string> used;
  for (const auto& [key, rows] : results) {
    auto got = lines(rows);
    if (print) {
      std::printf("      {\"%s\",\n       {", key.c_str());
      for (size_t k = 0; k < got.size(); ++k)
        std::printf("%s\"%s\"", k ? ", " : "", got[k].c_str());
      std::printf("}},\n");
    }
    auto it = expected().find(key);
    if (it == expected().end()) {
      ADD_FAILURE() << key << ": no expected answer in this test; it gave\n" << joined(got);
      continue;
    }
    used.insert(key);
    EXPECT_EQ(got, it->second) << key << ": got\n"
                               << joined(got) << "expected\n"
                               << joined(it->second);
  }
  for (const auto& [key, rows] : expected())
    EXPECT_TRUE(used.count(key)) << key << ": expected, but no dashboard has that query";
}

TEST_F(GrafanaPanels, VariablesNarrowEveryPanel) {
  // One node picked (a single value of a multi-value variable: quoted).
  auto n2 = run_all({{"node", {{"n2"}}}});
  EXPECT_EQ(lines(n2["cuda.json/$comm"]), std::vector<std::string>{"other"});
  EXPECT_EQ(lines(n2["cuda.json/$pid"]), std::vector<std::string>{"400"});
  EXPECT_EQ(lines(n2["cuda.json/Kernel launches per interval/A"]),
            std::vector<std::string>{"t+0|k_gemm|1"});
  EXPECT_EQ(lines(n2["host.json/Scheduling by command/A"]),
            std::vector<std::string>{"other|3|2|1|9|2"});
  EXPECT_TRUE(n2["llm.json/Decode latency p50 / p99/A"].rows.empty());
  // A command with a quote in its name, and two pids.
  auto ohare = run_all({{"comm", {{"o'hare"}}}});
  EXPECT_EQ(lines(ohare["cuda.json/Top kernels/A"]), std::vector<std::string>{"k_gemm|1|200|200"});
  EXPECT_EQ(lines(ohare["cuda.json/Outstanding device memory at the end of the range/A"]),
            std::vector<std::string>{"n1|101|o'hare|1|64|f"});
  EXPECT_EQ(lines(ohare["host.json/Top opened paths/A"]), std::vector<std::string>{"/x|1|0"});
  auto pids = run_all({{"pid", {{"300", "400"}}}});
  EXPECT_EQ(lines(pids["host.json/Scheduling by command/A"]),
            (std::vector<std::string>{"other|3|2|1|9|2", "cat|2|1|1|1|1"}));
  EXPECT_EQ(lines(pids["host.json/Syscalls: top by count/A"]),
            (std::vector<std::string>{"read|10|1|100", "write|5|3|1000"}));
}

// The panels that show what an API page shows give the API's numbers.
TEST_F(GrafanaPanels, PanelsAgreeWithTheQueryApi) {
  auto r = run_all();
  auto panel = [&](const std::string& key) { return lines(r[key]); };
  {
    std::vector<std::string> a;
    const json answer = api("/cuda/top-kernels");
    for (const auto& k : answer["kernels"])
      a.push_back((k["kernel"] == "" ? std::string("(unnamed)") : k["kernel"].get<std::string>()) +
                  "|" + std::to_string(k["launches"].get<int64_t>()) + "|" +
                  std::to_string(k["total_ns"].get<int64_t>()));
    auto p = panel("cuda.json/Top kernels/A");
    for (auto& l : p) l = l.substr(0, l.rfind('|'));  // without avg_ns
    expect_same(p, a, "top kernels");
  }
  {
    std::vector<std::string> a;
    const json answer = api("/cuda/copies");
    for (const auto& k : answer["directions"])
      a.push_back(k["kind"].get<std::string>() + "|" + k["copies"].dump() + "|" +
                  k["bytes"].dump() + "|" + k["duration_ns"].dump() + "|" +
                  k["bytes_per_s"].dump());
    expect_same(panel("cuda.json/Copies by direction/A"), a, "copies");
  }
  {
    std::vector<std::string> a;
    json syncs = api("/cuda/syncs");
    for (const auto& b : syncs["buckets"])
      if (b["count"].get<int64_t>() > 0) a.push_back(b["count"].dump());
    auto p = panel("cuda.json/Synchronisation stalls by duration/A");
    for (auto& l : p) l = l.substr(l.rfind('|') + 1);
    expect_same(p, a, "sync stalls");
  }
  {
    // Bytes outstanding at the end of the range and the leak of the process that exited.
    std::vector<std::string> a;
    const json answer = api("/cuda/memory");
    for (const auto& pr : answer["processes"])
      if (pr["bytes"].get<int64_t>() > 0)
        a.push_back(pr["node"].get<std::string>() + "|" + pr["pid"].dump() + "|" +
                    pr["bytes"].dump() + "|" + (pr["exited"].get<bool>() ? "t" : "f") + "|" +
                    pr["leaked_bytes"].dump());
    std::vector<std::string> p;
    for (const auto& row : r["cuda.json/Outstanding device memory at the end of the range/A"].rows)
      p.push_back(row[0] + "|" + row[1] + "|" + row[4] + "|" + row[5] + "|" +
                  (row[5] == "t" ? row[4] : "0"));
    expect_same(p, a, "device memory");
  }
  {
    std::vector<std::string> a;
    const json answer = api("/host/sched");
    for (const auto& c : answer["comms"])
      a.push_back(c["comm"].get<std::string>() + "|" + c["switches"].dump() + "|" +
                  c["voluntary"].dump() + "|" + c["involuntary"].dump() + "|" +
                  c["offcpu_ns"].dump() + "|" + c["runq_ns"].dump());
    expect_same(panel("host.json/Scheduling by command/A"), a, "sched");
  }
  for (const auto& [title, sort] : std::vector<std::pair<std::string, std::string>>{
           {"count", "count"}, {"time", "time"}, {"errors", "errors"}}) {
    std::vector<std::string> a;
    const json answer = api("/host/syscalls", {{"sort", sort}});
    for (const auto& c : answer["syscalls"])
      a.push_back(c["name"].get<std::string>() + "|" + c["count"].dump() + "|" +
                  c["errors"].dump() + "|" + c["total_ns"].dump());
    expect_same(panel("host.json/Syscalls: top by " + title + "/A"), a, "syscalls by " + sort);
  }
  {
    std::vector<std::string> a;
    const json answer = api("/host/opens");
    for (const auto& c : answer["paths"])
      a.push_back(c["path"].get<std::string>() + "|" + c["opens"].dump() + "|" +
                  c["errors"].dump());
    expect_same(panel("host.json/Top opened paths/A"), a, "opens");
  }
  {
    json t = api("/llm/tokens");
    expect_same(
        panel("llm.json/Tokens over the range/A"),
        {"generation|" + t["generation_tokens"].dump() + "|" + t["generation_tokens_per_s"].dump(),
         "prompt|" + t["prompt_tokens"].dump() + "|" + t["prompt_tokens_per_s"].dump()},
        "tokens");
  }
  {
    json d = api("/llm/decode");
    expect_same(
        panel("llm.json/Decode latency over the range/A"),
        {d["decodes"].dump() + "|" + d["decode_p50_ns"].dump() + "|" + d["decode_p99_ns"].dump()},
        "decode latency");
    expect_same(
        panel("llm.json/Time to first token over the range/A"),
        {d["requests"].dump() + "|" + d["ttft_p50_ns"].dump() + "|" + d["ttft_p99_ns"].dump()},
        "time to first token");
  }
}

// ---- a trace of the CUDA demo ------------------------------------------------------------------

// The CUDA dashboard over events traced for real: `scope trace --json` of the stand-in CUDA demo
// (testdata/demo/cuda_demo.cpp), its lines read back into rows (event::row_from_json) and
// written to a PostgreSQL store of its own, then every dashboard's queries run over the trace's
// range. The CUDA panels answer what the demo says it did: its copies per direction with their
// bytes, its launches, its syncs and the 3 MiB it leaks at exit.
TEST(GrafanaOnATrace, CudaPanelsCountTheDemoTracedForReal) {
  if (const char* why = skip_reason()) {
    std::printf("skipped: %s\n", why);
    GTEST_SKIP() << why;
  }
  if (geteuid() != 0) {
    std::printf("skipped: tracing needs root\n");
    GTEST_SKIP() << "tracing needs root";
  }
  const std::string out =
      fs::temp_directory_path() / ("scope-grafana-trace-" + std::to_string(getpid()));
  const std::string cmd = std::string(SCOPE_BINARY) + " trace --json --probes cuda,exec -- " +
                          SCOPE_TESTDATA_DIR + "/bin/cuda_demo --threads 2 > " + out + ".json 2> " +
                          out + ".err";
  int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(out + ".err");
  // The demo's stdout goes to stderr under --json: its `expect {...}` line.
  json want;
  {
    std::istringstream err(slurp(out + ".err"));
    for (std::string line; std::getline(err, line);)
      if (line.rfind("expect ", 0) == 0) want = json::parse(line.substr(7), nullptr, false);
  }
  ASSERT_TRUE(want.is_object()) << slurp(out + ".err");
  event::Batch batch;
  batch.node = "traced";
  batch.boot_id = "boot-1";
  batch.first_seq = 1;
  int64_t first = INT64_MAX, last = 0;
  uint32_t demo = 0;
  {
    std::istringstream events(slurp(out + ".json"));
    for (std::string line; std::getline(events, line);) {
      auto row = event::row_from_json(json::parse(line, nullptr, false));
      if (!row) continue;
      first = std::min(first, row->ts_ns);
      last = std::max(last, row->ts_ns);
      if (row->comm == "cuda_demo") demo = row->pid;
      batch.events.push_back(std::move(*row));
    }
  }
  fs::remove(out + ".json");
  fs::remove(out + ".err");
  ASSERT_NE(demo, 0u);
  const char* schema = "grafana_trace";
  PGconn* c = PQconnectdb(std::getenv("SCOPE_TEST_POSTGRES_URL"));
  PQclear(PQexec(c, (std::string("SET client_min_messages TO warning; DROP SCHEMA IF EXISTS ") +
                     schema + " CASCADE")
                        .c_str()));
  PQfinish(c);
  store::PostgresOptions o;
  o.url = std::getenv("SCOPE_TEST_POSTGRES_URL");
  o.schema = schema;
  auto st = store::PostgresStore::open(o);
  ASSERT_TRUE(st) << st.error();
  ASSERT_TRUE((*st)->write(batch));

  // The trace's range in whole minutes (Grafana's range has millisecond precision).
  const int64_t minute = 60 * kS;
  Range range{first / minute * minute, (last / minute + 1) * minute};
  Reader db(schema);
  std::map<std::string, Rows> r;
  for (const auto& d : dashboards()) {  // every query runs on the trace (an error fails)
    auto one = run_dashboard(db, d, {}, range, "1m", 60000);
    r.insert(one.begin(), one.end());
  }
  const int64_t n = 2 * 10;  // threads x iterations
  std::map<std::string, std::string> copies;
  for (const auto& row : r["cuda.json/Copies by direction/A"].rows)
    copies[row[0]] = row[1] + "|" + row[2];
  EXPECT_EQ(copies, (std::map<std::string, std::string>{
                        {"default", std::to_string(n) + "|" + std::to_string(n * 4096)},
                        {"dtod", std::to_string(n) + "|" + std::to_string(n * 4096)},
                        {"dtoh", std::to_string(n) + "|" + std::to_string(n * 4096)},
                        {"htod", std::to_string(2 * n) + "|" + std::to_string(n * (4096 + 8192))}}))
      << joined(lines(r["cuda.json/Copies by direction/A"]));
  int64_t launches = 0;
  for (const auto& row : r["cuda.json/Top kernels/A"].rows) launches += std::stoll(row[1]);
  EXPECT_EQ(launches, want["launches"].get<int64_t>())
      << joined(lines(r["cuda.json/Top kernels/A"]));
  int64_t syncs = 0;
  for (const auto& row : r["cuda.json/Synchronisation stalls by duration/A"].rows)
    syncs += std::stoll(row.back());
  EXPECT_EQ(syncs, want["syncs"].get<int64_t>());
  bool leak = false;
  for (const auto& row : r["cuda.json/Outstanding device memory at the end of the range/A"].rows)
    if (row[1] == std::to_string(demo)) {
      leak = true;
      EXPECT_EQ(row[4], "3145728");
      EXPECT_EQ(row[5], "t");  // it exited holding it: a leak
    }
  EXPECT_TRUE(leak) << joined(
      lines(r["cuda.json/Outstanding device memory at the end of the range/A"]));
}

}  // namespace
}  // namespace scope::grafanatest
