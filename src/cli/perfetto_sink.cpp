#include "cli/perfetto_sink.h"

#include <cerrno>
#include <cstring>

namespace scope::cli {

namespace {

constexpr int64_t kWindowNs = 1'000'000'000;

std::vector<std::string> split_spaces(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(' ', i);
    if (j == std::string::npos) j = s.size();
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<PerfettoSink>> PerfettoSink::open(const std::string& path,
                                                         families::EventSink* inner,
                                                         bool redact_args) {
  std::FILE* f = std::fopen(path.c_str(), "wbe");
  if (!f) return make_error(Errc::kBadInput, "--perfetto " + path + ": " + std::strerror(errno));
  return std::unique_ptr<PerfettoSink>(new PerfettoSink(f, inner, redact_args));
}

PerfettoSink::PerfettoSink(std::FILE* f, families::EventSink* inner, bool redact_args)
    : file_(f), inner_(inner), processes_(std::chrono::milliseconds(1000), redact_args) {
  writer_ = std::make_unique<perfetto::TraceWriter>([this](std::string_view bytes) {
    return std::fwrite(bytes.data(), 1, bytes.size(), file_) == bytes.size();
  });
  // The command line of a process still running; its comm when it is gone.
  events_ = std::make_unique<perfetto::EventTranslator>(
      *writer_,
      [this](uint32_t pid, int64_t) -> std::optional<perfetto::ProcessDetails> {
        const discover::ProcessInfo* info = processes_.lookup(pid);
        if (!info) return std::nullopt;
        return perfetto::ProcessDetails{"", split_spaces(info->cmdline)};
      },
      true);
}

PerfettoSink::~PerfettoSink() {
  if (file_) std::fclose(file_);
}

void PerfettoSink::add(const families::Event& e) {
  if (inner_ && inner_->wants_events()) inner_->add(e);
  event::EventRow row = e.row();
  newest_ = std::max(newest_, row.ts_ns);
  held_.push(std::move(row));
}

void PerfettoSink::write_until(int64_t ts) {
  while (!held_.empty() && held_.top().ts_ns <= ts) {
    events_->add(held_.top());
    held_.pop();
  }
}

void PerfettoSink::release() { write_until(newest_ - kWindowNs); }

Status PerfettoSink::finish() {
  write_until(INT64_MAX);
  writer_->finish();
  bool ok = writer_->ok() && std::fflush(file_) == 0;
  ok = std::fclose(file_) == 0 && ok;
  file_ = nullptr;
  if (!ok)
    return make_error("the Perfetto trace could not be written: " +
                      std::string(std::strerror(errno)));
  return Ok{};
}

}  // namespace scope::cli
