// libFuzzer target: decode_batch must reject any input it cannot read with an
// error, never crash or read out of bounds (ASan + UBSan), and what it accepts
// must encode and decode back to the same events. Inputs starting with 'P'
// are taken as a payload and wrapped in a valid envelope first, so the fuzzer
// also reaches the event parser behind zstd's checksum.
#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "event/batch.h"

namespace {

std::string envelope(std::string_view payload) {
  std::string out = {'S', 'C', 'P', 'B', static_cast<char>(scope::event::kBatchVersion), 1, 0, 0};
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(payload.size() >> (8 * i)));
  std::string frame(ZSTD_compressBound(payload.size()), '\0');
  size_t n = ZSTD_compress(frame.data(), frame.size(), payload.data(), payload.size(), 1);
  if (ZSTD_isError(n)) std::abort();
  return out + frame.substr(0, n);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string wrapped;
  if (!in.empty() && in[0] == 'P') {
    wrapped = envelope(in.substr(1));
    in = wrapped;
  }
  scope::event::BatchLimits limits;
  limits.max_payload_bytes = 1 << 20;  // keep each run small
  limits.max_events = 1 << 14;
  auto b = scope::event::decode_batch(in, limits);
  if (!b) return 0;
  auto again = scope::event::decode_batch(scope::event::encode_batch(*b), limits);
  if (!again || again->events != b->events || again->node != b->node ||
      again->first_seq != b->first_seq)
    std::abort();
  return 0;
}
