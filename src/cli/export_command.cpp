#include "cli/export_command.h"

#include <unistd.h>

#include <cstdio>

namespace scope::cli {

namespace {

std::string url_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace

CLI::App* add_export_command(CLI::App& app, ExportOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "export", "Export stored events to a file another tool opens (Perfetto for now)");
  cmd->require_subcommand(1);
  CLI::App* perfetto = cmd->add_subcommand(
      "perfetto",
      "One node's events as a Perfetto trace (open it at https://ui.perfetto.dev): processes and "
      "threads with their command lines, CUDA calls as slices, launches as instants per stream, "
      "device and ggml memory as counters, llama decodes and ggml graphs as slices, execs and "
      "exits, off-CPU and run-queue time");
  perfetto->add_option("-o,--output", o.output, "The trace file to write")->required();
  perfetto->add_option("--from", o.from, "Start: Unix ns, or ago (5m, 1h, 2d)")
      ->envname("SCOPE_FROM")
      ->capture_default_str();
  perfetto->add_option("--to", o.to, "End: Unix ns, ago, or now")
      ->envname("SCOPE_TO")
      ->capture_default_str();
  perfetto->add_option("--node", o.node, "The node (needed when the store holds several)")
      ->envname("SCOPE_NODE");
  perfetto->add_option("--pid", o.pid, "Only this process")->check(CLI::Range(1, 1 << 30));
  perfetto->add_option("--timeout", o.timeout_s, "Give up after this many seconds")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  add_api_flags(perfetto, o.api);
  perfetto->footer(
      "Examples:\n"
      "  scope export perfetto -o last-hour.pftrace\n"
      "  scope export perfetto --from 10m --pid 4242 -o run.pftrace --data-dir /tmp/scope\n"
      "  scope export perfetto --server https://scope.example --node gpu-1 -o gpu-1.pftrace");
  return cmd;
}

int run_export(const ExportOptions& o) {
  auto api = api_client(o.api);
  if (!api) return report_api_error(api.failure());
  std::string path =
      "/api/v1/export/perfetto?from=" + url_escape(o.from) + "&to=" + url_escape(o.to);
  if (!o.node.empty()) path += "&node=" + url_escape(o.node);
  if (o.pid) path += "&pid=" + std::to_string(o.pid);
  http::ClientRequest req;
  req.url = api->url + path;
  if (!api->token.empty()) req.headers = {{"Authorization", "Bearer " + api->token}};
  req.timeout = std::chrono::seconds(o.timeout_s);
  // Written beside the output and renamed over it when whole: a failed export leaves no half file.
  std::string partial = o.output + ".partial";
  req.save_to = partial;
  auto res = http::fetch(req);
  if (!res) {
    ::unlink(partial.c_str());
    return report_api_error(res.failure());
  }
  if (res->status != 200) {
    ::unlink(partial.c_str());
    std::fprintf(stderr, "scope: %s\n", http::error_message(*res).c_str());
    return res->status == 400 ? 2 : 1;
  }
  if (::rename(partial.c_str(), o.output.c_str()) != 0) {
    std::perror(("scope: " + o.output).c_str());
    return 1;
  }
  const std::string* summary = res->header("x-scope-export");
  auto j = summary ? nlohmann::json::parse(*summary, nullptr, false) : nlohmann::json();
  if (j.is_object()) {
    uint64_t bytes = j.value("bytes", uint64_t{0}), launches = j.value("launches", uint64_t{0});
    std::fprintf(
        stderr,
        "scope: wrote %s (node %s): %llu bytes, %llu processes, %llu launches, %llu CUDA "
        "calls, %llu GPU runs, %llu llama and %llu ggml calls, %llu execs, %llu exits, %llu memory "
        "values",
        o.output.c_str(), j.value("node", std::string("?")).c_str(),
        static_cast<unsigned long long>(bytes),
        static_cast<unsigned long long>(j.value("processes", 0ULL)),
        static_cast<unsigned long long>(launches),
        static_cast<unsigned long long>(j.value("cuda_calls", 0ULL)),
        static_cast<unsigned long long>(j.value("gpu_runs", 0ULL)),
        static_cast<unsigned long long>(j.value("llama_calls", 0ULL)),
        static_cast<unsigned long long>(j.value("ggml_calls", 0ULL)),
        static_cast<unsigned long long>(j.value("execs", 0ULL)),
        static_cast<unsigned long long>(j.value("exits", 0ULL)),
        static_cast<unsigned long long>(j.value("memory_values", 0ULL)));
    std::fputs("\n", stderr);
  }
  return 0;
}

}  // namespace scope::cli
