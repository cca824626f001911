#include "event/batch.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "event/row.h"
#include "families/cuda_output.h"
#include "families/exec_family.h"

namespace scope::event {
namespace {

Batch sample_batch(size_t n) {
  Batch b;
  b.node = "gpu-node-1";
  b.boot_id = "6b0f3c1e-0000-4000-8000-000000000001";
  b.first_seq = 1000;
  for (size_t i = 0; i < n; ++i) {
    CudaEvent e;
    e.ts_ns = 1'700'000'000'000'000'000ull + i * 1000;
    e.pid = 4242;
    e.tid = 4243;
    e.comm = "python3";
    e.call = CALL_cuLaunchKernel;
    e.op = CUDA_OP_LAUNCH;
    e.kernel = "vectorAdd(float const*, float const*, float*, int)";
    e.grid = {1024, 1, 1};
    e.block = {256, 1, 1};
    e.stream = 0x7f00;
    b.events.push_back(cuda_row(e));
  }
  families::ExecEvent exec;
  exec.ts_ns = 5;
  exec.pid = exec.tid = 1;
  exec.comm = "sh";
  exec.filename = "/bin/sh";
  exec.argv = {"sh", "-c", "echo 'a b'"};
  exec.ret = -2;
  b.events.push_back(families::exec_row(exec));
  return b;
}

TEST(Batch, RoundTripsEveryField) {
  Batch b = sample_batch(100);
  std::string bytes = encode_batch(b);
  auto d = decode_batch(bytes);
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ(d->node, b.node);
  EXPECT_EQ(d->boot_id, b.boot_id);
  EXPECT_EQ(d->first_seq, b.first_seq);
  ASSERT_EQ(d->events.size(), b.events.size());
  for (size_t i = 0; i < b.events.size(); ++i) EXPECT_EQ(d->events[i], b.events[i]) << i;
  // Launches of one kernel compress well: far below a byte per field.
  EXPECT_LT(encode_batch(sample_batch(10000)).size(), 10000u * 8);
}

TEST(Batch, CudaRowCarriesTheVocabulary) {
  auto row = sample_batch(1).events[0];
  const auto& s = *schema_for("cuda");
  EXPECT_EQ(std::get<std::string>(row.values[s.column_index("op")]), "launch");
  EXPECT_EQ(std::get<std::string>(row.values[s.column_index("call")]), "cuLaunchKernel");
  EXPECT_EQ(std::get<std::string>(row.values[s.column_index("grid")]), "[1024,1,1]");
  EXPECT_TRUE(std::holds_alternative<std::monostate>(row.values[s.column_index("ptr")]));
}

TEST(Batch, ExecRowsHoldExitsAndArrays) {
  families::ExitEvent e;
  e.pid = 7;
  e.raw_status = 3 << 8;
  e.lifetime_ns = 99;
  auto exit = families::exit_row(e);
  const auto& s = *schema_for("exec");
  EXPECT_EQ(exit.family, s.id);
  EXPECT_EQ(std::get<std::string>(column_value(exit, "call")), "exit");
  EXPECT_EQ(std::get<int64_t>(column_value(exit, "exit_code")), 3);
  EXPECT_EQ(row_json(exit)["event"], "exit");
  auto exec = sample_batch(0).events[0];
  EXPECT_EQ(std::get<std::string>(column_value(exec, "argv")), R"(["sh","-c","echo 'a b'"])");
  EXPECT_EQ(row_json(exec)["argv"], nlohmann::json({"sh", "-c", "echo 'a b'"}));
}

TEST(Batch, AnOlderAgentsShorterRowsGetNullColumns) {
  Batch b = sample_batch(1);
  b.events[0].values.resize(b.events[0].values.size() - 2);  // columns appended since
  auto d = decode_batch(encode_batch(b));
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ(d->events[0].values.size(), schema_for("cuda")->columns.size());
  b.events[0].values.resize(schema_for("cuda")->columns.size() + 1);  // a newer agent's
  EXPECT_FALSE(decode_batch(encode_batch(b)));
}

TEST(Batch, RejectsUnknownVersionBadMagicAndTruncation) {
  std::string bytes = encode_batch(sample_batch(10));
  std::string v = bytes;
  v[4] = 9;
  auto r = decode_batch(v);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("unknown batch version 9"), std::string::npos);
  std::string m = bytes;
  m[0] = 'X';
  EXPECT_FALSE(decode_batch(m));
  for (size_t n : {size_t{0}, size_t{3}, size_t{11}, bytes.size() / 2, bytes.size() - 1})
    EXPECT_FALSE(decode_batch(std::string_view(bytes).substr(0, n))) << n;
  BatchLimits small;
  small.max_encoded_bytes = 16;
  EXPECT_FALSE(decode_batch(bytes, small));
}

TEST(Batch, SurvivesRandomCorruption) {
  std::string bytes = encode_batch(sample_batch(50));
  std::mt19937 rng(42);
  size_t rejected = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string c = bytes;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) c[rng() % c.size()] ^= static_cast<char>(1 + rng() % 255);
    if (!decode_batch(c)) ++rejected;
  }
  // zstd's content checksum catches a corrupt frame: nearly every flip is rejected.
  EXPECT_GT(rejected, 2900u);
}

}  // namespace
}  // namespace scope::event
