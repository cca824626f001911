#include "families/cuda_output.h"

#include <cinttypes>
#include <vector>

#include "common/text.h"

namespace scope {

namespace {

std::string dims(const std::array<uint32_t, 3>& d) {
  return sfmt("(%" PRIu32 ",%" PRIu32 ",%" PRIu32 ")", d[0], d[1], d[2]);
}

// As the grid and block columns hold them: a JSON array.
std::string dims_text(const std::array<uint32_t, 3>& d) {
  return sfmt("[%" PRIu32 ",%" PRIu32 ",%" PRIu32 "]", d[0], d[1], d[2]);
}

nlohmann::json dims_json(const std::array<uint32_t, 3>& d) {
  return nlohmann::json::array({d[0], d[1], d[2]});
}

bool is_gpu_op(uint8_t op) { return op == CUDA_OP_GPU_KERNEL || op == CUDA_OP_GPU_MEMCPY; }

}  // namespace

std::string cuda_hex(uint64_t value) { return sfmt("0x%" PRIx64, value); }

std::string cuda_duration(uint64_t ns) { return duration_text(ns); }

std::string cuda_bytes(uint64_t bytes) { return bytes_text(bytes); }

std::string format_cuda_line(const CudaEvent& e, uint64_t trace_start_ns) {
  double secs = (static_cast<double>(e.ts_ns) - static_cast<double>(trace_start_ns)) / 1e9;
  std::string who = sfmt("%s[%" PRIu32 "/%" PRIu32 "]", e.comm.c_str(), e.pid, e.tid);
  std::string call(cuda_call_name(e.call));
  if (call.empty())
    call = is_gpu_op(e.op) ? "cupti" : sfmt("call#%u", static_cast<unsigned>(e.call));
  std::string line = sfmt("%11.6f ", secs) + pad_right(who, 24) + " " + pad_right(call, 22) + " " +
                     pad_right(std::string(cuda_op_name(e.op)), 12) + " ";

  std::string detail;
  auto add = [&detail](const std::string& part) {
    if (!detail.empty()) detail += ' ';
    detail += part;
  };
  auto add_duration = [&] {
    if (e.duration_ns) add(cuda_duration(*e.duration_ns));
  };
  auto add_mem = [&] {
    if (e.mem != CUDA_MEM_DEVICE) add(sfmt("mem=%s", std::string(cuda_mem_name(e.mem)).c_str()));
  };
  switch (e.op) {
    case CUDA_OP_LAUNCH:
      add(e.kernel.empty() ? "?" + cuda_hex(e.handle) : e.kernel);
      add("grid=" + dims(e.grid));
      add("block=" + dims(e.block));
      add(sfmt("smem=%" PRIu32, e.shared_mem));
      add("stream=" + cuda_hex(e.stream));
      break;
    case CUDA_OP_ALLOC:
      add(sfmt("bytes=%" PRIu64, e.bytes));
      add("ptr=" + cuda_hex(e.ptr));
      add_mem();
      add_duration();
      break;
    case CUDA_OP_FREE:
      add("ptr=" + cuda_hex(e.ptr));
      add_mem();
      add_duration();
      break;
    case CUDA_OP_MEMCPY:
      add(std::string(cuda_copy_kind_name(e.kind)));
      add(sfmt("%" PRIu64 "B", e.bytes));
      add_duration();
      if (e.async) add("async");
      break;
    case CUDA_OP_MEMSET:
      add(sfmt("%" PRIu64 "B", e.bytes));
      add("ptr=" + cuda_hex(e.ptr));
      if (e.async) add("async");
      break;
    case CUDA_OP_SYNC:
      add_duration();
      if (e.stream != 0) add("stream=" + cuda_hex(e.stream));
      break;
    case CUDA_OP_GRAPH_LAUNCH:
      add("graph=" + cuda_hex(e.handle));
      add("stream=" + cuda_hex(e.stream));
      break;
    case CUDA_OP_GPU_KERNEL:
    case CUDA_OP_GPU_MEMCPY:
      if (e.op == CUDA_OP_GPU_KERNEL) {
        add(e.kernel.empty() ? "?" : e.kernel);
      } else {
        add(std::string(cuda_copy_kind_name(e.kind)));
        add(sfmt("%" PRIu64 "B", e.bytes));
      }
      add("gpu=" + cuda_duration(e.duration_ns.value_or(0)));
      if (e.queue_ns) add("queued=" + cuda_duration(*e.queue_ns));
      add(sfmt("stream=%" PRIu64, e.stream));
      add(sfmt("corr=%" PRIu32, e.correlation_id));
      break;
    default:
      add_duration();
      break;
  }
  if (e.ret) add(sfmt("ret=%" PRId32, *e.ret));
  line += detail;
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

event::EventRow cuda_row(const CudaEvent& e) {
  // Column indexes, looked up once: launches are the hot path.
  static const auto& s = *event::schema_for("cuda");
  static const size_t call = s.column("call"), op = s.column("op"), ret = s.column("ret"),
                      duration_ns = s.column("duration_ns"), kernel = s.column("kernel"),
                      grid = s.column("grid"), block = s.column("block"),
                      shared_mem = s.column("shared_mem"), stream = s.column("stream"),
                      handle = s.column("handle"), ptr = s.column("ptr"), bytes = s.column("bytes"),
                      kind = s.column("kind"), mem = s.column("mem"), async = s.column("async"),
                      kernel_file = s.column("kernel_file"),
                      kernel_offset = s.column("kernel_offset"), queue_ns = s.column("queue_ns"),
                      correlation_id = s.column("correlation_id");
  auto i64 = [](uint64_t v) { return static_cast<int64_t>(v); };
  auto r = event::make_row(s, i64(e.ts_ns), e.pid, e.tid, e.comm);
  r.values[call] = is_gpu_op(e.op) ? std::string("cupti") : std::string(cuda_call_name(e.call));
  r.values[op] = std::string(cuda_op_name(e.op));
  if (e.ret) r.values[ret] = int64_t{*e.ret};
  if (e.duration_ns) r.values[duration_ns] = i64(*e.duration_ns);
  switch (e.op) {
    case CUDA_OP_LAUNCH:
      if (!e.kernel.empty()) r.values[kernel] = e.kernel;
      if (!e.kernel_file.empty()) r.values[kernel_file] = e.kernel_file;
      if (e.kernel_offset) r.values[kernel_offset] = i64(*e.kernel_offset);
      r.values[grid] = dims_text(e.grid);
      r.values[block] = dims_text(e.block);
      r.values[shared_mem] = int64_t{e.shared_mem};
      r.values[stream] = i64(e.stream);
      r.values[handle] = i64(e.handle);
      break;
    case CUDA_OP_ALLOC:
    case CUDA_OP_FREE:
      r.values[ptr] = i64(e.ptr);
      if (e.op == CUDA_OP_ALLOC) r.values[bytes] = i64(e.bytes);
      r.values[mem] = std::string(cuda_mem_name(e.mem));
      if (e.async) r.values[stream] = i64(e.stream);
      break;
    case CUDA_OP_MEMCPY:
      r.values[bytes] = i64(e.bytes);
      r.values[kind] = std::string(cuda_copy_kind_name(e.kind));
      r.values[async] = int64_t{e.async};
      if (e.async) r.values[stream] = i64(e.stream);
      break;
    case CUDA_OP_MEMSET:
      r.values[bytes] = i64(e.bytes);
      r.values[ptr] = i64(e.ptr);
      r.values[async] = int64_t{e.async};
      if (e.async) r.values[stream] = i64(e.stream);
      break;
    case CUDA_OP_SYNC:
      if (e.stream) r.values[stream] = i64(e.stream);
      break;
    case CUDA_OP_GRAPH_LAUNCH:
      r.values[stream] = i64(e.stream);
      r.values[handle] = i64(e.handle);
      break;
    case CUDA_OP_GPU_KERNEL:
    case CUDA_OP_GPU_MEMCPY:
      if (e.op == CUDA_OP_GPU_KERNEL && !e.kernel.empty()) r.values[kernel] = e.kernel;
      if (e.op == CUDA_OP_GPU_MEMCPY) {
        r.values[bytes] = i64(e.bytes);
        r.values[kind] = std::string(cuda_copy_kind_name(e.kind));
      }
      r.values[stream] = i64(e.stream);
      if (e.queue_ns) r.values[queue_ns] = i64(*e.queue_ns);
      r.values[correlation_id] = int64_t{e.correlation_id};
      break;
    default:
      break;
  }
  return r;
}

nlohmann::json cuda_summary_json(const CudaAccounting& acct) {
  nlohmann::json j;
  j["launches"] = acct.launches();
  j["unnamed_launches"] = acct.unnamed_launches();
  j["kernels"] = nlohmann::json::array();
  for (const CudaKernelStats& k : acct.kernels()) {
    j["kernels"].push_back({{"kernel", k.kernel},
                            {"count", k.count},
                            {"grid", dims_json(k.grid)},
                            {"block", dims_json(k.block)}});
  }
  j["ops"] = nlohmann::json::object();
  for (const auto& [op, count] : acct.ops()) j["ops"][op] = count;
  j["calls"] = nlohmann::json::object();
  for (const auto& [call, count] : acct.calls()) j["calls"][call] = count;
  j["memory"] = nlohmann::json::array();
  for (const CudaMemoryStats& m : acct.memory()) {
    j["memory"].push_back({{"pid", m.pid},
                           {"mem", std::string(cuda_mem_name(m.mem))},
                           {"live_bytes", m.live_bytes},
                           {"peak_bytes", m.peak_bytes},
                           {"allocs", m.allocs},
                           {"frees", m.frees},
                           {"failed_allocs", m.failed_allocs},
                           {"unmatched_frees", m.unmatched_frees},
                           {"reused_ptrs", m.reused_ptrs}});
  }
  j["leaks"] = nlohmann::json::array();
  for (const CudaLeak& l : acct.leaks()) {
    j["leaks"].push_back({{"pid", l.pid},
                          {"ptr", cuda_hex(l.ptr)},
                          {"bytes", l.bytes},
                          {"call", std::string(cuda_call_name(l.call))},
                          {"mem", std::string(cuda_mem_name(l.mem))},
                          {"reason", l.reason}});
  }
  j["memcpy"] = nlohmann::json::array();
  for (const CudaCopyStats& c : acct.memcpy_stats()) {
    j["memcpy"].push_back({{"kind", std::string(cuda_copy_kind_name(c.kind))},
                           {"count", c.count},
                           {"bytes", c.bytes},
                           {"total_ns", c.total_ns}});
  }
  CudaMemsetStats ms = acct.memset_stats();
  j["memset"] = {{"count", ms.count}, {"bytes", ms.bytes}};
  j["sync"] = nlohmann::json::array();
  for (const CudaSyncStats& s : acct.sync_stats()) {
    j["sync"].push_back({{"call", std::string(cuda_call_name(s.call))},
                         {"count", s.count},
                         {"total_ns", s.total_ns},
                         {"max_ns", s.max_ns}});
  }
  j["graph_launches"] = acct.graph_launches();
  const CudaGpuStats& g = acct.gpu();
  nlohmann::json gpu = {{"kernels", g.kernels},
                        {"kernel_ns", g.kernel_ns},
                        {"copies", g.copies},
                        {"copy_ns", g.copy_ns},
                        {"span_ns", g.span_ns()},
                        {"busy_share", g.busy_share()},
                        {"top_kernels", nlohmann::json::array()},
                        {"problems", nlohmann::json::array()}};
  for (const CudaKernelStats& k : acct.kernels_by_gpu_time())
    gpu["top_kernels"].push_back(
        {{"kernel", k.kernel},
         {"count", k.gpu_count},
         {"gpu_ns", k.gpu_ns},
         {"mean_ns", k.gpu_ns / k.gpu_count},
         {"mean_queue_ns", k.queued ? nlohmann::json(k.queue_ns / k.queued) : nlohmann::json()}});
  for (const auto& [pid, message] : acct.gpu_problems())
    gpu["problems"].push_back({{"pid", pid}, {"message", message}});
  j["gpu"] = gpu;
  return j;
}

void print_cuda_summary(std::FILE* out, const CudaAccounting& acct, size_t top_n) {
  std::fprintf(out, "\nCUDA: %" PRIu64 " launches, %" PRIu64 " graph launches\n", acct.launches(),
               acct.graph_launches());
  if (acct.unnamed_launches() > 0) {
    std::fprintf(out, "%" PRIu64 " launches without a kernel name\n", acct.unnamed_launches());
  }

  std::vector<CudaKernelStats> kernels = acct.kernels();
  if (!kernels.empty()) {
    std::fprintf(out, "\nTop kernels by launches\n");
    std::fprintf(out, "  %10s %7s  %s\n", "COUNT", "%", "KERNEL");
    size_t shown = 0;
    for (const CudaKernelStats& k : kernels) {
      if (shown++ == top_n) break;
      double pct = acct.launches()
                       ? 100.0 * static_cast<double>(k.count) / static_cast<double>(acct.launches())
                       : 0.0;
      std::fprintf(out, "  %10" PRIu64 " %6.1f%%  %s\n", k.count, pct, k.kernel.c_str());
    }
    if (kernels.size() > top_n) {
      std::fprintf(out, "  ... %zu more kernels\n", kernels.size() - top_n);
    }
  }

  std::vector<CudaKernelStats> by_gpu = acct.kernels_by_gpu_time();
  const CudaGpuStats& gpu = acct.gpu();
  if (!by_gpu.empty()) {
    double busy = 100.0 * gpu.busy_share();
    std::fprintf(out, "\nTop kernels by GPU time (CUPTI; GPU busy %.1f%% of %s)\n", busy,
                 cuda_duration(gpu.span_ns()).c_str());
    std::fprintf(out, "  %10s %12s %12s %12s  %s\n", "COUNT", "GPU TIME", "MEAN", "QUEUED",
                 "KERNEL");
    size_t shown = 0;
    for (const CudaKernelStats& k : by_gpu) {
      if (shown++ == top_n) break;
      std::string queued = k.queued ? cuda_duration(k.queue_ns / k.queued) : "-";
      std::fprintf(out, "  %10" PRIu64 " %12s %12s %12s  %s\n", k.gpu_count,
                   cuda_duration(k.gpu_ns).c_str(), cuda_duration(k.gpu_ns / k.gpu_count).c_str(),
                   queued.c_str(), k.kernel.c_str());
    }
  }
  for (const auto& [pid, message] : acct.gpu_problems())
    std::fprintf(out, "\nNo GPU times for pid %" PRIu32 ": %s\n", pid, message.c_str());

  std::vector<CudaMemoryStats> memory = acct.memory();
  if (!memory.empty()) {
    std::fprintf(out, "\nDevice memory\n");
    std::fprintf(out, "  %8s %-8s %12s %12s %8s %8s %8s %10s\n", "PID", "MEM", "LIVE", "PEAK",
                 "ALLOCS", "FREES", "FAILED", "UNMATCHED");
    for (const CudaMemoryStats& m : memory) {
      std::fprintf(
          out,
          "  %8" PRIu32 " %-8s %12s %12s %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %10" PRIu64 "\n",
          m.pid, std::string(cuda_mem_name(m.mem)).c_str(), cuda_bytes(m.live_bytes).c_str(),
          cuda_bytes(m.peak_bytes).c_str(), m.allocs, m.frees, m.failed_allocs, m.unmatched_frees);
    }
  }

  std::fprintf(out, "\nLeaks\n");
  if (acct.leaks().empty()) {
    std::fprintf(out, "  no leaks\n");
  } else {
    std::fprintf(out, "  %8s %-18s %12s %-8s %-22s %s\n", "PID", "PTR", "BYTES", "MEM", "CALL",
                 "REASON");
    for (const CudaLeak& l : acct.leaks()) {
      std::fprintf(out, "  %8" PRIu32 " %-18s %12s %-8s %-22s %s\n", l.pid, cuda_hex(l.ptr).c_str(),
                   cuda_bytes(l.bytes).c_str(), std::string(cuda_mem_name(l.mem)).c_str(),
                   std::string(cuda_call_name(l.call)).c_str(), l.reason.c_str());
    }
  }

  std::vector<CudaSyncStats> sync = acct.sync_stats();
  if (!sync.empty()) {
    std::fprintf(out, "\nTime in sync\n");
    std::fprintf(out, "  %-28s %8s %12s %10s %10s\n", "CALL", "COUNT", "TOTAL ms", "MAX ms",
                 "AVG ms");
    for (const CudaSyncStats& s : sync) {
      double avg = s.count ? static_cast<double>(s.total_ns) / static_cast<double>(s.count) : 0;
      std::fprintf(out, "  %-28s %8" PRIu64 " %12.3f %10.3f %10.3f\n",
                   std::string(cuda_call_name(s.call)).c_str(), s.count,
                   static_cast<double>(s.total_ns) / 1e6, static_cast<double>(s.max_ns) / 1e6,
                   avg / 1e6);
    }
  }

  std::vector<CudaCopyStats> copies = acct.memcpy_stats();
  CudaMemsetStats ms = acct.memset_stats();
  if (!copies.empty() || ms.count > 0) {
    std::fprintf(out, "\nCopies\n");
    std::fprintf(out, "  %-8s %8s %12s %12s\n", "KIND", "COUNT", "BYTES", "TOTAL ms");
    for (const CudaCopyStats& c : copies) {
      std::fprintf(out, "  %-8s %8" PRIu64 " %12s %12.3f\n",
                   std::string(cuda_copy_kind_name(c.kind)).c_str(), c.count,
                   cuda_bytes(c.bytes).c_str(), static_cast<double>(c.total_ns) / 1e6);
    }
    if (ms.count > 0) {
      std::fprintf(out, "  %-8s %8" PRIu64 " %12s\n", "memset", ms.count,
                   cuda_bytes(ms.bytes).c_str());
    }
  }
}

}  // namespace scope
