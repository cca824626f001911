// Writes a few valid batches into the fuzzer's seed corpus, so it starts from
// the real format instead of guessing zstd frames from nothing.
#include <zstd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "event/batch.h"
#include "event/row.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  using namespace scope;
  for (int n : {0, 1, 7, 50}) {
    event::Batch b;
    b.node = "seed";
    b.boot_id = "boot";
    b.first_seq = static_cast<uint64_t>(n) * 1000;
    for (int i = 0; i < n; ++i) {
      auto cuda = event::make_row(*event::schema_for("cuda"), 1000 + i, 1, 1, "c");
      event::set_column(cuda, "call", std::string("cudaMalloc"));
      event::set_column(cuda, "op", std::string(i % 2 ? "alloc" : "launch"));
      event::set_column(cuda, "kernel", std::string("k"));
      event::set_column(cuda, "grid", std::string("[1,2,3]"));
      b.events.push_back(std::move(cuda));
      auto open = event::make_row(*event::schema_for("open"), 0, 2, 0, "");
      event::set_column(open, "path", std::string("/x"));
      event::set_column(open, "ret", int64_t{-2});
      b.events.push_back(std::move(open));
    }
    std::string bytes = event::encode_batch(b);
    std::ofstream(std::string(argv[1]) + "/seed" + std::to_string(n), std::ios::binary) << bytes;
    // The same batch as a bare payload ('P' + the decompressed bytes).
    std::string payload(ZSTD_getFrameContentSize(bytes.data() + 12, bytes.size() - 12), '\0');
    ZSTD_decompress(payload.data(), payload.size(), bytes.data() + 12, bytes.size() - 12);
    std::ofstream(std::string(argv[1]) + "/payload" + std::to_string(n), std::ios::binary)
        << 'P' << payload;
  }
  return 0;
}
