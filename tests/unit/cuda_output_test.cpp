#include "families/cuda_output.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace scope {
namespace {

constexpr uint64_t kStart = 1'700'000'000'000'000'000ULL;

CudaEvent Base(uint16_t call, uint8_t op) {
  CudaEvent e;
  e.ts_ns = kStart + 12'345'678'000ULL;
  e.pid = 1234;
  e.tid = 1240;
  e.comm = "python";
  e.call = call;
  e.op = op;
  return e;
}

CudaEvent LaunchEvent() {
  CudaEvent e = Base(CALL_cudaLaunchKernel, CUDA_OP_LAUNCH);
  e.kernel = "vector_add(float*, float*, int)";
  e.handle = 0x55aa10;
  e.grid = {2, 2, 1};
  e.block = {128, 1, 1};
  e.shared_mem = 512;
  e.stream = 0;
  return e;
}

std::string Capture(const CudaAccounting& acct) {
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  print_cuda_summary(f, acct);
  std::fclose(f);
  std::string out(buf, len);
  std::free(buf);
  return out;
}

TEST(CudaEventNames, FromTheXMacro) {
  EXPECT_EQ(cuda_call_name(CALL_cudaLaunchKernel), "cudaLaunchKernel");
  EXPECT_EQ(cuda_call_name(CALL_cuMemAlloc_v2), "cuMemAlloc_v2");
  EXPECT_EQ(cuda_call_name(CALL_cuKernelGetFunction), "cuKernelGetFunction");
  EXPECT_EQ(cuda_call_name(CALL_NONE), "");
  EXPECT_EQ(cuda_call_name(CALL_COUNT), "");
  EXPECT_EQ(cuda_call_layer(CALL_cudaMalloc), CUDA_LAYER_RUNTIME);
  EXPECT_EQ(cuda_call_layer(CALL_cuLaunchKernel), CUDA_LAYER_DRIVER);
  EXPECT_EQ(cuda_op_name(CUDA_OP_GRAPH_LAUNCH), "graph_launch");
  EXPECT_EQ(cuda_op_name(CUDA_OP_MEMSET), "memset");
  EXPECT_EQ(cuda_copy_kind_name(CUDA_COPY_HTOD), "htod");
  EXPECT_EQ(cuda_copy_kind_name(CUDA_COPY_DEFAULT), "default");
  EXPECT_EQ(cuda_mem_name(CUDA_MEM_MANAGED), "managed");
  EXPECT_EQ(cuda_mem_name(CUDA_MEM_HOST), "host");
}

TEST(CudaFormat, Helpers) {
  EXPECT_EQ(cuda_hex(0), "0x0");
  EXPECT_EQ(cuda_hex(0x7f00ab), "0x7f00ab");
  EXPECT_EQ(cuda_duration(850), "850ns");
  EXPECT_EQ(cuda_duration(52'100), "52.1us");
  EXPECT_EQ(cuda_duration(2'100'000), "2.10ms");
  EXPECT_EQ(cuda_duration(1'234'000'000), "1.234s");
  EXPECT_EQ(cuda_bytes(512), "512 B");
  EXPECT_EQ(cuda_bytes(4096), "4.00 KiB");
  EXPECT_EQ(cuda_bytes(1048576), "1.00 MiB");
  EXPECT_EQ(cuda_bytes(300ULL << 20), "300.0 MiB");
  EXPECT_EQ(cuda_bytes(5ULL << 30), "5.00 GiB");
}

// The JSON of an event: the JSON of its row.
nlohmann::json json_of(const CudaEvent& e) { return event::row_json(cuda_row(e)); }

TEST(CudaEventJson, Launch) {
  nlohmann::json j = json_of(LaunchEvent());
  EXPECT_EQ(j["event"], "cuda");
  EXPECT_EQ(j["ts_ns"], kStart + 12'345'678'000ULL);
  EXPECT_EQ(j["pid"], 1234);
  EXPECT_EQ(j["tid"], 1240);
  EXPECT_EQ(j["comm"], "python");
  EXPECT_EQ(j["call"], "cudaLaunchKernel");
  EXPECT_EQ(j["op"], "launch");
  EXPECT_FALSE(j.contains("ret"));
  EXPECT_EQ(j["kernel"], "vector_add(float*, float*, int)");
  EXPECT_EQ(j["grid"], nlohmann::json::array({2, 2, 1}));
  EXPECT_EQ(j["block"], nlohmann::json::array({128, 1, 1}));
  EXPECT_EQ(j["shared_mem"], 512);
  EXPECT_EQ(j["stream"], "0x0");
  EXPECT_EQ(j["handle"], "0x55aa10");
  EXPECT_EQ(j.size(), 13u);
  EXPECT_FALSE(j.contains("bytes"));
}

TEST(CudaEventJson, LaunchWithoutName) {
  CudaEvent e = LaunchEvent();
  e.kernel.clear();
  e.ret = 0;
  nlohmann::json j = json_of(e);
  EXPECT_FALSE(j.contains("kernel"));
  EXPECT_EQ(j["ret"], 0);
}

TEST(CudaEventJson, Alloc) {
  CudaEvent e = Base(CALL_cudaMalloc, CUDA_OP_ALLOC);
  e.bytes = 1048576;
  e.ptr = 0x7f1200000000;
  e.duration_ns = 52'100;
  e.ret = 0;
  nlohmann::json j = json_of(e);
  EXPECT_EQ(j["op"], "alloc");
  EXPECT_EQ(j["bytes"], 1048576);
  EXPECT_EQ(j["ptr"], "0x7f1200000000");
  EXPECT_TRUE(j["ptr"].is_string());
  EXPECT_EQ(j["duration_ns"], 52'100);
  EXPECT_EQ(j["mem"], "device");
  EXPECT_EQ(j["ret"], 0);
  EXPECT_EQ(j.size(), 12u);

  e.ret = 2;
  e.mem = CUDA_MEM_HOST;
  e.call = CALL_cudaMallocHost;
  j = json_of(e);
  EXPECT_EQ(j["ret"], 2);
  EXPECT_EQ(j["mem"], "host");
  EXPECT_EQ(j["call"], "cudaMallocHost");
}

TEST(CudaEventJson, Free) {
  CudaEvent e = Base(CALL_cuMemFree_v2, CUDA_OP_FREE);
  e.ptr = 0xabc;
  nlohmann::json j = json_of(e);
  EXPECT_EQ(j["ptr"], "0xabc");
  EXPECT_EQ(j["mem"], "device");
  EXPECT_FALSE(j.contains("duration_ns"));
  EXPECT_FALSE(j.contains("ret"));
  EXPECT_FALSE(j.contains("bytes"));
  e.duration_ns = 9;
  EXPECT_EQ(json_of(e)["duration_ns"], 9);
}

TEST(CudaEventJson, Memcpy) {
  CudaEvent e = Base(CALL_cudaMemcpyAsync, CUDA_OP_MEMCPY);
  e.bytes = 4096;
  e.kind = CUDA_COPY_HTOD;
  e.async = true;
  nlohmann::json j = json_of(e);
  EXPECT_EQ(j["bytes"], 4096);
  EXPECT_EQ(j["kind"], "htod");
  EXPECT_EQ(j["async"], true);
  EXPECT_FALSE(j.contains("duration_ns"));
  EXPECT_FALSE(j.contains("ptr"));
  e.duration_ns = 3200;
  EXPECT_EQ(json_of(e)["duration_ns"], 3200);
}

TEST(CudaEventJson, MemsetSyncGraph) {
  CudaEvent m = Base(CALL_cudaMemset, CUDA_OP_MEMSET);
  m.bytes = 64;
  m.ptr = 0x10;
  nlohmann::json j = json_of(m);
  EXPECT_EQ(j["bytes"], 64);
  EXPECT_EQ(j["ptr"], "0x10");
  EXPECT_EQ(j["async"], false);

  CudaEvent s = Base(CALL_cudaDeviceSynchronize, CUDA_OP_SYNC);
  s.duration_ns = 2'100'000;
  j = json_of(s);
  EXPECT_EQ(j["op"], "sync");
  EXPECT_EQ(j["duration_ns"], 2'100'000);
  EXPECT_EQ(j.size(), 8u);

  CudaEvent g = Base(CALL_cudaGraphLaunch, CUDA_OP_GRAPH_LAUNCH);
  g.handle = 0xfeed;
  g.stream = 0x77;
  j = json_of(g);
  EXPECT_EQ(j["op"], "graph_launch");
  EXPECT_EQ(j["handle"], "0xfeed");
  EXPECT_EQ(j["stream"], "0x77");
}

TEST(CudaLine, Launch) {
  std::string line = format_cuda_line(LaunchEvent(), kStart);
  EXPECT_EQ(line.substr(0, 12), "  12.345678 ");
  EXPECT_NE(line.find("python[1234/1240]"), std::string::npos);
  EXPECT_NE(line.find("cudaLaunchKernel "), std::string::npos);
  EXPECT_NE(line.find("vector_add(float*, float*, int) grid=(2,2,1) block=(128,1,1) smem=512 "
                      "stream=0x0"),
            std::string::npos);
  // Columns: call starts at a fixed offset, op 23 characters after it.
  size_t call_at = line.find("cudaLaunchKernel");
  EXPECT_EQ(call_at, 12u + 24u + 1u);
  EXPECT_EQ(line.substr(call_at + 23, 6), "launch");
  EXPECT_EQ(line.find("ret="), std::string::npos);
}

TEST(CudaLine, UnknownKernelShowsHandle) {
  CudaEvent e = LaunchEvent();
  e.kernel.clear();
  std::string line = format_cuda_line(e, kStart);
  EXPECT_NE(line.find("?0x55aa10 grid=(2,2,1)"), std::string::npos);
}

TEST(CudaLine, AllocMemcpySync) {
  CudaEvent a = Base(CALL_cudaMalloc, CUDA_OP_ALLOC);
  a.bytes = 1048576;
  a.ptr = 0x7f12;
  a.duration_ns = 52'100;
  a.ret = 0;
  EXPECT_NE(format_cuda_line(a, kStart).find("bytes=1048576 ptr=0x7f12 52.1us ret=0"),
            std::string::npos);

  CudaEvent c = Base(CALL_cudaMemcpyAsync, CUDA_OP_MEMCPY);
  c.bytes = 4096;
  c.kind = CUDA_COPY_HTOD;
  c.duration_ns = 3200;
  c.async = true;
  std::string line = format_cuda_line(c, kStart);
  EXPECT_NE(line.find("memcpy       htod 4096B 3.2us async"), std::string::npos) << line;

  CudaEvent s = Base(CALL_cudaDeviceSynchronize, CUDA_OP_SYNC);
  s.duration_ns = 2'100'000;
  line = format_cuda_line(s, kStart);
  EXPECT_EQ(line.substr(line.size() - 6), "2.10ms");
}

TEST(CudaSummary, JsonAndTables) {
  CudaAccounting acct;
  CudaEvent l = LaunchEvent();
  acct.add(l);
  acct.add(l);
  l.kernel.clear();
  acct.add(l);
  CudaEvent a = Base(CALL_cudaMalloc, CUDA_OP_ALLOC);
  a.bytes = 1048576;
  a.ptr = 0x7f12;
  a.ret = 0;
  acct.add(a);
  CudaEvent s = Base(CALL_cudaDeviceSynchronize, CUDA_OP_SYNC);
  s.duration_ns = 2'000'000;
  acct.add(s);
  CudaEvent c = Base(CALL_cudaMemcpy, CUDA_OP_MEMCPY);
  c.bytes = 4096;
  c.kind = CUDA_COPY_DTOH;
  c.duration_ns = 1000;
  acct.add(c);
  acct.process_exit(1234);

  nlohmann::json j = cuda_summary_json(acct);
  EXPECT_EQ(j["launches"], 3);
  EXPECT_EQ(j["unnamed_launches"], 1);
  ASSERT_EQ(j["kernels"].size(), 1u);
  EXPECT_EQ(j["kernels"][0]["kernel"], "vector_add(float*, float*, int)");
  EXPECT_EQ(j["kernels"][0]["count"], 2);
  EXPECT_EQ(j["kernels"][0]["grid"], nlohmann::json::array({2, 2, 1}));
  EXPECT_EQ(j["ops"]["launch"], 3);
  EXPECT_EQ(j["calls"]["cudaMalloc"], 1);
  ASSERT_EQ(j["memory"].size(), 1u);
  EXPECT_EQ(j["memory"][0]["pid"], 1234);
  EXPECT_EQ(j["memory"][0]["mem"], "device");
  EXPECT_EQ(j["memory"][0]["live_bytes"], 1048576);
  EXPECT_EQ(j["memory"][0]["peak_bytes"], 1048576);
  EXPECT_EQ(j["memory"][0]["unmatched_frees"], 0);
  ASSERT_EQ(j["leaks"].size(), 1u);
  EXPECT_EQ(j["leaks"][0], (nlohmann::json{{"pid", 1234},
                                           {"ptr", "0x7f12"},
                                           {"bytes", 1048576},
                                           {"call", "cudaMalloc"},
                                           {"mem", "device"},
                                           {"reason", "exit"}}));
  EXPECT_EQ(j["memcpy"][0]["kind"], "dtoh");
  EXPECT_EQ(j["memcpy"][0]["total_ns"], 1000);
  EXPECT_EQ(j["memset"]["count"], 0);
  EXPECT_EQ(j["sync"][0]["call"], "cudaDeviceSynchronize");
  EXPECT_EQ(j["sync"][0]["max_ns"], 2'000'000);
  EXPECT_EQ(j["graph_launches"], 0);

  std::string text = Capture(acct);
  EXPECT_NE(text.find("Top kernels by launches"), std::string::npos);
  EXPECT_NE(text.find("66.7%  vector_add(float*, float*, int)"), std::string::npos) << text;
  EXPECT_NE(text.find("1 launches without a kernel name"), std::string::npos);
  EXPECT_NE(text.find("Device memory"), std::string::npos);
  EXPECT_NE(text.find("1.00 MiB"), std::string::npos);
  EXPECT_NE(text.find("0x7f12"), std::string::npos);
  EXPECT_NE(text.find("cudaMalloc"), std::string::npos);
  EXPECT_NE(text.find("exit"), std::string::npos);
  EXPECT_EQ(text.find("no leaks"), std::string::npos);
  EXPECT_NE(text.find("Time in sync"), std::string::npos);
  EXPECT_NE(text.find("Copies"), std::string::npos);
}

TEST(CudaSummary, NoLeaks) {
  CudaAccounting acct;
  std::string text = Capture(acct);
  EXPECT_NE(text.find("no leaks"), std::string::npos);
  EXPECT_EQ(text.find("without a kernel name"), std::string::npos);
  nlohmann::json j = cuda_summary_json(acct);
  EXPECT_TRUE(j["kernels"].is_array());
  EXPECT_TRUE(j["leaks"].empty());
}

}  // namespace
}  // namespace scope
