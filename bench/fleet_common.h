// What the fleet benchmarks share (bench/fleet_bench.cpp, bench/fleet_load.cpp): flags, clocks,
// the synthetic rows they send and store (CUDA launches and memory calls as the agent's decoder
// makes them, file opens and syscall counts), and a PostgresStore on a schema of its own.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "event/cuda_event.h"
#include "event/row.h"
#include "families/cuda_output.h"
#include "store/postgres/postgres_store.h"

namespace scope::bench {

using Clock = std::chrono::steady_clock;

// Inline, not static: a bench that leaves one of these unused is not an error under -Werror.

inline double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline const char* arg(int argc, char** argv, const char* name, const char* def) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return def;
}

inline event::EventRow launch_row(uint64_t i, int64_t ts) {
  CudaEvent e;
  e.ts_ns = static_cast<uint64_t>(ts);
  e.pid = 1000 + static_cast<uint32_t>(i % 50);
  e.tid = e.pid;
  e.comm = "python3";
  e.call = CALL_cuLaunchKernel;
  e.op = CUDA_OP_LAUNCH;
  e.kernel = "ampere_sgemm_128x64_nn_kernel_" + std::to_string(i % 40);
  e.grid = {static_cast<uint32_t>(64 + i % 7), 1, 1};
  e.block = {256, 1, 1};
  e.shared_mem = 4096;
  e.stream = 0x7f0000002000;
  e.handle = 0x55550000 + (i % 40);
  return cuda_row(e);
}

inline event::EventRow mem_row(uint64_t i, int64_t ts) {
  CudaEvent e;
  e.ts_ns = static_cast<uint64_t>(ts);
  e.pid = 1000 + static_cast<uint32_t>(i % 50);
  e.tid = e.pid;
  e.comm = "python3";
  bool alloc = (i / 50) % 2 == 0;
  e.call = alloc ? CALL_cudaMalloc : CALL_cudaFree;
  e.op = alloc ? CUDA_OP_ALLOC : CUDA_OP_FREE;
  e.ptr = 0x7f0000000000 + (i % 4096) * 0x100000;
  e.bytes = alloc ? (1u << 20) * (1 + i % 16) : 0;
  e.ret = 0;
  e.duration_ns = 20000;
  return cuda_row(e);
}

// A row of the family `j["event"]` names, its columns from j's other keys.
inline event::EventRow json_row(const nlohmann::json& j) {
  auto row = event::make_row(*event::schema_for(j["event"].get<std::string>()),
                             j["ts_ns"].get<int64_t>(), j["pid"].get<uint32_t>(),
                             j["tid"].get<uint32_t>(), j["comm"].get<std::string>());
  for (const auto& [key, v] : j.items()) {
    if (key == "event" || key == "ts_ns" || key == "pid" || key == "tid" || key == "comm") continue;
    if (v.is_string())
      event::set_column(row, key, v.get<std::string>());
    else
      event::set_column(row, key, v.get<int64_t>());
  }
  return row;
}

inline const char* const kSyscalls[] = {"read",  "write", "futex",      "openat",
                                        "ioctl", "mmap",  "epoll_wait", "close"};
inline const char* const kComms[] = {"python3", "ollama", "nginx", "postgres",
                                     "sshd",    "bash",   "node",  "java"};

// Mixed events: 60% cuda launches, 10% alloc/free, 15% opens, 15% syscall rows.
inline event::EventRow mixed_row(uint64_t i, int64_t ts) {
  uint64_t k = i % 20;
  if (k < 12) return launch_row(i, ts);
  if (k < 14) return mem_row(i, ts);
  if (k < 17)
    return json_row({{"event", "open"},
                     {"ts_ns", ts},
                     {"pid", 2000 + i % 300},
                     {"tid", 2000 + i % 300},
                     {"comm", kComms[i % 8]},
                     {"call", "openat"},
                     {"path", "/usr/lib/python3/dist-packages/m" + std::to_string(i % 500) + ".py"},
                     {"flags", 524288},
                     {"ret", 3}});
  return json_row({{"event", "syscalls"},
                   {"ts_ns", ts},
                   {"pid", 2000 + i % 300},
                   {"tid", 2000 + i % 300},
                   {"comm", kComms[i % 8]},
                   {"name", kSyscalls[i % 8]},
                   {"count", 100 + i % 1000},
                   {"errors", i % 3},
                   {"total_ns", 50000 + i % 100000}});
}

inline std::unique_ptr<store::PostgresStore> open_store(const std::string& url,
                                                        const std::string& schema, bool fresh) {
  if (fresh) {
    PGconn* c = PQconnectdb(url.c_str());
    PQclear(PQexec(c, ("DROP SCHEMA IF EXISTS " + schema + " CASCADE").c_str()));
    PQfinish(c);
  }
  store::PostgresOptions o;
  o.url = url;
  o.schema = schema;
  auto s = store::PostgresStore::open(o);
  if (!s) {
    std::fprintf(stderr, "open_store: %s\n", s.error().c_str());
    std::exit(1);
  }
  return std::move(s.value());
}

}  // namespace scope::bench
