#include "cli/nodes_command.h"

#include <unistd.h>

#include <cstdio>

#include "common/data_dir.h"
#include "common/strings.h"

namespace scope::cli {

namespace {

int list(const ApiClient& api, bool json) {
  auto j = api_answer(api.call("GET", "/api/v1/nodes"), 200);
  if (j.is_discarded() || !j.is_object()) return 1;
  if (json) {
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  const auto& nodes = j.value("nodes", nlohmann::json::array());
  if (nodes.empty()) {
    std::printf("no nodes yet: add one with 'scope nodes add NAME'\n");
    return 0;
  }
  std::printf("%-20s %-8s %-20s %-20s %-10s %-24s %s\n", "NODE", "STATE", "SINCE (UTC)",
              "LAST SEEN (UTC)", "EVENTS/S", "PROBES", "KEY");
  for (const auto& n : nodes) {
    const auto& report = n.value("report", nlohmann::json::object());
    std::vector<std::string> running;
    for (const auto& f : report.value("running", nlohmann::json::array()))
      running.push_back(f.get<std::string>());
    std::string probes =
        report.contains("running") ? (running.empty() ? "none" : join(running, ",")) : "-";
    if (n.value("probes", nlohmann::json::object()).value("pending", false)) probes += " (pending)";
    std::string key = !n.contains("enrolled") ? "-"
                      : n.value("enrolled", false)
                          ? n.value("public_key_fingerprint", "")
                          : "token until " + utc_text(n.value("enroll_expires_ns", int64_t{0}));
    char rate[32];
    std::snprintf(rate, sizeof rate, "%.0f", report.value("events_per_s", 0.0));
    std::printf("%-20s %-8s %-20s %-20s %-10s %-24s %s\n", n.value("name", "").c_str(),
                n.value("state", "").c_str(), utc_text(n.value("since_ns", int64_t{0})).c_str(),
                utc_text(n.value("last_seen_ns", int64_t{0})).c_str(),
                report.contains("events_per_s") ? rate : "-", probes.c_str(), key.c_str());
  }
  return 0;
}

int add(const ApiClient& api, const NodesOptions& o) {
  // The file first: a token the server issued must not be lost because it cannot be written.
  int fd = -1;
  if (!o.token_file.empty()) {
    auto f = create_private_file(o.token_file);
    if (!f) {
      std::fprintf(stderr, "scope: --token-file: %s\n", f.error().c_str());
      return 1;
    }
    fd = *f;
  }
  auto j = api_answer(api.call("POST", "/api/v1/nodes", {{"name", o.add}}), 201);
  std::string token = j.is_object() ? j.value("enrollment_token", "") : "";
  if (token.empty()) {
    if (fd >= 0) {
      ::close(fd);
      ::unlink(o.token_file.c_str());
    }
    return 1;
  }
  std::string expires = utc_text(j.value("expires_ns", int64_t{0}));
  if (fd >= 0) {
    std::string line = token + "\n";
    bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ::close(fd);
    if (!written) {
      std::fprintf(stderr, "scope: writing %s failed; the token is: %s\n", o.token_file.c_str(),
                   token.c_str());
      return 1;
    }
    std::printf("node %s added; its enrollment token (once, until %s UTC) is in %s\n",
                o.add.c_str(), expires.c_str(), o.token_file.c_str());
  } else {
    std::printf("node %s added; its enrollment token (once, until %s UTC):\n%s\n", o.add.c_str(),
                expires.c_str(), token.c_str());
  }
  std::printf(
      "on the node, with the token in a file:\n  scope agent --enroll-file FILE --server %s\n",
      api.url.c_str());
  return 0;
}

int remove(const ApiClient& api, const std::string& name) {
  auto j = api_answer(api.call("DELETE", "/api/v1/nodes/" + name), 204);
  if (j.is_discarded()) return 1;
  std::printf("node %s removed: its key is revoked, its batches are refused from now on\n",
              name.c_str());
  return 0;
}

}  // namespace

NodesCommand add_nodes_command(CLI::App& app, NodesOptions& o) {
  NodesCommand c;
  c.nodes = app.add_subcommand(
      "nodes",
      "The fleet's nodes on a running 'scope server' or 'scope up': list them with their "
      "liveness, rate and probes (the default), add one (admin: its one-time enrollment token) "
      "or remove one (admin: its key is revoked)");
  add_api_flags(c.nodes, o.api);
  c.nodes->add_flag("--json", o.json, "Print the API's JSON");
  c.nodes->fallthrough();
  c.add = c.nodes->add_subcommand("add", "Add a node; prints its one-time enrollment token");
  c.add->add_option("name", o.add, "1-64 of A-Z a-z 0-9 . _ -")->required();
  c.add->add_option("--token-file", o.token_file,
                    "Write the token to this new file (mode 0600) instead of printing it");
  c.remove = c.nodes->add_subcommand("rm", "Remove a node and revoke its key");
  c.remove->add_option("name", o.remove, "The node")->required();
  c.nodes->footer(
      "Examples:\n"
      "  scope nodes --data-dir /var/lib/scope-server\n"
      "  scope nodes add gpu-7 --token-file gpu-7.token\n"
      "  scope nodes rm gpu-7");
  return c;
}

int run_nodes(const NodesCommand& c, const NodesOptions& o) {
  auto api = api_client(o.api);
  if (!api) return report_api_error(api.failure());
  if (c.add->parsed()) return add(*api, o);
  if (c.remove->parsed()) return remove(*api, o.remove);
  return list(*api, o.json);
}

}  // namespace scope::cli
