// What `scope server` refuses from an agent it cannot trust: batches over 16 MiB decompressed,
// over 100,000 events or 200:1, decompression bombs (refused with bounded memory, whatever size
// they claim), bad node names and boot ids; and that what scope's own agents make always passes
// (repetitive batches are padded, the batcher closes a batch at its byte budget).
#include <gtest/gtest.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "agent/batcher.h"
#include "agent/sequence.h"
#include "event/batch.h"
#include "event/cuda_event.h"
#include "event/row.h"
#include "families/cuda_output.h"
#include "tests/unit/batch_bombs.h"

namespace scope::event {
namespace {

using testbombs::header;
using testbombs::kMiB;
using testbombs::skippable;
using testbombs::zeros_frame;

// KiB of /proc/self/status's `field`.
long status_kib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

// How far the resident set grew above where it was while `fn` ran, in KiB (the kernel's
// high-water mark, reset first); -1 where it cannot be reset.
long peak_growth_kib(const std::function<void()>& fn) {
  {
    std::ofstream reset("/proc/self/clear_refs");
    if (!(reset << "5" << std::flush)) return -1;
  }
  long before = status_kib("VmRSS");
  fn();
  long peak = status_kib("VmHWM");
  return before < 0 || peak < 0 ? -1 : peak - before;
}

struct Decoded {
  bool ok = false;
  BatchRefusal why = BatchRefusal::kUndecodable;
  std::string error;
  long peak_kib = -1;
  double seconds = 0;
};

Decoded decode(const std::string& bytes, const BatchLimits& limits = {}) {
  Decoded d;
  auto start = std::chrono::steady_clock::now();
  d.peak_kib = peak_growth_kib([&] {
    auto r = decode_batch(bytes, limits, &d.why);
    d.ok = r.ok();
    if (!r) d.error = r.error();
  });
  d.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("  %s: %zu bytes -> %s (%s), peak +%ld KiB, %.3f s\n",
              ::testing::UnitTest::GetInstance()->current_test_info()->name(), bytes.size(),
              d.ok ? "accepted" : refusal_cause(d.why), d.error.c_str(), d.peak_kib, d.seconds);
  return d;
}

#define EXPECT_PEAK_BELOW(d, mib)                                                   \
  do {                                                                              \
    if ((d).peak_kib < 0)                                                           \
      std::printf("  (peak memory not measured: /proc/self/clear_refs refused)\n"); \
    else                                                                            \
      EXPECT_LT((d).peak_kib, long{mib} * 1024) << (d).error;                       \
  } while (0)

Batch launches(size_t n, std::string node = "gpu-node-1") {
  Batch b;
  b.node = std::move(node);
  b.boot_id = "6b0f3c1e-0000-4000-8000-000000000001";
  b.first_seq = 1;
  CudaEvent e;
  e.comm = "python3";
  e.call = CALL_cuLaunchKernel;
  e.op = CUDA_OP_LAUNCH;
  e.kernel = "vectorAdd(float const*, float const*, float*, int)";
  e.grid = {1024, 1, 1};
  e.block = {256, 1, 1};
  auto row = cuda_row(e);
  for (size_t i = 0; i < n; ++i) {
    row.ts_ns = 1'700'000'000'000'000'000 + static_cast<int64_t>(i);
    b.events.push_back(row);
  }
  return b;
}

TEST(BatchLimits, ABombThatSaysWhatItIsIsRefusedBeforeDecompressing) {
  std::string frame = zeros_frame(size_t{1} << 30, true);  // 1 GiB of zeros, its size stated
  ASSERT_LT(frame.size(), 64u << 10);
  auto d = decode(header(1u << 30) + frame);
  EXPECT_FALSE(d.ok);
  EXPECT_EQ(d.why, BatchRefusal::kTooLarge);
  EXPECT_PEAK_BELOW(d, 1);
}

TEST(BatchLimits, ATinyBombClaiming16MiBIsRefusedForItsRatio) {
  std::string bytes = header(16 * kMiB) + zeros_frame(size_t{1} << 30, false);
  auto d = decode(bytes);
  EXPECT_FALSE(d.ok);
  EXPECT_EQ(d.why, BatchRefusal::kRatio) << d.error;
  EXPECT_PEAK_BELOW(d, 1);
}

// A frame of 1 GiB of zeros that does not state its size, padded so that its header's claim
// passes the ratio check: it is decompressed, in steps, and refused at 16 MiB.
TEST(BatchLimits, ABombPaddedPastTheRatioIsCutAt16MiBWithBoundedMemory) {
  std::string bytes =
      header(16 * kMiB) + zeros_frame(size_t{1} << 30, false) + skippable(100 << 10);
  ASSERT_GT(kMaxBatchRatio * bytes.size(), 16 * kMiB);
  auto d = decode(bytes);
  EXPECT_FALSE(d.ok);
  EXPECT_EQ(d.why, BatchRefusal::kTooLarge) << d.error;
  // 16 MiB of output, zstd's window and a growing buffer's copy: never the GiB.
  EXPECT_PEAK_BELOW(d, 48);
  EXPECT_LT(d.seconds, 5.0);
}

// The same bomb claiming exactly 200:1 of its size: refused for its ratio once it expands
// past it, while decompressing.
TEST(BatchLimits, ABombIsRefusedForItsRatioWhileDecompressing) {
  std::string frame = zeros_frame(size_t{1} << 30, false);
  size_t total = 60'000;
  std::string bytes = frame + skippable(total - 12 - frame.size() - 8);
  bytes = header(static_cast<uint32_t>(kMaxBatchRatio * total)) + bytes;
  ASSERT_EQ(bytes.size(), total);
  auto d = decode(bytes);
  EXPECT_FALSE(d.ok);
  EXPECT_EQ(d.why, BatchRefusal::kRatio) << d.error;
  EXPECT_NE(d.error.find("expands past"), std::string::npos) << d.error;
  EXPECT_PEAK_BELOW(d, 40);
}

TEST(BatchLimits, AFrameLongerThanItsHeaderSaysIsUndecodable) {
  std::string bytes = header(kMiB) + zeros_frame(size_t{1} << 30, false) + skippable(100 << 10);
  auto d = decode(bytes);
  EXPECT_FALSE(d.ok);
  EXPECT_EQ(d.why, BatchRefusal::kUndecodable) << d.error;
  EXPECT_PEAK_BELOW(d, 8);
  // A stated size other than the header's: refused before decompressing.
  d = decode(header(100) + zeros_frame(200, true));
  EXPECT_FALSE(d.ok);
  EXPECT_EQ(d.why, BatchRefusal::kUndecodable);
}

TEST(BatchLimits, AFrameAskingForAWindowOver16MiBIsRefused) {
  std::string bytes = header(4 * kMiB) + zeros_frame(4 * kMiB, false, 27);
  bytes += skippable(30 << 10);
  auto d = decode(bytes);
  EXPECT_FALSE(d.ok);
  EXPECT_EQ(d.why, BatchRefusal::kTooLarge) << d.error;
  EXPECT_PEAK_BELOW(d, 16);
}

TEST(BatchLimits, AnEntryOverTheEncodedLimitIsNotRead) {
  std::string bytes = header(100) + std::string(BatchLimits{}.max_encoded_bytes, 'x');
  auto d = decode(bytes);
  EXPECT_FALSE(d.ok);
  EXPECT_EQ(d.why, BatchRefusal::kTooLarge);
}

TEST(BatchLimits, AtMost100000Events) {
  auto ok = decode(encode_batch(launches(100'000)));
  EXPECT_TRUE(ok.ok) << ok.error;
  auto d = decode(encode_batch(launches(100'001)));
  EXPECT_FALSE(d.ok);
  EXPECT_EQ(d.why, BatchRefusal::kTooManyEvents) << d.error;
  EXPECT_NE(d.error.find("100001 events"), std::string::npos) << d.error;
}

TEST(BatchLimits, NodeNamesAndBootIds) {
  for (const char* good : {"gpu-node-1", "a", "host.example.com", "node_1", "N0DE",
                           "0123456789012345678901234567890123456789012345678901234567890123"}) {
    EXPECT_TRUE(valid_identity(good)) << good;
    auto r = decode_batch(encode_batch(launches(3, good)));
    EXPECT_TRUE(r) << good << ": " << r.error();
  }
  for (const char* bad :
       {"", "a b", "node;DROP TABLE x", "../etc/passwd",
        "n\xc3\xb6"
        "de",
        "tab\there", "nul\n", "01234567890123456789012345678901234567890123456789012345678901234",
        "a/b", "x:y"}) {
    EXPECT_FALSE(valid_identity(bad)) << bad;
    BatchRefusal why{};
    auto r = decode_batch(encode_batch(launches(3, bad)), {}, &why);
    EXPECT_FALSE(r) << bad;
    EXPECT_EQ(why, BatchRefusal::kBadNode) << bad << ": " << r.error();
  }
  Batch b = launches(1);
  for (const char* boot : {"", "boot id", "x\x01"}) {
    b.boot_id = boot;
    BatchRefusal why{};
    EXPECT_FALSE(decode_batch(encode_batch(b), {}, &why));
    EXPECT_EQ(why, BatchRefusal::kBadNode) << boot;
  }
  b.boot_id = "unknown";  // common/host.cpp's when /proc has none
  EXPECT_TRUE(decode_batch(encode_batch(b)));
}

// Launches of one kernel in a loop compress far past 200:1; the agent pads them, and a
// decoder from before the padding (one zstd call over the rest of the entry) reads them too.
TEST(BatchLimits, RepetitiveBatchesArePaddedAndAccepted) {
  for (size_t n : {size_t{1}, size_t{8192}, size_t{100'000}}) {
    std::string bytes = encode_batch(launches(n));
    uint32_t claimed = 0;
    for (int i = 0; i < 4; ++i) claimed |= uint32_t(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
    EXPECT_LE(claimed, kMaxBatchRatio * bytes.size()) << n;
    EXPECT_LE(bytes.size(), std::max<size_t>(claimed / kMaxBatchRatio + 64, 1024))
        << "padded past need: " << n;
    auto d = decode_batch(bytes);
    ASSERT_TRUE(d) << n << ": " << d.error();
    EXPECT_EQ(d->events.size(), n);
    std::string_view frame = std::string_view(bytes).substr(12);
    EXPECT_EQ(ZSTD_getFrameContentSize(frame.data(), frame.size()), claimed);
    std::string old(claimed, '\0');
    EXPECT_EQ(ZSTD_decompress(old.data(), old.size(), frame.data(), frame.size()), claimed);
  }
  // Trailing bytes that are not one skippable frame are not a batch.
  std::string bytes = encode_batch(launches(10));
  EXPECT_FALSE(decode_batch(bytes + "x"));
  EXPECT_FALSE(decode_batch(bytes + skippable(4) + skippable(4)));
}

TEST(AgentBatcher, ClosesABatchAtItsByteBudgetSoTheServerTakesIt) {
  auto seq = agent::SequenceAllocator::in_memory(1);
  std::vector<std::string> encoded;
  agent::BatcherOptions o;
  o.node = "n1";
  o.boot_id = "boot";
  o.max_events = 100'000;
  o.max_delay = std::chrono::hours(1);
  agent::Batcher batcher(o, seq, [&](Batch&& b) { encoded.push_back(encode_batch(b)); });
  // 40 MiB of events with 4 KiB kernel names (long C++ templates), incompressible enough.
  CudaEvent e;
  e.comm = "python3";
  e.call = CALL_cuLaunchKernel;
  e.op = CUDA_OP_LAUNCH;
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 10'000; ++i) {
    e.kernel.clear();
    for (int k = 0; k < 4096; ++k) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      e.kernel.push_back(static_cast<char>('a' + x % 26));
    }
    batcher.add(cuda_row(e));
  }
  batcher.flush();
  ASSERT_GE(encoded.size(), 5u);
  size_t events = 0;
  for (const auto& bytes : encoded) {
    BatchRefusal why{};
    auto d = decode_batch(bytes, {}, &why);
    ASSERT_TRUE(d) << refusal_cause(why) << ": " << d.error();
    events += d->events.size();
  }
  EXPECT_EQ(events, 10'000u);
}

}  // namespace
}  // namespace scope::event
