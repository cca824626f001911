// Hand-made batches for the ingest limits' tests (tests/unit/batch_limits_test.cpp,
// tests/integration/fleet_test.cpp): headers that claim what they like, zstd frames of zeros
// made in steps (a GiB of them never in memory), zstd skippable frames as padding.
#pragma once

#include <gtest/gtest.h>
#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "event/batch.h"

namespace scope::testbombs {

inline constexpr size_t kMiB = 1u << 20;

inline void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

// A batch header claiming `claimed` bytes of payload.
inline std::string header(uint32_t claimed) {
  std::string h = {'S', 'C', 'P', 'B', static_cast<char>(event::kBatchVersion), 1, 0, 0};
  put_u32(h, claimed);
  return h;
}

// A zstd frame of `bytes` zeros, made in 1 MiB steps (a GiB is never in memory here); with
// `pledge` the frame states its size, else not.
inline std::string zeros_frame(size_t bytes, bool pledge, int window_log = 0) {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1);
  if (window_log) ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, window_log);
  if (pledge) ZSTD_CCtx_setPledgedSrcSize(c, bytes);
  std::string zeros(kMiB, '\0'), out, buf(ZSTD_CStreamOutSize(), '\0');
  for (size_t done = 0;;) {
    size_t n = std::min(kMiB, bytes - done);
    done += n;
    ZSTD_EndDirective end = done == bytes ? ZSTD_e_end : ZSTD_e_continue;
    ZSTD_inBuffer in{zeros.data(), n, 0};
    size_t left = 0;
    do {
      ZSTD_outBuffer o{buf.data(), buf.size(), 0};
      left = ZSTD_compressStream2(c, &o, &in, end);
      EXPECT_FALSE(ZSTD_isError(left)) << ZSTD_getErrorName(left);
      out.append(buf.data(), o.pos);
    } while (end == ZSTD_e_end ? left != 0 : in.pos < in.size);
    if (end == ZSTD_e_end) break;
  }
  ZSTD_freeCCtx(c);
  return out;
}

// A zstd skippable frame holding `n` zeros.
inline std::string skippable(size_t n) {
  std::string s;
  put_u32(s, 0x184D2A50);
  put_u32(s, static_cast<uint32_t>(n));
  return s + std::string(n, '\0');
}

}  // namespace scope::testbombs
